package sim

import (
	"slices"
	"testing"
)

func TestMemberlistHook(t *testing.T) {
	var got []MemberEvent
	h := memberlistHook{"n1", func(e MemberEvent) { got = append(got, e) }}
	for _, msg := range []string{
		"Suspect n7 has failed, no acks received",
		"Marking n7 as failed, suspect timeout reached (2 peer confirmations)",
		"Refuting a suspect message (from: n3)",
		"Stream connection from=10.0.0.2:7946",
	} {
		h.Run(nil, 0, msg)
	}
	want := []MemberEvent{{EventSuspect, "n1", "n7"}, {EventFailed, "n1", "n7"}, {EventRefute, "n1", "n3"}}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}
