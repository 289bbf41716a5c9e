package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// metricsAddr is where the master (its latest start) serves /metrics.
func (c *cluster) metricsAddr(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`metrics listening" addr=(\S+)`)
	c.waitLog(t, re)
	all := re.FindAllStringSubmatch(c.log.String(), -1)
	return all[len(all)-1][1]
}

// scrapeMetrics fetches and strictly parses the master's /metrics.
func scrapeMetrics(t *testing.T, addr string) *scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	s, err := parseExposition(string(body))
	if err != nil {
		t.Fatalf("/metrics is not the text format: %v\n%s", err, body)
	}
	return s
}

// waitMetric waits until ok holds of a scrape.
func waitMetric(t *testing.T, addr, what string, ok func(s *scrape) bool) *scrape {
	t.Helper()
	var s *scrape
	waitWithin(t, what, 30*time.Second, func() bool {
		s = scrapeMetrics(t, addr)
		return ok(s)
	})
	return s
}

// TestMetrics: /metrics parses as the text format and follows the
// cluster: nodes up and down, processes started and ended, a node held
// with a reason (kept across a restart of the master).
func TestMetrics(t *testing.T) {
	c := startCluster(t, 2, "--metrics", "127.0.0.1:0")
	addr := c.metricsAddr(t)
	s := scrapeMetrics(t, addr)
	for series, want := range map[string]float64{
		`bproc_nodes{state="up"}`: 2, `bproc_nodes{state="down"}`: 0,
		`bproc_node_up{node="0"}`: 1, `bproc_node_up{node="1"}`: 1,
		`bproc_processes{node="0"}`: 0, `bproc_connections{kind="node"}`: 2,
		`bproc_launch_duration_seconds_count`: 0,
	} {
		if got := s.get(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{`bproc_node_load1{node="0"}`, `bproc_node_memory_available_bytes{node="1"}`} {
		if s.get(series) < 0 {
			t.Errorf("%s absent or negative", series)
		}
	}
	if s.types["bproc_launch_duration_seconds"] != "histogram" || s.types["bproc_node_boot_duration_seconds"] != "histogram" {
		t.Errorf("types %v, want the durations as histograms", s.types)
	}
	if n := s.get("bproc_node_boot_duration_seconds_count"); n != 2 {
		t.Errorf("boot durations counted %v, want the 2 boots", n)
	}

	// A process running, then killed.
	job := c.startBpsh(t, "0", "sleep", "411.5")
	waitMetric(t, addr, "node 0's process counted", func(s *scrape) bool {
		return s.get(`bproc_processes{node="0"}`) == 1 && s.get(`bproc_processes{node="1"}`) == 0 &&
			s.get("bproc_launch_duration_seconds_count") == 1 && s.get("bproc_processes_started_total") == 1
	})
	job.Process.Signal(syscall.SIGTERM)
	job.Wait()
	waitMetric(t, addr, "node 0's process uncounted", func(s *scrape) bool {
		return s.get(`bproc_processes{node="0"}`) == 0 && s.get(`bproc_processes_ended_total{how="signal"}`) == 1
	})

	// A node down (silent: stopped), and up again.
	slave := c.nodePID(t, 1)
	t.Cleanup(func() { syscall.Kill(slave, syscall.SIGCONT) })
	syscall.Kill(slave, syscall.SIGSTOP)
	waitMetric(t, addr, "node 1 down", func(s *scrape) bool {
		return s.get(`bproc_nodes{state="down"}`) == 1 && s.get(`bproc_node_up{node="1"}`) == 0 &&
			s.get(`bproc_node_load1{node="1"}`) == -1 && s.get(`bproc_connections{kind="node"}`) == 1
	})
	syscall.Kill(slave, syscall.SIGCONT)
	waitMetric(t, addr, "node 1 up again", func(s *scrape) bool {
		return s.get(`bproc_nodes{state="up"}`) == 2 && s.get("bproc_node_boot_duration_seconds_count") == 3
	})

	// Held with a reason: the metrics, bpstat -l and --json show it.
	before := time.Now()
	if r := c.run("", "bpctl", "-S", "1", "-s", "unavailable", "--reason", `bad "DIMM" \ slot 3`); r.code != 0 {
		t.Fatalf("bpctl --reason: exit %d, %q", r.code, r.stderr)
	}
	checkHeld(t, c, addr, before)
	// Kept across a restart of the master.
	c.restart(t)
	addr = c.metricsAddr(t)
	checkHeld(t, c, addr, before)
	if r := c.run("", "bpctl", "-S", "1", "-s", "up"); r.code != 0 {
		t.Fatalf("bpctl -s up: exit %d, %q", r.code, r.stderr)
	}
	s = waitMetric(t, addr, "node 1 released", func(s *scrape) bool { return s.get(`bproc_nodes{state="up"}`) == 2 })
	for series := range s.samples {
		if strings.HasPrefix(series, "bproc_node_held") {
			t.Errorf("%s still there after bpctl -s up", series)
		}
	}
	if out := c.run("", "bpstat", "-l", "1").stdout; strings.Contains(out, "DIMM") || strings.Contains(out, "since") {
		t.Errorf("bpstat -l of a node released still shows its reason:\n%s", out)
	}
}

// checkHeld: node 1 is unavailable for its reason since about before,
// in the metrics, bpstat -l and bpstat --json.
func checkHeld(t *testing.T, c *cluster, addr string, before time.Time) {
	t.Helper()
	const reason = `bad "DIMM" \ slot 3`
	s := waitMetric(t, addr, "node 1 held", func(s *scrape) bool { return s.get(`bproc_nodes{state="unavailable"}`) == 1 })
	held := fmt.Sprintf(`bproc_node_held{node="1",reason=%q,state="unavailable"}`, reason)
	if v := s.get(held); v != 1 {
		t.Errorf("%s = %v, want 1", held, v)
	}
	since := s.get(`bproc_node_held_since_seconds{node="1"}`)
	if d := since - float64(before.UnixMilli())/1000; d < -1 || d > 30 {
		t.Errorf("held since %v, %.1f s after bpctl ran", since, d)
	}
	r := c.run("", "bpstat", "--json", "1")
	var nodes []localapi.NodeStatus
	if err := json.Unmarshal([]byte(r.stdout), &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("bpstat --json 1: %v %q", err, r.stdout)
	}
	if n := nodes[0]; n.Reason != reason || n.Since == nil || n.Since.Unix() != int64(since) {
		t.Errorf("bpstat --json: reason %q since %v, want %q since %v", n.Reason, n.Since, reason, since)
	}
	out := c.run("", "bpstat", "-l", "1").stdout
	if !strings.Contains(out, "unavailable") || !strings.Contains(out, "since "+time.Unix(int64(since), 0).Format(time.DateTime)) ||
		!strings.HasSuffix(out, reason+"\n") {
		t.Errorf("bpstat -l 1 = %q, want unavailable, since when and %q", out, reason)
	}
}

// TestNoMetrics: without --metrics or a metrics line nothing is served:
// the master listens on the node port and nowhere else.
func TestNoMetrics(t *testing.T) {
	c := startCluster(t, 1)
	if strings.Contains(c.log.String(), "metrics listening") {
		t.Errorf("master log says metrics are served without --metrics:\n%s", c.log)
	}
	if l := listeningTCP(t, c.master.Process.Pid); len(l) != 1 {
		t.Errorf("the master listens on %v, want the node port alone", l)
	}
	// And with it, on exactly one more: the address given.
	c2 := startCluster(t, 1, "--metrics", "127.0.0.1:0")
	addr := c2.metricsAddr(t)
	l := listeningTCP(t, c2.master.Process.Pid)
	if len(l) != 2 || !containsStr(l, addr) {
		t.Errorf("with --metrics %s the master listens on %v, want the node port and it", addr, l)
	}
	for _, path := range []string{"/", "/metrics/x", "/debug/pprof/"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
	resp, err := http.Post("http://"+addr+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST /metrics: %s, want 405", resp.Status)
	}
	// A bad address is one line, and no master.
	r := c.run("", "bpmaster", "--metrics", "metrics.example:9464", "--socket", c.dir+"/other.sock")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, `"metrics.example" is not an IP address`) {
		t.Errorf("bpmaster --metrics metrics.example:9464: exit %d, %q", r.code, r.stderr)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// listeningTCP lists the addresses (ip:port) pid's own sockets listen on
// over TCP, IPv4 and IPv6.
func listeningTCP(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, procNetAddr(f[1]))
		}
	}
	return out
}

// procNetAddr turns /proc/net/tcp's "0100007F:1F90" into 127.0.0.1:8080
// (IPv4; an IPv6 address is left in hex).
func procNetAddr(s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	if len(hexIP) == 8 {
		v, _ := strconv.ParseUint(hexIP, 16, 32)
		return fmt.Sprintf("%d.%d.%d.%d:%d", v&0xff, v>>8&0xff, v>>16&0xff, v>>24, port)
	}
	return fmt.Sprintf("[%s]:%d", hexIP, port)
}

// TestMetricsBounded: idle connections to the metrics port cannot take
// the master's descriptors: it holds at most 16 of them at once, drops
// one that sends no request within seconds, and scrapes go on after.
func TestMetricsBounded(t *testing.T) {
	c := startCluster(t, 1, "--metrics", "127.0.0.1:0")
	addr := c.metricsAddr(t)
	pid := c.master.Process.Pid
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	var idle []net.Conn
	t.Cleanup(func() {
		for _, cn := range idle {
			cn.Close()
		}
	})
	for i := 0; i < 64; i++ {
		cn, err := net.Dial("tcp", addr) // the kernel's backlog takes what the master does not
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, cn)
	}
	time.Sleep(500 * time.Millisecond)
	if held := fds() - before; held > 16+2 {
		t.Errorf("64 idle connections to the metrics port: the master holds %d more descriptors, want at most 16", held)
	}
	// Each idle connection is dropped within the header timeout (2 s), so
	// a scrape gets its turn.
	began := time.Now()
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape behind 64 idle connections: %v", err)
	}
	resp.Body.Close()
	t.Logf("a scrape behind 64 idle connections took %v", time.Since(began).Round(time.Millisecond))
}
