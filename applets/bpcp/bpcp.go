// Package bpcp is the bpcp applet: copy files between this machine and
// nodes, or between nodes.
//
// Synopsis:
//
//	bpcp [-p] [-r] SRC... DST
//
// A path on a node is NODE:PATH (3:/tmp/out, n3:out); a relative path on a
// node is taken from the directory bpcp runs in. On the node, a file
// server runs as the caller, so each side's kernel checks the caller's
// permissions; a copy is written to a temporary name and renamed into
// place, so a failed copy leaves nothing at the destination.
package bpcp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/bproc/bproc/applets"
)

type cli struct {
	Preserve  bool     `short:"p" help:"Keep modes and modification times."`
	Recursive bool     `short:"r" help:"Copy directories and what they hold."`
	Socket    string   `env:"BPROC_SOCKET" default:"${socket}" help:"bpmaster's socket."`
	Server    bool     `hidden:"" help:"Serve sftp on stdin and stdout (what bpcp runs on a node)."`
	Paths     []string `arg:"" optional:"" help:"SRC... DST; NODE:PATH for a path on a node."`
}

// Main runs bpcp.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpcp", doc, &c, args, io, vars()); err != nil {
		return err
	}
	if c.Server {
		return serve(io)
	}
	if len(c.Paths) < 2 {
		return &applets.UsageError{Err: errors.New("want at least one source and a destination")}
	}
	eps := make([]endpoint, len(c.Paths))
	for i, a := range c.Paths {
		e, err := parseEndpoint(a)
		if err != nil {
			return &applets.UsageError{Err: err}
		}
		eps[i] = e
	}
	sides := map[int]side{local: {fs: localFS{}, node: local}}
	defer func() {
		for _, s := range sides {
			if s.node != local {
				s.fs.(remoteFS).close()
			}
		}
	}()
	open := func(node int) (side, error) {
		if s, ok := sides[node]; ok {
			return s, nil
		}
		r, err := startRemote(c.Socket, node, io.Stderr)
		if err != nil {
			return side{}, err
		}
		s := side{fs: remoteFS{c: r.c, r: r}, node: node}
		sides[node] = s
		return s, nil
	}
	cp := &copier{preserve: c.Preserve, recursive: c.Recursive, progress: progressBar(io.Stderr)}
	dst := eps[len(eps)-1]
	to, err := open(dst.node)
	if err != nil {
		return applets.Exit(1, "%s", err)
	}
	srcs := eps[:len(eps)-1]
	into := len(srcs) > 1 || strings.HasSuffix(dst.path, "/")
	if fi, err := to.fs.Stat(dst.path); err == nil && fi.IsDir() {
		into = true
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A destination that cannot be looked at (a symlink the node
		// refuses to follow) is not replaced by the copy either.
		return applets.Exit(1, "%s: %s", dst, describe(err))
	} else if into {
		return applets.Exit(1, "%s: not a directory", dst)
	}
	failed := false
	for _, src := range srcs {
		from, err := open(src.node)
		if err != nil {
			fmt.Fprintf(io.Stderr, "bpcp: %s\n", err)
			failed = true
			continue
		}
		target := dst.path
		if into {
			target = to.fs.Join(dst.path, path.Base(strings.TrimRight(src.path, "/")))
		}
		if err := cp.copyAny(from, src.path, to, target); err != nil {
			fmt.Fprintf(io.Stderr, "bpcp: %s\n", err)
			failed = true
		}
	}
	if failed {
		return applets.Status(1)
	}
	return nil
}

// stdio is stdin and stdout as one stream, for the sftp server.
type stdio struct{ in, out *os.File }

func (s stdio) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s stdio) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s stdio) Close() error {
	s.in.Close()
	return s.out.Close()
}
