package gossip

import (
	"bytes"
	"log"

	"github.com/rs/zerolog"
)

// logBridge turns memberlist's log lines ("[LEVEL] memberlist: message") into
// zerolog debug events with a memberlist_level field.
type logBridge struct{ log zerolog.Logger }

func newLogBridge(l zerolog.Logger) *log.Logger {
	return log.New(logBridge{log: l.With().Str("source", "memberlist").Logger()}, "", 0)
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
	b.log.Debug().Str("memberlist_level", level).Msg(string(line))
	return len(p), nil
}
