package agent

import (
	"net/http"
	"net/url"
	"testing"
)

// FuzzGuardQuery checks the guard's allocation-free query checks against
// net/url on arbitrary raw queries: checkQuery refuses exactly what
// url.ParseQuery refuses, and QueryToken finds what decoding the whole
// query finds.
func FuzzGuardQuery(f *testing.F) {
	for _, q := range []string{
		"", "passing", "tag=v1&tag=v2", "index=5&wait=10s", "%zz&index=5", "a=%4", "a%=b", "a=b;c=d",
		"token=abc", "tok%65n=abc", "token=a&token=b", "x=1&token=", "a+b=c+d", "%41=%42", "=&&=",
	} {
		f.Add(q)
	}
	tokenOf := QueryToken("token")
	f.Fuzz(func(t *testing.T, q string) {
		_, want := url.ParseQuery(q)
		if got := checkQuery(q); (got == nil) != (want == nil) {
			t.Fatalf("checkQuery(%q) = %v, url.ParseQuery: %v", q, got, want)
		}
		r := &http.Request{URL: &url.URL{RawQuery: q}}
		tok, ok, err := tokenOf(r)
		v, present := r.URL.Query()["token"]
		wtok, wok, werr := onlyToken(v, present, "token parameter")
		if tok != wtok || ok != wok || (err == nil) != (werr == nil) {
			t.Fatalf("QueryToken(%q) = %q %v %v, decoding all: %q %v %v", q, tok, ok, err, wtok, wok, werr)
		}
	})
}
