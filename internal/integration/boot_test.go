package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/bproc/bproc/testvm"
)

// bootNet is a veth pair between two network namespaces of the test's
// own: the master's side (bpm0, 10.99.0.1/24) and a node's side (bpn0,
// 10.99.0.200/24, where DHCP and HTTP clients run). Deleting the namespaces
// at the end removes the pair.
type bootNet struct {
	master, node string
}

func newBootNet(t *testing.T) *bootNet {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	b := &bootNet{master: fmt.Sprintf("bpbm%d", os.Getpid()), node: fmt.Sprintf("bpbn%d", os.Getpid())}
	t.Cleanup(func() {
		testvm.DeleteNS(b.master)
		testvm.DeleteNS(b.node)
	})
	for _, args := range [][]string{
		{"netns", "add", b.master},
		{"netns", "add", b.node},
		{"-n", b.master, "link", "add", "bpm0", "type", "veth", "peer", "name", "bpn0", "netns", b.node},
		{"-n", b.master, "addr", "add", "10.99.0.1/24", "dev", "bpm0"},
		{"-n", b.master, "link", "set", "lo", "up"},
		{"-n", b.master, "link", "set", "bpm0", "up"},
		{"-n", b.node, "link", "set", "bpn0", "up"},
		// For TCP (HTTP) from the node's side; DHCP needs none.
		{"-n", b.node, "addr", "add", "10.99.0.200/24", "dev", "bpn0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return b
}

// offer asks for a lease as mac from the node's side: the address
// offered, or nil when the master stays silent.
func (b *bootNet) offer(t *testing.T, mac string) net.IP {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	var got net.IP
	err = testvm.InNS(b.node, func() error {
		c, err := nclient4.New("bpn0", nclient4.WithHWAddr(hw), nclient4.WithTimeout(time.Second), nclient4.WithRetry(3))
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		o, err := c.DiscoverOffer(ctx)
		if err != nil {
			return nil // no offer
		}
		got = o.YourIPAddr
		return nil
	})
	if err != nil {
		t.Fatalf("dhcp client in %s: %v", b.node, err)
	}
	return got
}

// get fetches path from the master's HTTP boot service, from the node's
// side.
func (b *bootNet) get(t *testing.T, path string) (int, string) {
	t.Helper()
	var code int
	var body []byte
	err := testvm.InNS(b.node, func() error {
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.Dial("tcp4", "10.99.0.1:80")
		if err != nil {
			return err
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil },
		}}
		resp, err := hc.Get("http://10.99.0.1" + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, b.node, err)
	}
	return code, string(body)
}

// bootMaster is bpmaster run in the master's namespace.
type bootMaster struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	socket string
}

func (b *bootNet) startMaster(t *testing.T, dir, config string, extra ...string) *bootMaster {
	t.Helper()
	m := &bootMaster{log: &syncBuffer{}, socket: filepath.Join(dir, "master.sock")}
	args := append([]string{"netns", "exec", b.master, binary, "bpmaster", "--config", config,
		"--socket", m.socket, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:2223"}, extra...)
	m.cmd = exec.Command("ip", args...)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	// No Pdeathsig: it fires when the thread that forked dies, and the
	// threads testvm.InNS locks into the node's namespace die when done.
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.stop(t) })
	m.wait(t, regexp.MustCompile(`netboot: serving`))
	return m
}

func (m *bootMaster) stop(t *testing.T) {
	if m.cmd.ProcessState != nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- m.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("bpmaster after SIGTERM: %v\n%s", err, m.log)
		}
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
		t.Errorf("bpmaster did not stop on SIGTERM in 10 s\n%s", m.log)
	}
}

// wait waits for a line matching re in the log after the first from
// bytes.
func (m *bootMaster) wait(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	m.waitFrom(t, 0, re)
}

func (m *bootMaster) waitFrom(t *testing.T, from int, re *regexp.Regexp) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if re.MatchString(m.log.String()[from:]) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("master log has no %q after 15 s:\n%s", re, m.log)
		}
	}
}

func (m *bootMaster) hup(t *testing.T) int {
	t.Helper()
	from := len(m.log.String())
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	return from
}

// bootFiles writes a kernel (any bytes do: the master serves it, nodes
// are not booted here) and an empty modules tree, and returns the config
// lines that name them.
func bootFiles(t *testing.T, dir, kernel string) string {
	t.Helper()
	mods := filepath.Join(dir, "modules", "6.1.0-test")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mods, "modules.dep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k := filepath.Join(dir, "vmlinuz")
	if err := os.WriteFile(k, []byte(kernel), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("kernel %s\nmodules %s\n", k, mods)
}

const (
	bootMAC0 = "02:00:00:00:00:01"
	bootMAC1 = "02:00:00:00:00:02"
)

// TestBootServices runs bpmaster with boot services on a veth of its own
// and checks what a booting node meets: a lease for a known MAC and
// none for a stranger until bpctl --add-node, a node's own bootfile,
// SIGHUP with a new kernel restarting the services, and a bad config on
// SIGHUP changing nothing.
func TestBootServices(t *testing.T) {
	b := newBootNet(t)
	dir := t.TempDir()
	own := filepath.Join(dir, "own.img")
	if err := os.WriteFile(own, []byte("node 1's own image"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	base := "interface bpm0 10.99.0.1 255.255.255.0\niprange 0 10.99.0.10 10.99.0.12\nnode 0 " + bootMAC0 + "\nbootfile 1 " + own + "\n"
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base + bootFiles(t, dir, "kernel one"))
	m := b.startMaster(t, dir, cfg)
	m.wait(t, regexp.MustCompile(`bpmaster listening`))

	if ip := b.offer(t, bootMAC0); !ip.Equal(net.ParseIP("10.99.0.10")) {
		t.Fatalf("offer to node 0's MAC = %v, want 10.99.0.10\n%s", ip, m.log)
	}
	if ip := b.offer(t, bootMAC1); ip != nil {
		t.Fatalf("offer to an unknown MAC = %v, want none", ip)
	}
	m.wait(t, regexp.MustCompile(`unknown MAC.*mac=`+bootMAC1))

	bpctl := exec.Command(binary, "bpctl", "--add-node", bootMAC1)
	bpctl.Env = append(os.Environ(), "BPROC_SOCKET="+m.socket)
	if out, err := bpctl.CombinedOutput(); err != nil {
		t.Fatalf("bpctl --add-node: %v\n%s", err, out)
	}
	if ip := b.offer(t, bootMAC1); !ip.Equal(net.ParseIP("10.99.0.11")) {
		t.Fatalf("offer to the MAC bpctl --add-node added = %v, want node 1's 10.99.0.11\n%s", ip, m.log)
	}

	if _, body := b.get(t, "/boot.ipxe?mac="+bootMAC1); !strings.Contains(body, "initrd http://10.99.0.1/initramfs?mac="+bootMAC1) {
		t.Errorf("node 1 has a bootfile, but its script loads:\n%s", body)
	}
	if code, body := b.get(t, "/initramfs?mac="+bootMAC1); code != 200 || body != "node 1's own image" {
		t.Errorf("node 1's initramfs = %d %q, want its bootfile", code, body)
	}
	if code, body := b.get(t, "/initramfs?mac="+bootMAC0); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("node 0's initramfs = %d, %d bytes, want the built image (gzip)", code, len(body))
	}
	if _, body := b.get(t, "/kernel"); body != "kernel one" {
		t.Fatalf("/kernel = %q, want the config's kernel", body)
	}

	// A new kernel on SIGHUP: the services restart with it, and what
	// bpctl --add-node wrote to the file stays.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "node "+bootMAC1) {
		t.Fatalf("bpctl --add-node did not write the node line:\n%s", text)
	}
	k2 := filepath.Join(dir, "vmlinuz2")
	if err := os.WriteFile(k2, []byte("kernel two"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(strings.Replace(string(text), "kernel "+filepath.Join(dir, "vmlinuz"), "kernel "+k2, 1))
	m.waitFrom(t, m.hup(t), regexp.MustCompile(`boot services restarted`))
	if _, body := b.get(t, "/kernel"); body != "kernel two" {
		t.Errorf("/kernel after SIGHUP with a new kernel = %q, want %q", body, "kernel two")
	}
	if ip := b.offer(t, bootMAC1); !ip.Equal(net.ParseIP("10.99.0.11")) {
		t.Errorf("offer to node 1 after the restart = %v, want 10.99.0.11", ip)
	}

	// A bad config on SIGHUP: reported, and the services go on as they
	// were.
	write("interface bpm0 10.99.0.1 255.255.255.0\nkernel relative/path\n")
	m.waitFrom(t, m.hup(t), regexp.MustCompile(`reload: configuration not changed.*is not an absolute path`))
	if _, body := b.get(t, "/kernel"); body != "kernel two" {
		t.Errorf("/kernel after a bad SIGHUP = %q, want %q", body, "kernel two")
	}
	if ip := b.offer(t, bootMAC0); !ip.Equal(net.ParseIP("10.99.0.10")) {
		t.Errorf("offer to node 0 after a bad SIGHUP = %v, want 10.99.0.10", ip)
	}
}

// TestBootOnly runs bpmaster --boot-only: the boot services and nothing
// else (no socket for tools), taking a new node line on SIGHUP, which
// would have ended it before the services knew that signal.
func TestBootOnly(t *testing.T) {
	b := newBootNet(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	files := bootFiles(t, dir, "kernel")
	base := "interface bpm0 10.99.0.1 255.255.255.0\niprange 0 10.99.0.10 10.99.0.12\nnode 0 " + bootMAC0 + "\n" + files
	if err := os.WriteFile(cfg, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	m := b.startMaster(t, dir, cfg, "--boot-only")
	if ip := b.offer(t, bootMAC0); !ip.Equal(net.ParseIP("10.99.0.10")) {
		t.Fatalf("offer to node 0's MAC = %v, want 10.99.0.10\n%s", ip, m.log)
	}
	if _, err := os.Stat(m.socket); err == nil {
		t.Errorf("--boot-only made the tools' socket %s", m.socket)
	}
	if ip := b.offer(t, bootMAC1); ip != nil {
		t.Fatalf("offer to an unknown MAC = %v, want none", ip)
	}
	if err := os.WriteFile(cfg, []byte(base+"node 1 "+bootMAC1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.waitFrom(t, m.hup(t), regexp.MustCompile(`configuration reloaded`))
	if ip := b.offer(t, bootMAC1); !ip.Equal(net.ParseIP("10.99.0.11")) {
		t.Errorf("offer to the MAC of the new node line = %v, want 10.99.0.11\n%s", ip, m.log)
	}
	if m.cmd.ProcessState != nil {
		t.Fatalf("bpmaster --boot-only ended on SIGHUP: %v", m.cmd.ProcessState)
	}
}
