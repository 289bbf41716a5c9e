package integration

import (
	"io"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestSpaceOneChannel: the relays of a node's descendants go on one
// channel (wire.ChanSpace), not a channel each. A fake node of this
// protocol (node 1) runs a process of bpsh's and forks 12 descendants
// from it: the master opens one ChanSpace and no ChanAdopt, adopts each
// on it, delivers a signal sent to a descendant's ghost to that relay
// only, and ends each ghost with the status the node sends. Records that
// make no sense (an unknown kind, a kind the node never sends, a relay
// that is not open, a bad status) are each logged in one line and
// change nothing. Before, each descendant had a ChanAdopt of its own.
func TestSpaceOneChannel(t *testing.T) {
	c := startCluster(t, 1, "--nodes", "2")
	f := startFakeNode(t, c, wire.Protocol)
	adopts, spaces := f.adopts, f.spaces
	var err error

	const forks = 12
	var pids []int
	for range forks {
		pids = append(pids, f.fork(t))
	}
	var space ssh.Channel
	select {
	case nc := <-spaces:
		var reqs <-chan *ssh.Request
		if space, reqs, err = nc.Accept(); err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
	case nc := <-adopts:
		t.Fatalf("the master opened a %s channel for a node of protocol %d", nc.ChannelType(), wire.Protocol)
	case <-time.After(20 * time.Second):
		t.Fatal("no space channel on the fake node")
	}
	relays := map[int]uint32{} // ghost PID -> relay ID
	recs := make(chan wire.SpaceRecord, 64)
	go func() {
		defer close(recs)
		b := make([]byte, wire.SpaceRecordSize)
		for {
			if _, err := io.ReadFull(space, b); err != nil {
				return
			}
			r, err := wire.UnmarshalSpaceRecord(b, true)
			if err != nil {
				t.Errorf("the master wrote a bad record: %v", err)
				return
			}
			recs <- r
		}
	}()
	next := func(what string) wire.SpaceRecord {
		t.Helper()
		select {
		case r, ok := <-recs:
			if !ok {
				t.Fatalf("space channel ended waiting for %s", what)
			}
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s on the space channel", what)
		}
		return wire.SpaceRecord{}
	}
	for range forks {
		r := next("adopt")
		if r.Kind != wire.SpaceAdopt {
			t.Fatalf("record %+v, want an adopt", r)
		}
		relays[r.Arg] = r.ID
	}
	for _, pid := range pids {
		if _, ok := relays[pid]; !ok {
			t.Fatalf("ghost %d: no relay adopted (relays %v)", pid, relays)
		}
	}
	send := func(recs ...wire.SpaceRecord) {
		t.Helper()
		var b []byte
		for _, r := range recs {
			b = r.Marshal(b)
		}
		if _, err := space.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	// Records that make no sense: each refused in one line.
	bad := [][]byte{
		{9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		wire.SpaceRecord{Kind: wire.SpaceAdopt, ID: 77, Arg: 5}.Marshal(nil),
		wire.SpaceRecord{Kind: wire.SpaceClose, ID: 123456}.Marshal(nil),
		{wire.SpaceExit, 0, 0, 0, 0, 0, 0, byte(relays[pids[0]]), 7, 0, 0, 0, 0, 0, 0, 1},
	}
	for _, b := range bad {
		if _, err := space.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"unknown kind 9", "adopt from the node, which never sends one", "record of unknown relay 123456", "unknown kind 7"} {
		c.waitLog(t, regexp.MustCompile(`space channel: record refused" node=1 err="[^"]*`+regexp.QuoteMeta(want)))
	}

	// A signal to one descendant's ghost reaches its relay only.
	victim := pids[3]
	syscall.Kill(victim, syscall.SIGUSR1)
	r := next("signal")
	if r.Kind != wire.SpaceSignal || r.ID != relays[victim] || r.Signal() != syscall.SIGUSR1 {
		t.Fatalf("record %+v, want SIGUSR1 to relay %d", r, relays[victim])
	}
	if r.Reply {
		send(wire.SpaceRecord{Kind: wire.SpaceSignaled, ID: r.ID})
	}

	// Each ends with the status the node sends, and the master answers
	// each end with its close.
	for i, pid := range pids {
		send(wire.SpaceRecord{Kind: wire.SpaceExit, ID: relays[pid], Status: wire.ExitStatus{Code: i + 1}})
	}
	closed := map[uint32]bool{}
	for len(closed) < forks {
		r := next("close")
		if r.Kind != wire.SpaceClose {
			t.Fatalf("record %+v, want a close", r)
		}
		closed[r.ID] = true
	}
	waitFor(t, "the descendants' ghosts to end", func() bool {
		procs, err := c.client().Procs()
		return err == nil && len(procs) == 1
	})
	select {
	case nc := <-adopts:
		t.Fatalf("the master opened a %s channel for a node of protocol %d", nc.ChannelType(), wire.Protocol)
	default:
	}
	f.end(t, 3)
}

// fakeNode is node 1 of a cluster, played by the test: it says hello in
// the protocol given and runs bpsh's process (start) on procCh.
type fakeNode struct {
	cl             *ssh.Client
	start          wire.ProcStart
	procCh         ssh.Channel
	bpsh           *exec.Cmd
	adopts, spaces <-chan ssh.NewChannel
}

func startFakeNode(t *testing.T, c *cluster, proto int) *fakeNode {
	t.Helper()
	cl, err := dialWithToken(t, c, 1, c.nodeToken(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{cl: cl}
	procChans := cl.HandleChannelOpen(wire.ChanProc)
	f.adopts = cl.HandleChannelOpen(wire.ChanAdopt)
	f.spaces = cl.HandleChannelOpen(wire.ChanSpace)
	ok, _, err := cl.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{Version: "bproc", Protocol: proto}))
	if err != nil || !ok {
		t.Fatalf("hello: %v %v", ok, err)
	}
	c.waitState(t, "1", "up")

	f.bpsh = c.command("bpsh", "1", "sleep", "600")
	f.bpsh.WaitDelay = 5 * time.Second
	if err := f.bpsh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.bpsh.Process.Kill(); f.bpsh.Wait() })
	select {
	case nc := <-procChans:
		if err := wire.Decode(wire.ChanProc, nc.ExtraData(), &f.start); err != nil {
			t.Fatal(err)
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			t.Fatal(err)
		}
		f.procCh = ch
		go ssh.DiscardRequests(reqs)
		go io.Copy(io.Discard, ch)
	case <-time.After(20 * time.Second):
		t.Fatal("no process channel on the fake node")
	}
	f.procCh.SendRequest(wire.ReqStarted, false, wire.Encode(wire.Started{PID: f.start.PID}))
	return f
}

// fork forks a descendant of the fake node's process: its ghost's PID.
func (f *fakeNode) fork(t *testing.T) int {
	t.Helper()
	ok, payload, err := f.cl.SendRequest(wire.ReqFork, true, wire.Encode(wire.Fork{Parent: f.start.PID}))
	var fr wire.ForkReply
	if err != nil || !ok || wire.Decode(wire.ReqFork, payload, &fr) != nil {
		t.Fatalf("fork: %v %q %v", ok, payload, err)
	}
	return fr.PID
}

// end ends the fake node's process with code and waits for bpsh.
func (f *fakeNode) end(t *testing.T, code int) {
	t.Helper()
	f.procCh.SendRequest(wire.ReqExit, false, wire.ExitStatus{Code: code}.Marshal())
	f.procCh.Close()
	if err := waitCmd(f.bpsh, 20*time.Second); exitCode(err) != code {
		t.Errorf("bpsh: %v, want exit %d", err, code)
	}
}

// TestSpaceAdoptFallback: a node of protocol 3 gets a ChanAdopt channel
// per descendant, as before ChanSpace, and its ghosts end with the
// statuses sent on them.
func TestSpaceAdoptFallback(t *testing.T) {
	c := startCluster(t, 1, "--nodes", "2")
	f := startFakeNode(t, c, 3)
	const forks = 3
	want := map[int]bool{}
	for range forks {
		want[f.fork(t)] = true
	}
	for range forks {
		select {
		case nc := <-f.adopts:
			var a wire.Adopt
			if err := wire.Decode(wire.ChanAdopt, nc.ExtraData(), &a); err != nil || !want[a.PID] {
				t.Fatalf("adopt of %+v (%v), want one of %v", a, err, want)
			}
			delete(want, a.PID)
			ch, reqs, err := nc.Accept()
			if err != nil {
				t.Fatal(err)
			}
			go ssh.DiscardRequests(reqs)
			ch.SendRequest(wire.ReqExit, false, wire.ExitStatus{Code: 4}.Marshal())
			ch.Close()
		case nc := <-f.spaces:
			t.Fatalf("the master opened a %s channel for a node of protocol 3", nc.ChannelType())
		case <-time.After(20 * time.Second):
			t.Fatal("no adopt channel on the fake node")
		}
	}
	waitFor(t, "the descendants' ghosts to end", func() bool {
		procs, err := c.client().Procs()
		return err == nil && len(procs) == 1
	})
	f.end(t, 3)
}
