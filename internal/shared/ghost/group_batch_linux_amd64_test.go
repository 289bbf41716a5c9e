package ghost

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startMany starts n ghosts of g with StartMany, each with the files
// files(i) gives, accepts them, matching hellos to ghosts by token, and
// checks that every one started and connected once.
func startMany(t *testing.T, g *Group, ln *net.UnixListener, n int, files func(i int) [3]*os.File) []ghostOf {
	t.Helper()
	gs := make([]ghostOf, n)
	toks := make([]Token, n)
	fs := make([][3]*os.File, n)
	byToken := map[Token]int{}
	for i := range gs {
		toks[i] = newToken(t)
		gs[i].tok = toks[i]
		byToken[toks[i]] = i
		if files != nil {
			fs[i] = files(i)
		}
	}
	pids, errs := g.StartMany(toks, fs)
	seen := map[int]bool{}
	for i := range gs {
		if errs[i] != nil || pids[i] <= 0 || seen[pids[i]] {
			t.Fatalf("StartMany: ghost %d: pid %d, %v; want a PID of its own", i, pids[i], errs[i])
		}
		seen[pids[i]] = true
		p := &proc{pid: pids[i]}
		t.Cleanup(func() {
			if !p.reaped {
				syscall.Kill(p.pid, syscall.SIGKILL)
				syscall.Wait4(p.pid, nil, 0, nil)
			}
		})
		gs[i].proc = p
	}
	for range gs {
		c, h := accept(t, ln)
		i, ok := byToken[h.Token]
		if !ok || gs[i].c != nil {
			t.Fatalf("hello with unknown or reused token %v", h.Token)
		}
		gs[i].c, gs[i].h = c, h
	}
	ln.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.AcceptUnix(); err == nil {
		c.Close()
		t.Errorf("a ghost more than StartMany asked for connected")
	}
	return gs
}

// TestGroupStartMany starts more ghosts at once than a window holds: each
// is a child of this process with its own PID, token and stdio, all in
// the template's address space, and each dies its own way.
func TestGroupStartMany(t *testing.T) {
	before := children(t)
	sock := listen(t)
	g := &Group{Argv: []string{"many"}, Socket: sock.Addr().String()}
	defer g.Close()
	n := 2*batchWindow + 7
	outs := make([]*os.File, n)
	for i := range outs {
		f, err := os.Create(filepath.Join(t.TempDir(), fmt.Sprint("out", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		outs[i] = f
	}
	gs := startMany(t, g, sock, n, func(i int) [3]*os.File { return [3]*os.File{nil, outs[i], nil} })
	var pids []int
	for i, gh := range gs {
		pids = append(pids, gh.pid)
		if i > 0 && !kcmpVM(t, gs[0].pid, gh.pid) {
			t.Errorf("ghost %d (%d) does not share the first one's (%d) address space", i, gh.pid, gs[0].pid)
		}
		if got, want := fstatID(t, gh.h.Files[1]), fstatID(t, outs[i]); got != want {
			t.Errorf("ghost %d: hello fd 1 is %v, want its own file %v", i, got, want)
		}
		if gh.h.Files[0] != nil || gh.h.Files[2] != nil {
			t.Errorf("ghost %d: hello fds 0 and 2 = %v, %v, want none", i, gh.h.Files[0], gh.h.Files[2])
		}
	}
	wantChildren(t, before, pids...)
	for i, gh := range gs {
		WriteExit(gh.c, i%200)
	}
	for i, gh := range gs {
		if ws := gh.wait(t, 0); !ws.Exited() || ws.ExitStatus() != i%200 {
			t.Errorf("ghost %d told exit %d: wait status %#x", i, i%200, uint32(ws))
		}
	}
	wantChildren(t, before)
}

// TestGroupStartManyTemplateGone: a batch sent to a template that has
// exited is not lost: a new template starts every ghost of it, once.
func TestGroupStartManyTemplateGone(t *testing.T) {
	before := children(t)
	sock := listen(t)
	g := &Group{Argv: []string{"many"}, Socket: sock.Addr().String()}
	defer g.Close()
	first := startMany(t, g, sock, 1, nil)
	WriteExit(first[0].c, 3)
	if ws := first[0].wait(t, 0); !ws.Exited() || ws.ExitStatus() != 3 {
		t.Fatalf("template told exit 3: wait status %#x", uint32(ws))
	}
	gs := startMany(t, g, sock, 5, nil)
	var pids []int
	for i, gh := range gs {
		pids = append(pids, gh.pid)
		if i > 0 && !kcmpVM(t, gs[0].pid, gh.pid) {
			t.Errorf("ghost %d (%d) does not share the new template's (%d) address space", i, gh.pid, gs[0].pid)
		}
	}
	wantChildren(t, before, pids...)
	for _, gh := range gs {
		WriteExit(gh.c, 0)
		gh.wait(t, 0)
	}
}
