package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// consulFilter is a parsed ?filter= expression: the part of Consul's filter
// language (hashicorp/go-bexpr) that selects on existing fields:
//
//	Selector == "value"    Selector != "value"
//	"value" in Selector    "value" not in Selector
//	Selector contains "value"    Selector not contains "value"
//	Selector is empty      Selector is not empty
//	not E    E and E    E or E    ( E )
//
// A selector is a dotted field path (Service.Tags, Node.Meta.env,
// ServiceMeta["version"]); it must name a field of the endpoint's answer,
// checked before anything is served. matches (regular expressions) is
// refused, like every other syntax outside this list, with a 400.
type consulFilter struct {
	root filterNode
}

// Limits of a filter expression.
const (
	maxFilterLen   = 2048
	maxFilterDepth = 32
	maxFilterNodes = 256
)

type filterNode interface {
	eval(v any) bool
	selectors(fn func([]string) error) error
}

type filterAnd struct{ l, r filterNode }
type filterOr struct{ l, r filterNode }
type filterNot struct{ e filterNode }

// filterMatch is one comparison: sel op value.
type filterMatch struct {
	sel   []string
	op    string // "==", "!=", "in", "not in", "empty", "not empty" ("contains" is "in")
	value string
}

func (n filterAnd) eval(v any) bool { return n.l.eval(v) && n.r.eval(v) }
func (n filterOr) eval(v any) bool  { return n.l.eval(v) || n.r.eval(v) }
func (n filterNot) eval(v any) bool { return !n.e.eval(v) }
func (n filterAnd) selectors(fn func([]string) error) error {
	return errors.Join(n.l.selectors(fn), n.r.selectors(fn))
}
func (n filterOr) selectors(fn func([]string) error) error {
	return errors.Join(n.l.selectors(fn), n.r.selectors(fn))
}
func (n filterNot) selectors(fn func([]string) error) error    { return n.e.selectors(fn) }
func (m *filterMatch) selectors(fn func([]string) error) error { return fn(m.sel) }

func (m *filterMatch) eval(v any) bool {
	for _, s := range m.sel {
		obj, ok := v.(map[string]any)
		if !ok {
			v = nil
			break
		}
		v = obj[s]
	}
	switch m.op {
	case "==":
		return scalarString(v) == m.value && isScalar(v)
	case "!=":
		return !(scalarString(v) == m.value && isScalar(v))
	case "empty", "not empty":
		empty := v == nil
		switch x := v.(type) {
		case string:
			empty = x == ""
		case []any:
			empty = len(x) == 0
		case map[string]any:
			empty = len(x) == 0
		}
		return empty == (m.op == "empty")
	}
	in := false
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if isScalar(e) && scalarString(e) == m.value {
				in = true
				break
			}
		}
	case map[string]any:
		_, in = x[m.value]
	case string:
		in = strings.Contains(x, m.value)
	}
	return in == (m.op == "in")
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, float64, json.Number:
		return true
	}
	return false
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}

// parseConsulFilter parses a filter expression (bounded in length, depth and
// size).
func parseConsulFilter(s string) (*consulFilter, error) {
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("filter longer than %d bytes", maxFilterLen)
	}
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return &consulFilter{root: root}, nil
}

// check validates every selector against the type of the elements the
// filter will see (a struct; map fields take any key after them).
func (f *consulFilter) check(elem reflect.Type) error {
	return f.root.selectors(func(sel []string) error {
		t := elem
		for i, name := range sel {
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			switch t.Kind() {
			case reflect.Struct:
				fld, ok := t.FieldByName(name)
				if !ok || !fld.IsExported() {
					return fmt.Errorf("selector %q is not valid: no field %q", strings.Join(sel, "."), name)
				}
				t = fld.Type
			case reflect.Map:
				if i != len(sel)-1 {
					t = t.Elem()
					continue
				}
				return nil
			default:
				return fmt.Errorf("selector %q is not valid: %q has no fields", strings.Join(sel, "."), strings.Join(sel[:i], "."))
			}
		}
		return nil
	})
}

// match reports whether the filter selects v (an answer element).
func (f *consulFilter) match(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return false
	}
	return f.root.eval(generic)
}

type filterToken struct {
	kind string // "word", "string", "op", "(", ")"
	text string
}

func lexFilter(s string) ([]filterToken, error) {
	var toks []filterToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, filterToken{kind: string(c), text: string(c)})
			i++
		case c == '=' || c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, filterToken{kind: "op", text: s[i : i+2]})
				i += 2
				continue
			}
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		case c == '"' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != c; j++ {
				if c == '"' && s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errors.New("unterminated string")
			}
			toks = append(toks, filterToken{kind: "string", text: b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n()=!\"`", rune(s[j])) {
				if s[j] == '[' { // Meta["key"] selector part
					k := strings.IndexByte(s[j:], ']')
					if k < 0 {
						return nil, errors.New("unterminated [")
					}
					j += k
				}
				j++
			}
			toks = append(toks, filterToken{kind: "word", text: s[i:j]})
			i = j
		}
		if len(toks) > maxFilterNodes {
			return nil, fmt.Errorf("filter has more than %d tokens", maxFilterNodes)
		}
	}
	return toks, nil
}

type filterParser struct {
	toks []filterToken
	pos  int
}

func (p *filterParser) peek() (filterToken, bool) {
	if p.pos >= len(p.toks) {
		return filterToken{}, false
	}
	return p.toks[p.pos], true
}

// keyword reports (and consumes) the word kw, case-sensitively as bexpr.
func (p *filterParser) keyword(kw string) bool {
	if t, ok := p.peek(); ok && t.kind == "word" && t.text == kw {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) or(depth int) (filterNode, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = filterOr{l, r}
	}
	return l, nil
}

func (p *filterParser) and(depth int) (filterNode, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = filterAnd{l, r}
	}
	return l, nil
}

func (p *filterParser) unary(depth int) (filterNode, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("filter nested deeper than %d", maxFilterDepth)
	}
	if p.keyword("not") {
		e, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return filterNot{e}, nil
	}
	t, ok := p.peek()
	if !ok {
		return nil, errors.New("unexpected end of filter")
	}
	if t.kind == "(" {
		p.pos++
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if t, ok := p.peek(); !ok || t.kind != ")" {
			return nil, errors.New("missing )")
		}
		p.pos++
		return e, nil
	}
	return p.match()
}

func (p *filterParser) match() (filterNode, error) {
	t, _ := p.peek()
	p.pos++
	if t.kind == "string" { // "value" [not] in Selector
		op := "in"
		if p.keyword("not") {
			op = "not in"
		}
		if !p.keyword("in") {
			return nil, fmt.Errorf("expected in after %q", t.text)
		}
		sel, err := p.selector()
		if err != nil {
			return nil, err
		}
		return &filterMatch{sel: sel, op: op, value: t.text}, nil
	}
	if t.kind != "word" {
		return nil, fmt.Errorf("unexpected %q", t.text)
	}
	p.pos--
	sel, err := p.selector()
	if err != nil {
		return nil, err
	}
	op, ok := p.peek()
	if !ok {
		return nil, errors.New("unexpected end of filter: want an operator")
	}
	switch {
	case op.kind == "op":
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &filterMatch{sel: sel, op: op.text, value: v}, nil
	case p.keyword("is"):
		m := &filterMatch{sel: sel, op: "empty"}
		if p.keyword("not") {
			m.op = "not empty"
		}
		if !p.keyword("empty") {
			return nil, errors.New("expected empty after is")
		}
		return m, nil
	case p.keyword("contains"):
		v, err := p.value()
		return &filterMatch{sel: sel, op: "in", value: v}, err
	case p.keyword("not"):
		if !p.keyword("contains") {
			return nil, errors.New("expected contains after not")
		}
		v, err := p.value()
		return &filterMatch{sel: sel, op: "not in", value: v}, err
	case op.kind == "word" && (op.text == "matches"):
		return nil, errors.New("matches (regular expressions) is not supported (docs/consul.md)")
	}
	return nil, fmt.Errorf("unexpected %q: want ==, !=, contains, in or is", op.text)
}

func (p *filterParser) value() (string, error) {
	t, ok := p.peek()
	if !ok {
		return "", errors.New("unexpected end of filter: want a value")
	}
	if t.kind != "string" && t.kind != "word" {
		return "", fmt.Errorf("unexpected %q: want a value", t.text)
	}
	p.pos++
	return t.text, nil
}

// selector parses Field.Field or Field["key"].
func (p *filterParser) selector() ([]string, error) {
	t, ok := p.peek()
	if !ok || t.kind != "word" {
		return nil, errors.New("expected a selector")
	}
	p.pos++
	var sel []string
	for part := range strings.SplitSeq(t.text, ".") {
		name, key, bracket := strings.Cut(part, "[")
		if name == "" {
			return nil, fmt.Errorf("selector %q is not valid", t.text)
		}
		sel = append(sel, name)
		if bracket {
			key = strings.TrimSuffix(key, "]")
			key = strings.Trim(key, "\"`")
			if key == "" {
				return nil, fmt.Errorf("selector %q is not valid", t.text)
			}
			sel = append(sel, key)
		}
	}
	return sel, nil
}
