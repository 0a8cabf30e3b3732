package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, completionCommand)
}

// completionShells are the shells `grapevine completion` writes scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "Load it in the current shell with\n" +
			"  source <(grapevine completion bash)         # bash (or zsh)\n" +
			"  grapevine completion fish | source          # fish\n" +
			"or install it once, e.g. grapevine completion bash > /etc/bash_completion.d/grapevine.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 || !slices.Contains(completionShells, c.Args().First()) {
				return usageErr("completion wants one of %s", strings.Join(completionShells, ", "))
			}
			tree := completionTree(c.App)
			switch c.Args().First() {
			case "bash":
				writeBash(c.App.Writer, tree)
			case "zsh":
				writeZsh(c.App.Writer, tree)
			case "fish":
				writeFish(c.App.Writer, tree)
			}
			return nil
		},
	}
}

// compNode is one command of the completion tree: its path of subcommand
// names from the app, its subcommands, flags and positional choices.
type compNode struct {
	path    []string
	usage   string
	subs    []*compNode
	flags   []compFlag
	choices []string // fixed positional arguments (completion's shells)
}

type compFlag struct {
	name, usage string
}

// completionTree builds the tree from the app's commands, so the scripts follow
// every command and flag there is.
func completionTree(app *cli.App) *compNode {
	root := &compNode{usage: app.Usage, flags: []compFlag{{"help", "show help"}, {"version", "print the version"}}}
	for _, c := range app.Commands {
		if c.Name == "help" || c.Hidden {
			continue
		}
		root.subs = append(root.subs, commandNode(nil, c))
	}
	return root
}

func commandNode(parent []string, c *cli.Command) *compNode {
	n := &compNode{path: append(slices.Clone(parent), c.Name), usage: c.Usage}
	seen := map[string]bool{"help": true, "h": true} // urfave's help flag, added below once
	for _, f := range c.Flags {
		usage := ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			usage = d.GetUsage()
		}
		for _, name := range f.Names() {
			if !seen[name] {
				seen[name] = true
				n.flags = append(n.flags, compFlag{name, usage})
			}
		}
	}
	n.flags = append(n.flags, compFlag{"help", "show help"})
	for _, s := range c.Subcommands {
		if s.Name == "help" || s.Hidden {
			continue
		}
		n.subs = append(n.subs, commandNode(n.path, s))
	}
	if c.Name == "completion" && len(parent) == 0 {
		n.choices = completionShells
	}
	return n
}

// walk visits every node, parents first.
func (n *compNode) walk(f func(*compNode)) {
	f(n)
	for _, s := range n.subs {
		s.walk(f)
	}
}

func (n *compNode) key() string {
	if len(n.path) == 0 {
		return ""
	}
	return " " + strings.Join(n.path, " ")
}

func (n *compNode) words() []string {
	var out []string
	for _, s := range n.subs {
		out = append(out, s.path[len(s.path)-1])
	}
	return append(out, n.choices...)
}

func (n *compNode) flagWords() []string {
	var out []string
	for _, f := range n.flags {
		out = append(out, "-"+f.name)
	}
	return out
}

// sq quotes s for a POSIX shell (and zsh and fish) in single quotes.
func sq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// oneLine keeps the first line of a usage text, for descriptions.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// writeDescend writes the shell case that appends the word in $word to the
// subcommand path in $path when the result is a command (bash and zsh agree
// on this syntax); other words (flags, their values, arguments) are skipped.
func writeDescend(w io.Writer, root *compNode, path, word string) {
	fmt.Fprintf(w, "\t\tcase \"$%s $%s\" in\n", path, word)
	root.walk(func(n *compNode) {
		if n != root {
			fmt.Fprintf(w, "\t\t%s) %s=\"$%s $%s\" ;;\n", sq(n.key()), path, path, word)
		}
	})
	fmt.Fprint(w, "\t\tesac\n")
}

// writeBash writes a bash completion function: subcommands, then each
// command's flags (-name, as the docs write them); otherwise files.
func writeBash(w io.Writer, root *compNode) {
	fmt.Fprint(w, `# bash completion for grapevine: source <(grapevine completion bash)
_grapevine() {
	local cur="${COMP_WORDS[COMP_CWORD]}" path="" word i
	for ((i = 1; i < COMP_CWORD; i++)); do
		word="${COMP_WORDS[i]}"
`)
	writeDescend(w, root, "path", "word")
	fmt.Fprint(w, `	done
	local words="" flags=""
	case "$path" in
`)
	root.walk(func(n *compNode) {
		fmt.Fprintf(w, "\t\t%s) words=%s flags=%s ;;\n", sq(n.key()), sq(strings.Join(n.words(), " ")), sq(strings.Join(n.flagWords(), " ")))
	})
	fmt.Fprint(w, `	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	elif [[ -n "$words" ]]; then
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
	fi
}
complete -o default -F _grapevine grapevine
`)
}

// writeZsh writes a zsh completion function, usable from fpath (#compdef) or
// sourced.
func writeZsh(w io.Writer, root *compNode) {
	fmt.Fprint(w, `#compdef grapevine
# zsh completion for grapevine: source <(grapevine completion zsh), or save as _grapevine in $fpath
_grapevine() {
	local p="" w i
	for ((i = 2; i < CURRENT; i++)); do
		w="${words[i]}"
`)
	writeDescend(w, root, "p", "w")
	fmt.Fprint(w, `	done
	local -a cmds flags
	case "$p" in
`)
	desc := func(name, usage string) string {
		return sq(strings.ReplaceAll(name, ":", `\:`) + ":" + oneLine(usage))
	}
	root.walk(func(n *compNode) {
		var cmds, flags []string
		for _, s := range n.subs {
			cmds = append(cmds, desc(s.path[len(s.path)-1], s.usage))
		}
		for _, c := range n.choices {
			cmds = append(cmds, desc(c, c+" script"))
		}
		for _, f := range n.flags {
			flags = append(flags, desc("-"+f.name, f.usage))
		}
		fmt.Fprintf(w, "\t\t%s) cmds=(%s) flags=(%s) ;;\n", sq(n.key()), strings.Join(cmds, " "), strings.Join(flags, " "))
	})
	fmt.Fprint(w, `	esac
	if [[ "${words[CURRENT]}" == -* ]]; then
		_describe -t options 'option' flags
	elif (( ${#cmds} )); then
		_describe -t commands 'command' cmds
	else
		_files
	fi
}
if [[ "${funcstack[1]}" == _grapevine ]]; then
	_grapevine "$@"
else
	compdef _grapevine grapevine
fi
`)
}

// writeFish writes fish completions: subcommands after their parent, flags
// (fish's old-style -name options) once their command is on the line.
func writeFish(w io.Writer, root *compNode) {
	fmt.Fprint(w, "# fish completion for grapevine: grapevine completion fish | source\n")
	cond := func(n *compNode) string {
		if len(n.path) == 0 {
			return "__fish_use_subcommand"
		}
		var parts []string
		for _, p := range n.path {
			parts = append(parts, "__fish_seen_subcommand_from "+p)
		}
		return strings.Join(parts, "; and ")
	}
	root.walk(func(n *compNode) {
		for _, s := range n.subs {
			fmt.Fprintf(w, "complete -c grapevine -n %s -f -a %s -d %s\n", sq(cond(n)), sq(s.path[len(s.path)-1]), sq(oneLine(s.usage)))
		}
		for _, c := range n.choices {
			fmt.Fprintf(w, "complete -c grapevine -n %s -f -a %s -d %s\n", sq(cond(n)), sq(c), sq(c+" script"))
		}
		for _, f := range n.flags {
			fmt.Fprintf(w, "complete -c grapevine -n %s -o %s -d %s\n", sq(cond(n)), sq(f.name), sq(oneLine(f.usage)))
		}
	})
}
