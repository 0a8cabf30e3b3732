package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:      "watch",
			Usage:     "print the changes of a service's instances as they happen, until interrupted",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{jsonFlag()},
		}, watchAction)
	})
}

// Reconnect backoff of watch after the stream broke.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

func watchAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 1, "one service NAME"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &watcher{out: c.App.Writer, json: c.Bool("json"), view: map[instanceKey]api.Instance{}}
	var index uint64
	connected := false
	backoff := watchMinBackoff
	for {
		var streamErr error
		for ev, err := range client.Stream(ctx, args[0], index) {
			if err != nil {
				streamErr = err
				break
			}
			connected, backoff = true, watchMinBackoff
			if err := w.apply(ev); err != nil {
				return err
			}
			index = ev.Index
		}
		if ctx.Err() != nil {
			return nil // interrupted: a normal end
		}
		var se *api.StatusError
		if !connected || errors.As(streamErr, &se) {
			return failure(streamErr)
		}
		fmt.Fprintf(c.App.ErrWriter, "grapevine: watch: %v; reconnecting in %v\n", streamErr, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}

type instanceKey struct{ node, id string }

// watcher keeps the current view of the service and prints what each event
// changes in it: "+" added, "~" changed, "-" removed.
type watcher struct {
	out   io.Writer
	json  bool
	view  map[instanceKey]api.Instance
	reset bool // a reset was seen
}

func (w *watcher) apply(ev api.StreamEvent) error {
	if w.json {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w.out, "%s\n", b)
		return err
	}
	var lines []string
	switch ev.Type {
	case api.EventReset:
		next := make(map[instanceKey]api.Instance, len(ev.Instances))
		for _, i := range ev.Instances {
			next[instanceKey{i.Node, i.ID}] = i
		}
		var changed []api.Instance
		for k, i := range next {
			if old, ok := w.view[k]; !ok || instanceChanged(old, i) {
				changed = append(changed, i)
			}
		}
		var gone []api.Instance
		for k, i := range w.view {
			if _, ok := next[k]; !ok {
				gone = append(gone, i)
			}
		}
		sortInstances(changed)
		sortInstances(gone)
		for _, i := range gone {
			lines = append(lines, deleteLine(ev.Index, i))
		}
		for _, i := range changed {
			lines = append(lines, w.upsertLine(ev.Index, i))
		}
		w.view = next
		if !w.reset && len(next) == 0 {
			lines = append(lines, fmt.Sprintf("[%d] no instances", ev.Index))
		}
		w.reset = true
	case api.EventUpsert:
		i := *ev.Instance
		k := instanceKey{i.Node, i.ID}
		if old, ok := w.view[k]; !ok || instanceChanged(old, i) {
			lines = append(lines, w.upsertLine(ev.Index, i))
		}
		w.view[k] = i
	case api.EventDelete:
		i := *ev.Instance
		delete(w.view, instanceKey{i.Node, i.ID})
		lines = append(lines, deleteLine(ev.Index, i))
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w.out, l); err != nil {
			return err
		}
	}
	return nil
}

// instanceChanged: a new version, or a change of what the replica adds to it.
func instanceChanged(a, b api.Instance) bool {
	return a.Version != b.Version || a.Health != b.Health || a.Stale != b.Stale
}

func sortInstances(s []api.Instance) {
	slices.SortFunc(s, func(a, b api.Instance) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
	})
}

func (w *watcher) upsertLine(index uint64, i api.Instance) string {
	sign := "+"
	if _, ok := w.view[instanceKey{i.Node, i.ID}]; ok {
		sign = "~"
	}
	parts := []string{fmt.Sprintf("[%d] %s %s %s %s %s", index, sign, orDash(i.ID), orDash(i.Node), hostPort(i.Address, i.Port), orDash(string(i.Health)))}
	if i.Zone != "" {
		parts = append(parts, "zone="+i.Zone)
	}
	if len(i.Tags) > 0 {
		parts = append(parts, "tags="+strings.Join(i.Tags, ","))
	}
	if i.Stale {
		parts = append(parts, "stale="+staleCell(i))
	}
	return strings.Join(parts, " ")
}

func deleteLine(index uint64, i api.Instance) string {
	return fmt.Sprintf("[%d] - %s %s", index, orDash(i.ID), orDash(i.Node))
}
