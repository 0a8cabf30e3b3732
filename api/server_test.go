package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeRegistration(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantID  string
		wantErr error
	}{
		{"minimal", `{"name":"web","port":80}`, "web", nil},
		{"full", `{"id":"web-1","name":"web","address":"10.0.0.1","port":8080,"tags":["a"],"meta":{"k":"v"},"zone":"eu","checks":[{"type":"ttl","ttl":"10s","vendor_field":1}]}`, "web-1", nil},
		{"trailing whitespace", "{\"name\":\"web\"}\n\t ", "web", nil},
		{"unknown field", `{"name":"web","colour":"red"}`, "", ErrInvalid},
		{"no name", `{"port":80}`, "", ErrInvalid},
		{"bad port", `{"name":"web","port":70000}`, "", ErrInvalid},
		{"negative port", `{"name":"web","port":-1}`, "", ErrInvalid},
		{"check not object", `{"name":"web","checks":[1]}`, "", ErrInvalid},
		{"empty", ``, "", ErrInvalid},
		{"two objects", `{"name":"a"}{"name":"b"}`, "", ErrInvalid},
		{"garbage after", `{"name":"a"} x`, "", ErrInvalid},
		{"array", `[]`, "", ErrInvalid},
		{"wrong type", `{"name":5}`, "", ErrInvalid},
		{"too large", `{"name":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, "", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRegistration(strings.NewReader(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", got.ID, tt.wantID)
			}
		})
	}
}

func TestDecodeRegistrationMaxBytesReader(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPut, "/", strings.NewReader(`{"name":"web"}`))
	body := http.MaxBytesReader(rec, req.Body, 4)
	_, err := DecodeRegistration(body)
	if !errors.Is(err, ErrTooLarge) || StatusCode(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("err = %v (status %d), want ErrTooLarge/413", err, StatusCode(err))
	}
}

func TestDecodeTTLUpdate(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"status":"passing"}`, true},
		{`{"status":"critical","output":"disk full"}`, true},
		{`{"status":"maintenance"}`, false},
		{`{"status":"passing","extra":1}`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		_, err := DecodeTTLUpdate(strings.NewReader(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.body, err, tt.ok)
		}
		if err != nil && StatusCode(err) != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tt.body, StatusCode(err))
		}
	}
}

func TestAddCheck(t *testing.T) {
	var r Registration
	if err := r.AddCheck(CheckDefinition{Type: "ttl", TTL: "10s"}); err != nil {
		t.Fatal(err)
	}
	if got, want := string(r.Checks[0]), `{"type":"ttl","ttl":"10s"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if err := r.AddCheck([]int{1}); err == nil {
		t.Error("AddCheck of an array: no error")
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusNotFound, "instance not found")
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\"error\":\"instance not found\"}\n" {
		t.Errorf("got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
