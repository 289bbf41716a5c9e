package pmi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// start serves s on a loopback port, and closes it when the test ends.
func start(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(s.Close)
	return l.Addr().String()
}

// client is one rank's end, speaking as MPICH does.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Errorf("send %q: %v", s, err)
	}
}

func (c *client) line() string {
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Errorf("read a line: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// env returns the value of name in rank i's environment.
func env(s *Server, i int, name string) string {
	for _, e := range s.Env(i, "x:1") {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestMPICHTranscript plays back what two MPICH 4.0.2 ranks said to
// hydra in MPI_Init, an MPI_Allreduce and MPI_Finalize, after the PMI_PORT
// handshake, and wants hydra's answers word for word.
func TestMPICHTranscript(t *testing.T) {
	data, err := os.ReadFile("testdata/mpich-4.0.2-pmi1.txt")
	if err != nil {
		t.Fatal(err)
	}
	var ranks [][]string
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "rank "):
			ranks = append(ranks, nil)
		case strings.HasPrefix(l, "> "), strings.HasPrefix(l, "< "):
			ranks[len(ranks)-1] = append(ranks[len(ranks)-1], l)
		}
	}
	if len(ranks) != 2 {
		t.Fatalf("transcript has %d ranks, want 2", len(ranks))
	}
	s, err := New([]int{3, 3})
	if err != nil {
		t.Fatal(err)
	}
	addr := start(t, s)
	var wg sync.WaitGroup
	for i, script := range ranks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			c.send("cmd=initack pmiid=" + env(s, i, "PMI_ID") + "\n")
			for _, want := range []string{"cmd=initack", "cmd=set size=2", fmt.Sprintf("cmd=set rank=%d", i), "cmd=set debug=0"} {
				if got := c.line(); got != want {
					t.Errorf("rank %d handshake: got %q, want %q", i, got, want)
					return
				}
			}
			for _, l := range script {
				l = strings.NewReplacer("@KVS@", s.kvsName, "@MAP@", "(vector,(0,1,2))").Replace(l)
				if l[0] == '>' {
					c.send(l[2:] + "\n")
				} else if got := c.line(); got != l[2:] {
					t.Errorf("rank %d: got %q, want %q", i, got, l[2:])
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestStrangers: a connection that does not show one of the job's IDs
// gets nothing and is closed; one rank's ID works once; after maxBad
// strangers the server stops accepting.
func TestStrangers(t *testing.T) {
	s, err := New([]int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	var mu sync.Mutex
	s.Logf = func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }
	addr := start(t, s)
	for _, first := range []string{"cmd=get_my_kvsname\n", "cmd=initack pmiid=12\n", "cmd=barrier_in\n", "    14cmd=kvs-fence;"} {
		c := dial(t, addr)
		c.send(first)
		if l, err := c.r.ReadString('\n'); err != io.EOF {
			t.Errorf("after %q: got %q, %v; want the connection closed", first, l, err)
		}
	}
	ok := dial(t, addr)
	ok.send("cmd=initack pmiid=" + env(s, 1, "PMI_ID") + "\n")
	if got := ok.line(); got != "cmd=initack" {
		t.Fatalf("rank 1's ID: got %q", got)
	}
	again := dial(t, addr)
	again.send("cmd=initack pmiid=" + env(s, 1, "PMI_ID") + "\n")
	if l, err := again.r.ReadString('\n'); err != io.EOF {
		t.Errorf("rank 1's ID shown twice: got %q, %v; want closed", l, err)
	}
	for range maxBad - 5 {
		c := dial(t, addr)
		c.send("cmd=initack pmiid=1\n")
		c.r.ReadString('\n')
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("still accepting after %d strangers", maxBad)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logs, "\n"), "none of the job's") {
		t.Errorf("no log line says why a stranger was closed: %q", logs)
	}
}

// TestAbort: PMI-1's abort reaches OnAbort with its exit code.
func TestAbort(t *testing.T) {
	s, _ := New([]int{0})
	got := make(chan [2]int, 1)
	s.OnAbort = func(rank, code int, _ string) { got <- [2]int{rank, code} }
	c := dial(t, start(t, s))
	c.send("cmd=initack pmiid=" + env(s, 0, "PMI_ID") + "\n")
	for range 4 {
		c.line()
	}
	c.send("cmd=abort exitcode=7\n")
	select {
	case g := <-got:
		if g != [2]int{0, 7} {
			t.Errorf("abort: got rank %d code %d, want 0 7", g[0], g[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no abort")
	}
}
