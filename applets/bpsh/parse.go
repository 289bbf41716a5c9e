package bpsh

import (
	"os"
	"strings"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// The defaults of -b and --per-node, for kong's tags and for quick.
const (
	defaultBufSize = 4096
	defaultPerNode = 1
)

// parse fills c from args. kong parses every command line but the common
// ones (bpsh NODESPEC COMMAND..., bpsh -a COMMAND...: quick), which need
// no parser: kong's reflection over the flags and their help costs half
// a millisecond of a fresh process on a quiet machine, and 5 to 20 on a
// busy one (the code and data it touches fault in).
// TestQuickIsKong and FuzzQuickIsKong hold quick to kong's result.
func (c *cli) parse(args []string, io applets.IO) error {
	if c.quick(args) {
		return nil
	}
	return c.kong(args, io)
}

// kong parses args with kong.
func (c *cli) kong(args []string, io applets.IO) error {
	_, err := applets.Parse("bpsh", doc, c, args, io, vars())
	return err
}

// quick parses a command line whose flags, if any, come first, each a
// word of its own from a short list (the node choice, the I/O switches,
// --per-node K): what launches are written with (bpsh -a true, bpsh
// --per-node 32 -a ./mpiprog). With the first word that is not a flag,
// kong takes everything after as it is (Args passes through), so what is
// left are those flags, the defaults and $BPROC_SOCKET. Anything else, a
// repeated flag or letters run together included, is kong's.
func (c *cli) quick(args []string) bool {
	*c = cli{BufSize: defaultBufSize, PerNode: defaultPerNode, Socket: localapi.DefaultSocket}
	i, perNode := 0, false
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if !c.quickFlag(args, &i, &perNode) {
			*c = cli{}
			return false
		}
	}
	if i == len(args) {
		*c = cli{}
		return false
	}
	c.Args = args[i:]
	if s, ok := os.LookupEnv("BPROC_SOCKET"); ok {
		c.Socket = s
	}
	return true
}

// quickFlag takes the flag at args[*i] (and --per-node's value), moving
// *i past it; false for one quick does not know, or one given twice
// (perNode: --per-node was).
func (c *cli) quickFlag(args []string, i *int, perNode *bool) bool {
	word := args[*i]
	*i++
	bools := map[string]*bool{
		"-a": &c.All, "-A": &c.AllNotDown, "-1": &c.OnMaster, "-n": &c.NullStdin, "-N": &c.NoIO,
		"-L": &c.Line, "-p": &c.Prefix, "-s": &c.Sequential, "-d": &c.Divider, "-t": &c.Time,
		"--gather": &c.Gather, "--pmi": &c.PMI,
	}
	if b, ok := bools[word]; ok {
		if *b {
			return false
		}
		*b = true
		return true
	}
	value, ok := strings.CutPrefix(word, "--per-node=")
	if !ok {
		if word != "--per-node" || *i == len(args) {
			return false
		}
		value = args[*i]
		*i++
	}
	// Plain decimal only: kong reads 010 as octal, and signs and
	// underscores its own way.
	if *perNode || len(value) == 0 || len(value) > 6 || value[0] < '1' || value[0] > '9' {
		return false
	}
	n := 0
	for _, d := range value {
		if d < '0' || d > '9' {
			return false
		}
		n = n*10 + int(d-'0')
	}
	c.PerNode, *perNode = n, true
	return true
}
