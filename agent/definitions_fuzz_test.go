package agent

import "testing"

// FuzzParseDefinitions feeds arbitrary service definition files to the parser:
// it never panics, and whatever it accepts has names and ports in range.
func FuzzParseDefinitions(f *testing.F) {
	f.Add([]byte(`{"name": "web", "port": 80}`))
	f.Add([]byte("- name: web\n  id: web-1\n  port: 8080\n  tags: [v2]\n  checks:\n    - {type: http, target: \"http://127.0.0.1:8080/\", interval: 5s}\n"))
	f.Add([]byte(`[{"name": "a", "port": 1}, {"name": "b", "port": 2, "meta": {"k": "v"}}]`))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("name: web\nport: 99999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		regs, err := parseDefinitions(b)
		if err != nil {
			return
		}
		for _, r := range regs {
			if r.Name == "" || r.ID == "" || r.Port < 0 || r.Port > 65535 {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}
