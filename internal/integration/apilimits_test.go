package integration

import (
	"bytes"
	be "encoding/binary"
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/asuser"
)

// nobody is the unprivileged user these tests attack the master as.
const nobody = 65534

// dialer connects to the master's socket as nobody (SO_PEERCRED is the
// connecting thread's).
func dialer(t *testing.T, c *cluster) func() (*net.UnixConn, error) {
	w, err := asuser.NewWorker(asuser.Cred{UID: nobody, GID: nobody})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return func() (*net.UnixConn, error) {
		var conn *net.UnixConn
		err := w.Do(func() error {
			var err error
			conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: c.socket, Net: "unix"})
			return err
		})
		return conn, err
	}
}

// rssKB is a process's resident memory.
func rssKB(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestRequestMemory: 100 connections of one user, each sending the header
// of an 8 MiB request and all of its body but one byte, grow the master by
// at most 64 MB (they took it from 20 MB to 848 MB: each frame was
// allocated whole from its header). The bodies look like the start of a
// run, the one kind that may be that large.
func TestRequestMemory(t *testing.T) {
	c := startCluster(t, 1)
	dial := dialer(t, c)
	pid := c.master.Process.Pid
	before := rssKB(t, pid)
	const size = 8 << 20
	body := bytes.Repeat([]byte("a"), size-1)
	copy(body, `{"op":"run","run":{"argv":["`)
	frame := append(be.BigEndian.AppendUint32(nil, size), body...)
	var conns []*net.UnixConn
	var wg sync.WaitGroup
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
		wg.Wait()
	}()
	for range 100 {
		conn, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		wg.Go(func() { conn.Write(frame) })
	}
	peak := before
	for range 30 { // 3 s: every connection has sent what the master takes
		peak = max(peak, rssKB(t, pid))
		time.Sleep(100 * time.Millisecond)
	}
	grew := (peak - before) / 1024
	t.Logf("bpmaster RSS %d MB before, %d MB at most with 100 connections of 8 MiB frames: grew %d MB", before/1024, peak/1024, grew)
	if grew > 64 {
		t.Errorf("bpmaster grew by %d MB, want at most 64", grew)
	}
	// Root is not held up by nobody's frames.
	if r := c.run("", "bpstat", "-n"); r.code != 0 || r.stdout != "0\n" {
		t.Errorf("bpstat as root while the frames wait: %+v", r)
	}
}

// TestConnectionCap: a user other than root gets no more connections than
// maxconns; those past it are closed at once and logged, root still gets
// its answers, and connections given back may be taken again.
func TestConnectionCap(t *testing.T) {
	conf := t.TempDir() + "/config"
	os.WriteFile(conf, []byte("maxconns 50\n"), 0o644)
	c := startCluster(t, 1, "--config", conf)
	dial := dialer(t, c)
	open := func(n int) (held, refused []*net.UnixConn) {
		for range n {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, conn)
		}
		// Refused ones read EOF at once; held ones time out.
		time.Sleep(300 * time.Millisecond)
		var kept []*net.UnixConn
		for _, conn := range held {
			conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, err := conn.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
				kept = append(kept, conn)
			} else {
				refused = append(refused, conn)
			}
		}
		return kept, refused
	}
	held, refused := open(60)
	if len(held) != 50 || len(refused) != 10 {
		t.Errorf("60 connections of a user with maxconns 50: %d held, %d refused; want 50 and 10", len(held), len(refused))
	}
	c.waitLog(t, regexp.MustCompile(`local connection refused: the user holds as many as maxconns allows.*uid=65534.*maxconns=50`))
	if r := c.run("", "bpstat", "-n"); r.code != 0 || r.stdout != "0\n" {
		t.Errorf("bpstat as root with the user at the cap: %+v", r)
	}
	for _, conn := range append(held, refused...) {
		conn.Close()
	}
	time.Sleep(300 * time.Millisecond)
	held, refused = open(50)
	if len(held) != 50 {
		t.Errorf("50 connections after the user gave all back: %d held, %d refused", len(held), len(refused))
	}
	for _, conn := range append(held, refused...) {
		conn.Close()
	}
}

// TestBadFrameLogFlood: 10,000 connections of one user sending garbage
// make a few log lines and one count, not 10,000 lines.
func TestBadFrameLogFlood(t *testing.T) {
	c := startCluster(t, 1)
	dial := dialer(t, c)
	garbage := append(be.BigEndian.AppendUint32(nil, 5), "hello"...)
	for range 10000 {
		conn, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(garbage)
		conn.Read(make([]byte, 64)) // the error frame, then the close
		conn.Close()
	}
	held := regexp.MustCompile(`bad request: similar lines held back.*suppressed=(\d+)`)
	deadline := time.Now().Add(20 * time.Second)
	for !held.MatchString(c.log.String()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	log := c.log.String()
	lines := strings.Count(log, `msg="bad request`)
	t.Logf("10,000 bad frames: %d log lines, %d bytes of log", lines, len(log))
	if lines > 30 {
		t.Errorf("10,000 bad frames made %d log lines, want a few", lines)
	}
	if m := held.FindStringSubmatch(log); m == nil {
		t.Errorf("no line counting the lines held back")
	}
}
