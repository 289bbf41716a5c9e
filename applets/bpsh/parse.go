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

// parse fills c from args. kong parses every command line that has flags.
// One that has none (bpsh NODESPEC COMMAND..., the common case) needs no
// parser: kong's reflection over the flags and their help costs about
// half a millisecond of a fresh process, a tenth of a whole `bpsh 0 true`.
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

// quick parses a command line without flags: one whose first word is not
// one. With the node spec first, kong takes everything as it is (Args
// passes through), so what is left are the defaults and $BPROC_SOCKET.
func (c *cli) quick(args []string) bool {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return false
	}
	*c = cli{BufSize: defaultBufSize, PerNode: defaultPerNode, Socket: localapi.DefaultSocket, Args: args}
	if s, ok := os.LookupEnv("BPROC_SOCKET"); ok {
		c.Socket = s
	}
	return true
}
