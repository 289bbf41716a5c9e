package netboot

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/pin/tftp/v3"
	"golang.org/x/net/ipv6"

	"github.com/bproc/bproc/testvm"
)

// The node's side of TestNetnsHelper: its namespace, and clients that
// run in it.

// node is the node's side: a named network namespace with the veth end.
type node struct {
	ns    string
	index int // of cliIf in ns
}

func setUpLink(t *testing.T, ns string) *node {
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	run("link", "set", "lo", "up")
	run("link", "add", srvIf, "type", "veth", "peer", "name", cliIf, "netns", ns)
	n := &node{ns: ns}
	// Duplicate address detection would keep the link-local addresses
	// unusable for a second, and router advertisements are sent from
	// them.
	noDAD := "/proc/sys/net/ipv6/conf/%s/accept_dad"
	if err := os.WriteFile(fmt.Sprintf(noDAD, srvIf), []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	err := n.do(func() error {
		if err := os.WriteFile(fmt.Sprintf(noDAD, cliIf), []byte("0"), 0); err != nil {
			return err
		}
		// The node's kernel would solicit too; only the test's own
		// solicitations should be answered.
		rs := fmt.Sprintf("/proc/sys/net/ipv6/conf/%s/router_solicitations", cliIf)
		if err := os.WriteFile(rs, []byte("0"), 0); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(cliIf)
		if err != nil {
			return err
		}
		n.index = ifi.Index
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	run("addr", "add", "10.99.0.1/24", "dev", srvIf)
	run("link", "set", srvIf, "up")
	run("-n", ns, "link", "set", "lo", "up")
	run("-n", ns, "link", "set", cliIf, "address", knownMAC.String())
	run("-n", ns, "link", "set", cliIf, "up")
	// Until the kernel's link watcher has seen the carrier (up to a
	// second), a veth end drops what is sent and has not joined ff02::1:
	// the unsolicited RA would be lost. A link-local address on both ends
	// shows that it has.
	for end := time.Now().Add(5 * time.Second); !n.hasLinkLocal(t, srvIf, false) || !n.hasLinkLocal(t, cliIf, true); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no link-local addresses on %s and %s after 5 s", srvIf, cliIf)
		}
	}
	return n
}

func (n *node) hasLinkLocal(t *testing.T, name string, inNode bool) bool {
	var ok bool
	check := func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipn, isNet := a.(*net.IPNet); isNet && ipn.IP.IsLinkLocalUnicast() && ipn.IP.To4() == nil {
				ok = ifi.Flags&net.FlagRunning != 0
			}
		}
		return nil
	}
	var err error
	if inNode {
		err = n.do(check)
	} else {
		err = check()
	}
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func (n *node) ip(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"-n", n.ns}, args...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// do runs f in the node's namespace (testvm.InNS).
func (n *node) do(f func() error) error { return testvm.InNS(n.ns, f) }

func (n *node) dhcpClient(t *testing.T, mac net.HardwareAddr, retries int) *nclient4.Client {
	t.Helper()
	var c *nclient4.Client
	err := n.do(func() error {
		var err error
		c, err = nclient4.New(cliIf, nclient4.WithHWAddr(mac), nclient4.WithTimeout(time.Second), nclient4.WithRetry(retries))
		return err
	})
	if err != nil {
		t.Fatalf("dhcp client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (n *node) tftpGet(name string) (data []byte, size int64, err error) {
	err = n.do(func() error {
		c, err := tftp.NewClient("10.99.0.1:69")
		if err != nil {
			return err
		}
		c.SetTimeout(time.Second)
		c.RequestTSize(true)
		wt, err := c.Receive(name, "octet")
		if err != nil {
			return err
		}
		size, _ = wt.(tftp.IncomingTransfer).Size()
		var buf bytes.Buffer
		_, err = wt.WriteTo(&buf)
		data = buf.Bytes()
		return err
	})
	return data, size, err
}

func (n *node) tftpPut(name string) error {
	return n.do(func() error {
		c, err := tftp.NewClient("10.99.0.1:69")
		if err != nil {
			return err
		}
		c.SetTimeout(time.Second)
		rf, err := c.Send(name, "octet")
		if err != nil {
			return err
		}
		_, err = rf.ReadFrom(strings.NewReader("data"))
		return err
	})
}

// stalledTFTP asks for name, takes the first block and never
// acknowledges it.
func (n *node) stalledTFTP(t *testing.T, name string) net.Conn {
	t.Helper()
	var c net.Conn
	err := n.do(func() error {
		var err error
		c, err = net.Dial("udp4", "10.99.0.1:69")
		return err
	})
	if err != nil {
		t.Fatalf("tftp socket: %v", err)
	}
	// RRQ: opcode 1, name, mode. The server sends the first block from a
	// port of the transfer's own, which this socket, connected to port
	// 69, never accepts: nothing is acknowledged.
	rrq := append(append([]byte{0, 1}, name...), "\x00octet\x00"...)
	if _, err := c.Write(rrq); err != nil {
		t.Fatalf("send RRQ: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	return c
}

// httpClient dials from the node's namespace: net/http dials on a
// goroutine of its own, so the dial itself is moved there.
func (n *node) httpClient() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := n.do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// icmp is the node's ICMPv6 socket: it sends solicitations and sees
// advertisements.
type icmp struct {
	n  *node
	pc *ipv6.PacketConn
}

func (n *node) openICMP(t *testing.T) *icmp {
	var pc *ipv6.PacketConn
	err := n.do(func() error {
		c, err := net.ListenPacket("ip6:58", "::")
		if err != nil {
			return err
		}
		pc = ipv6.NewPacketConn(c)
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeRouterAdvertisement)
		if err := pc.SetICMPFilter(&f); err != nil {
			return err
		}
		return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true)
	})
	if err != nil {
		t.Fatalf("icmpv6 socket: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return &icmp{n: n, pc: pc}
}

func (c *icmp) sendRS(t *testing.T, hopLimit int) {
	t.Helper()
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1}
	rs = append(rs, knownMAC...)
	cm := &ipv6.ControlMessage{HopLimit: hopLimit, IfIndex: c.n.index}
	if _, err := c.pc.WriteTo(rs, cm, &net.IPAddr{IP: allRouters}); err != nil {
		t.Fatalf("send RS: %v", err)
	}
}

// expectRA waits for an advertisement that says: no default router, no
// DHCPv6, sent on the link with hop limit 255 from a link-local address.
func (c *icmp) expectRA(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1500)
	c.pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, cm, src, err := c.pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no router advertisement: %v", err)
	}
	b := buf[:n]
	if len(b) < 16 || b[0] != icmpRouterAdvertisement || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		t.Errorf("RA = % x, want type 134, flags 0, lifetime 0", b)
	}
	if cm == nil || cm.HopLimit != 255 {
		t.Errorf("RA control message %v, want hop limit 255", cm)
	}
	if ia, ok := src.(*net.IPAddr); !ok || !ia.IP.IsLinkLocalUnicast() {
		t.Errorf("RA from %v, want a link-local address", src)
	}
}

// logBuffer collects the server's log for the test to look into.
type logBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// wait polls until s occurs at least n times.
func (l *logBuffer) wait(s string, n int, timeout time.Duration) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if l.count(s) >= n {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
