package gossip

import (
	"bytes"
	"errors"
	"log"

	"github.com/rs/zerolog"
)

// logBridge turns memberlist's log lines ("[LEVEL] memberlist: message") into
// zerolog debug events with a memberlist_level field. Lines that report a
// rejection memberlist made itself (decryption, label, size limits, framing;
// see memberlistReason) go to reject instead: counted by reason and logged at
// warn, rate-limited.
type logBridge struct {
	log    zerolog.Logger
	reject func(Reason, error) // nil: everything at debug
	// probeFailed, if set, is told of every failed probe memberlist logs
	// (suspect.go); the line is logged too.
	probeFailed func(member string)
}

func newLogBridge(l zerolog.Logger, reject func(Reason, error)) *log.Logger {
	return newLogBridgeProbes(l, reject, nil)
}

func newLogBridgeProbes(l zerolog.Logger, reject func(Reason, error), probeFailed func(string)) *log.Logger {
	return log.New(logBridge{log: l.With().Str("source", "memberlist").Logger(), reject: reject, probeFailed: probeFailed}, "", 0)
}

func (b logBridge) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := ""
	if len(line) > 0 && line[0] == '[' {
		if i := bytes.IndexByte(line, ']'); i > 0 {
			level = string(line[1:i])
			line = bytes.TrimSpace(line[i+1:])
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	if b.reject != nil && level != "DEBUG" {
		if why, ok := memberlistReason(string(line)); ok {
			b.reject(why, errors.New(string(line)))
			return len(p), nil
		}
	}
	if b.probeFailed != nil {
		if name, ok := parseProbeFailure(string(line)); ok {
			b.probeFailed(name)
		}
	}
	b.log.Debug().Str("memberlist_level", level).Msg(string(line))
	return len(p), nil
}
