package agent

import "testing"

// parseCheck refuses anything but a JSON object with a clear error (a persisted
// checks.json is read through it too, so it cannot rely on the HTTP decoder).
func TestParseCheckRejectsNonObjects(t *testing.T) {
	for _, in := range []string{"null", "[]", "3", `"x"`, "", "{"} {
		if _, err := parseCheck([]byte(in), "web:1"); err == nil {
			t.Errorf("parseCheck(%q) accepted", in)
		}
	}
	c, err := parseCheck([]byte(`{"type":"ttl","ttl":"30s"}`), "web:1")
	if err != nil || c.ID != "web:1" {
		t.Errorf("default id: %+v, %v", c, err)
	}
}
