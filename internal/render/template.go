package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/grapevine-sd/grapevine/api"
)

// Limits on what one render may do, so a runaway template fails with a clear
// error instead of eating the host's memory or hammering the agent.
const (
	// MaxOutput bounds a rendered file (64 MiB).
	MaxOutput = 64 << 20
	// MaxDependencies bounds the distinct lookups of one template.
	MaxDependencies = 1024
)

// parseTemplate parses the text of the template file name. Every function
// must be one of funcs; a literal service filter must be valid. The error
// names the file and the line.
func parseTemplate(name string, text []byte) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(funcs(nil)).Parse(string(text))
	if err != nil {
		return nil, templateErr(err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if err := checkCalls(tt.Tree, tt.Tree.Root); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
		}
	}
	return t, nil
}

// templateErr wraps an error of text/template in ErrTemplate, without its
// own "template: " prefix: "render: template: web.tmpl:3: ...".
func templateErr(err error) error {
	return fmt.Errorf("%w: %s", ErrTemplate, strings.TrimPrefix(err.Error(), "template: "))
}

// checkCalls walks a parse tree and validates every service call whose
// arguments are literal strings, so `service "web" "tags=v2"` fails at start,
// not at the first render.
func checkCalls(tree *parse.Tree, n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkCalls(tree, c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkCalls(tree, n.Pipe)
	case *parse.IfNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.RangeNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.WithNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.TemplateNode:
		return checkCalls(tree, n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkCalls(tree, c); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkCalls(tree, n.Node)
	case *parse.CommandNode:
		if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "service" { // a command has at least one argument
			if err := checkServiceCall(n.Args[1:]); err != nil {
				loc, _ := tree.ErrorContext(n)
				return fmt.Errorf("%s: %w", loc, err)
			}
		}
		for _, a := range n.Args {
			if err := checkCalls(tree, a); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkBranch(tree *parse.Tree, b *parse.BranchNode) error {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := checkCalls(tree, n); err != nil {
			return err
		}
	}
	return nil
}

// checkServiceCall validates the literal arguments of a service call.
func checkServiceCall(args []parse.Node) error {
	if len(args) == 0 {
		return nil // the name comes through the pipeline
	}
	name := "?"
	if s, ok := args[0].(*parse.StringNode); ok {
		if s.Text == "" {
			return errors.New("service: empty service name")
		}
		name = s.Text
	}
	var opts api.QueryOptions
	for _, a := range args[1:] {
		if s, ok := a.(*parse.StringNode); ok {
			if err := addFilter(&opts, s.Text); err != nil {
				return fmt.Errorf("service %q: %w", name, err)
			}
		}
	}
	return nil
}

// parseFilters turns the filter arguments of a service call into query
// options (Health "" is the agent's default: passing and warning).
func parseFilters(filters []string) (api.QueryOptions, error) {
	var opts api.QueryOptions
	for _, f := range filters {
		if err := addFilter(&opts, f); err != nil {
			return api.QueryOptions{}, err
		}
	}
	return opts, nil
}

// addFilter applies one "key=value" filter: tag=T, zone=Z, health=H,
// meta=K:V.
func addFilter(opts *api.QueryOptions, f string) error {
	key, val, ok := strings.Cut(f, "=")
	if !ok {
		return fmt.Errorf("filter %q: want tag=T, zone=Z, health=H or meta=K:V", f)
	}
	switch key {
	case "tag":
		if val == "" {
			return fmt.Errorf("filter %q: empty tag", f)
		}
		opts.Tags = append(opts.Tags, val)
	case "zone":
		opts.Zone = val
	case "health":
		h, err := api.ParseHealthFilter(val)
		if err != nil || h == "" {
			return fmt.Errorf("filter %q: health is one of passing, warning, critical, maintenance, any", f)
		}
		opts.Health = h
	case "meta":
		k, v, ok := strings.Cut(val, ":")
		if !ok || k == "" {
			return fmt.Errorf("filter %q: want meta=KEY:VALUE", f)
		}
		if opts.Meta == nil {
			opts.Meta = map[string]string{}
		}
		opts.Meta[k] = v
	default:
		return fmt.Errorf("filter %q: unknown key %q (tag, zone, health or meta)", f, key)
	}
	return nil
}

// execState is what the functions of one render see: the engine's data, and
// what the render used of it.
type execState struct {
	data    map[dep]any
	used    map[dep]bool
	missing bool // a used dependency has no data yet
}

// lookup records d as used and returns its data, if any. On the nil state
// of parse time it fails: parsing only needs the functions' names.
func (s *execState) lookup(d dep) (any, bool, error) {
	if s == nil {
		return nil, false, errNotRendering
	}
	if !s.used[d] && len(s.used) >= MaxDependencies {
		return nil, false, fmt.Errorf("more than %d distinct lookups", MaxDependencies)
	}
	s.used[d] = true
	v, ok := s.data[d]
	if !ok {
		s.missing = true
	}
	return v, ok, nil
}

// errNotRendering: a function was called outside a render.
var errNotRendering = errors.New("render: no render in progress")

// funcs is the function set of templates (docs/render.md). With s nil it is
// the parse-time set: the same names, reading nothing.
func funcs(s *execState) template.FuncMap {
	return template.FuncMap{
		"service": func(name string, filters ...string) ([]api.Instance, error) {
			if name == "" {
				return nil, errors.New("service: empty service name")
			}
			opts, err := parseFilters(filters)
			if err != nil {
				return nil, fmt.Errorf("service %q: %w", name, err)
			}
			v, ok, err := s.lookup(dep{kind: depService, name: name})
			if !ok {
				return nil, err
			}
			var out []api.Instance
			for _, i := range v.([]api.Instance) {
				if opts.Match(i) {
					out = append(out, i)
				}
			}
			return out, nil
		},
		"services": func() ([]api.ServiceSummary, error) {
			v, ok, err := s.lookup(dep{kind: depServices})
			if !ok {
				return nil, err
			}
			return v.([]api.ServiceSummary), nil
		},
		"members": func() ([]api.Member, error) {
			v, ok, err := s.lookup(dep{kind: depMembers})
			if !ok {
				return nil, err
			}
			return v.([]api.Member), nil
		},
		"env":      os.Getenv,
		"join":     func(sep string, list []string) string { return strings.Join(list, sep) },
		"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
		"hostPort": func(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) },
		"toJSON": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"byTag": func(insts []api.Instance) map[string][]api.Instance {
			m := map[string][]api.Instance{}
			for _, i := range insts {
				for _, t := range i.Tags {
					m[t] = append(m[t], i)
				}
			}
			return m
		},
	}
}

// result is one render of a template.
type result struct {
	out  []byte
	used map[dep]bool
	// complete: every dependency used had data. An incomplete render is
	// never written, and its error (a function fed no data) is dropped.
	complete bool
	err      error
}

// execute renders t against data.
func execute(t *template.Template, data map[dep]any) result {
	s := &execState{data: data, used: map[dep]bool{}}
	run, err := t.Clone()
	if err != nil {
		return result{used: s.used, complete: true, err: templateErr(err)}
	}
	var buf limitedBuffer
	err = run.Funcs(funcs(s)).Execute(&buf, nil)
	res := result{out: buf.Bytes(), used: s.used, complete: !s.missing}
	if err != nil && res.complete {
		res.err = templateErr(err)
	}
	return res
}

// limitedBuffer fails writes beyond MaxOutput.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOutput {
		return 0, fmt.Errorf("output larger than %d bytes", MaxOutput)
	}
	return b.Buffer.Write(p)
}
