package wire

import (
	"fmt"
	"strings"
)

// Command is what to run and with what: the part of a run that the caller
// asks for (localapi.Run) and that the node gets as it was asked
// (ProcStart), one type from bpsh to the node. Its JSON names are flat in
// both messages (encoding/json inlines an embedded struct).
type Command struct {
	Path string `json:"path"` // absolute, resolved by the caller in its own PATH
	// Builtin, instead of Path, runs a service of the node's own bproc
	// binary as the caller (BuiltinFileServer for bpcp).
	Builtin string   `json:"builtin,omitempty"`
	Argv    []string `json:"argv"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir"`

	TTY *TTY `json:"tty,omitempty"`
	// NoIO: the process's 0, 1 and 2 are /dev/null on the node (bpsh -N).
	NoIO bool `json:"noio,omitempty"`
	// Files opened on the node as the caller, replacing the forwarded
	// stream (bpsh -I/-O/-E); "" keeps the stream.
	StdinFile  string `json:"stdin_file,omitempty"`
	StdoutFile string `json:"stdout_file,omitempty"`
	StderrFile string `json:"stderr_file,omitempty"`
}

// Validate rejects a command that no node should try to run.
func (c *Command) Validate() error {
	switch {
	case len(c.Argv) == 0:
		return fmt.Errorf("empty argv")
	case c.Builtin != "" && c.Builtin != BuiltinFileServer:
		return fmt.Errorf("unknown builtin %q", c.Builtin)
	case c.Builtin != "" && c.Path != "":
		return fmt.Errorf("both a path and a builtin")
	case c.Builtin == "" && !strings.HasPrefix(c.Path, "/"):
		return fmt.Errorf("path %q is not absolute", c.Path)
	case c.Dir != "" && !strings.HasPrefix(c.Dir, "/"):
		return fmt.Errorf("dir %q is not absolute", c.Dir)
	}
	for _, s := range append(append([]string{c.Path, c.Dir, c.StdinFile, c.StdoutFile, c.StderrFile}, c.Argv...), c.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("NUL byte in %q", s)
		}
	}
	return nil
}
