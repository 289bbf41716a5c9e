package apiclient

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestRunPrestartedOverlaps: RunPrestarted's first ghost is exec'd while
// the master works on the request (this master answers only once it sees
// it, waiting for its token), and StartGhost then gives that very ghost
// its token: it says hello with it.
func TestRunPrestartedOverlaps(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "master.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok, err := ghost.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var req localapi.Request
		if localapi.ReadFrame(c, &req) != nil {
			return
		}
		pid := waitPrestarted(5 * time.Second)
		seen <- pid
		reply := localapi.Reply{Ranks: []localapi.Rank{{Node: 0, Token: tok.String()}}}
		if pid == 0 {
			reply = localapi.Reply{Error: "no ghost was prestarted while the master answered"}
		}
		localapi.WriteFrame(c, reply)
		time.Sleep(5 * time.Second) // the job's connection stays up
	}()

	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	files := [3]*os.File{null, null, null}
	job, err := c.RunPrestarted(localapi.Run{Nodes: []int{0}, Command: wire.Command{Path: "/bin/true", Argv: []string{"prestarted"}}}, files, false)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	pre := <-seen
	pid, err := job.StartGhost(0, files)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Wait4(pid, nil, 0, nil)
	}()
	if pid != pre {
		t.Errorf("StartGhost = %d, want the ghost prestarted while the master answered, %d", pid, pre)
	}
	l.SetDeadline(time.Now().Add(5 * time.Second))
	g, err := l.AcceptUnix()
	if err != nil {
		t.Fatalf("no hello from the ghost: %v", err)
	}
	defer g.Close()
	g.SetDeadline(time.Now().Add(5 * time.Second))
	h, err := ghost.ReadHello(g)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Token != tok {
		t.Errorf("hello token %v, want %v", h.Token, tok)
	}
}

// waitPrestarted returns the PID of a child of this process that is a
// ghost waiting for its token, or 0 if none comes within d.
func waitPrestarted(d time.Duration) int {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if st, err := procfs.ReadStat(pid); err != nil || st.PPid != os.Getpid() {
				continue
			}
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if bytes.Contains(env, []byte("BPROC_GHOST_TOKEN=-\x00")) {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}
