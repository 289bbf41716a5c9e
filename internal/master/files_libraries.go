package master

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// librariesTimeout bounds the reading of the libraries by a node.
const librariesTimeout = 5 * time.Minute

// libraryFiles expands the config's libraries globs to the regular files
// they name on the master, each once, in order.
func libraryFiles(globs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range globs {
		matches, _ := filepath.Glob(g) // patterns were checked when read
		sort.Strings(matches)
		for _, p := range matches {
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// sendLibraries has a node with a view of the master's files read the
// files of the config's libraries keyword while it is in boot, so that
// they sit in its cache before the first program needs them. The node
// reads them as nobody (uid 65534, no groups), with the master's cat,
// through its view: a node is served at boot only what anyone may read
// (a library only root may read is fetched when a program of root's opens
// it). It runs before node_up.d, in boot.
func (m *Master) sendLibraries(n *node, sc *ssh.ServerConn, files []string, log io.Writer) error {
	began := time.Now()
	var status wire.ExitStatus
	err := m.asOwnProcess(n, nobodyCred, func() (err error) {
		status, err = runOnNode(sc, wire.ProcStart{
			Node: n.num,
			Command: wire.Command{
				Path: "/bin/cat", Argv: append([]string{"cat"}, files...),
				Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", StdoutFile: "/dev/null",
			},
			UID: nobodyCred.UID, GID: nobodyCred.GID, Groups: nobodyCred.Groups,
		}, log, librariesTimeout)
		return err
	})
	if err != nil {
		return fmt.Errorf("libraries: %w", err)
	}
	if status != (wire.ExitStatus{}) {
		// cat goes on past a file nobody may read: the others are read.
		return fmt.Errorf("libraries: cat as nobody: %s (a file not world-readable is left out)", status)
	}
	fmt.Fprintf(log, "--- libraries: %d files read in %s\n", len(files), time.Since(began).Round(time.Millisecond))
	return nil
}
