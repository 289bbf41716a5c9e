package netboot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The services are tested on a veth pair between two network namespaces,
// neither of them the machine's: the test binary re-executes itself in a
// new network namespace (the master's side; the whole process is in it,
// as bpmaster is under "ip netns exec", so pin/tftp's per-transfer
// sockets land there too), which creates a named namespace for the node's
// side. Clients run on OS threads moved into that one (inNetns).
// When the helper exits its namespace goes, and the veth pair with it.

const netnsEnv = "BPROC_NETBOOT_NETNS"

const (
	srvIf = "bps0"
	cliIf = "bpc0"
)

func TestServicesInNetns(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	ns := fmt.Sprintf("bpnb%d", os.Getpid())
	// The helper removes it; this is for a helper that was killed.
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"-test.run=^TestNetnsHelper$", "-test.v", "-test.timeout=150s"}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestNetnsHelper")) {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("helper output:\n%s", out)
	}
}

// TestNetnsHelper is the re-executed master side; it does nothing in a
// normal run.
func TestNetnsHelper(t *testing.T) {
	ns := os.Getenv(netnsEnv)
	if ns == "" {
		t.Skip("runs only re-executed by TestServicesInNetns")
	}
	n := setUpLink(t, ns)
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	kernel := bytes.Repeat([]byte("kernel-"), 40000) // 280 kB: many TFTP blocks
	initramfs := bytes.Repeat([]byte("cpio"), 1000)
	own := bytes.Repeat([]byte("own-"), 500) // node 7's bootfile
	undionly := bytes.Repeat([]byte{0xeb, 0xfe}, 700)
	var mu sync.Mutex
	var unknown []string
	opts := Options{
		Interface: srvIf,
		Addr:      netip.MustParsePrefix("10.99.0.1/24"),
		Lookup:    testLookup,
		OnUnknown: func(mac net.HardwareAddr) { mu.Lock(); unknown = append(unknown, mac.String()); mu.Unlock() },
		Kernel:    BytesSource(kernel),
		Initramfs: BytesSource(initramfs),
		NodeInitramfs: func(node int) Source {
			if node == 7 {
				return BytesSource(own)
			}
			return nil
		},
		TFTPFiles:    map[string]Source{IPXEBIOS: BytesSource(undionly)},
		BIOSBootFile: IPXEBIOS,
		Cmdline:      "quiet",
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
	}

	// The node's ICMPv6 socket is open before the server starts, to see
	// the unsolicited advertisement.
	ra := n.openICMP(t)
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })

	t.Run("unsolicited RA", func(t *testing.T) {
		ra.expectRA(t)
	})
	t.Run("RA answers RS", func(t *testing.T) {
		ra.sendRS(t, 255)
		ra.expectRA(t)
		if !logs.wait("ra: router solicitation", 1, 2*time.Second) {
			t.Errorf("no log line for the solicitation")
		}
	})
	t.Run("RS with hop limit 64 is ignored", func(t *testing.T) {
		ra.sendRS(t, 64)
		if !logs.wait("hop limit 64", 1, 2*time.Second) {
			t.Errorf("no log line for the bad solicitation")
		}
	})

	t.Run("DHCP known MAC", func(t *testing.T) {
		c := n.dhcpClient(t, knownMAC, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lease, err := c.Request(ctx)
		if err != nil {
			t.Fatalf("Request: %v", err)
		}
		ack := lease.ACK
		got := []string{ack.YourIPAddr.String(), ack.ServerIdentifier().String(), net.IP(ack.SubnetMask()).String(),
			ack.ServerIPAddr.String(), string(ack.Options.Get(dhcpv4.GenericOptionCode(OptionMaster))), ack.BootFileName}
		want := []string{"10.99.0.10", "10.99.0.1", "255.255.255.0", "10.99.0.1", "10.99.0.1:2223", ""}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("lease (yiaddr, server, mask, siaddr, master, file) = %q, want %q", got, want)
		}

		offer, err := c.DiscoverOffer(ctx, dhcpv4.WithUserClass("iPXE", false))
		if err != nil {
			t.Fatalf("DiscoverOffer as iPXE: %v", err)
		}
		if want := "http://10.99.0.1/boot.ipxe?mac=02:00:00:00:00:01"; offer.BootFileName != want {
			t.Errorf("iPXE boot file = %q, want %q", offer.BootFileName, want)
		}
		offer, err = c.DiscoverOffer(ctx, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
		if err != nil {
			t.Fatalf("DiscoverOffer as PXE: %v", err)
		}
		if offer.BootFileName != IPXEBIOS {
			t.Errorf("PXE boot file = %q, want %q", offer.BootFileName, IPXEBIOS)
		}
	})

	t.Run("DHCP unknown MAC", func(t *testing.T) {
		c := n.dhcpClient(t, unknownMAC, 1)
		for i := 0; i < 2; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			offer, err := c.DiscoverOffer(ctx)
			cancel()
			if err == nil {
				t.Fatalf("unknown MAC got an offer: %v", offer.Summary())
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(unknown, " ") != unknownMAC.String() {
			t.Errorf("OnUnknown calls = %v, want one for %v", unknown, unknownMAC)
		}
		if got := logs.count("unknown MAC"); got != 1 {
			t.Errorf("%d unknown-MAC log lines, want 1", got)
		}
	})

	// The node takes the address it was given, as its init would.
	n.ip(t, "addr", "add", "10.99.0.10/24", "dev", cliIf)

	t.Run("DHCP bad packet", func(t *testing.T) {
		err := n.do(func() error {
			c, err := net.Dial("udp4", "10.99.0.1:67")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("not dhcp"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !logs.wait("dhcp: bad packet", 1, 2*time.Second) {
			t.Errorf("no log line for a bad DHCP packet")
		}
	})

	t.Run("TFTP", func(t *testing.T) {
		tests := []struct {
			name    string
			want    []byte
			wantErr string
		}{
			{IPXEBIOS, undionly, ""},
			{"/" + IPXEBIOS, undionly, ""},
			{"kernel", kernel, ""},
			{"missing", nil, "not exist"},
			{"../../etc/passwd", nil, "refused"},
			{"/../etc/passwd", nil, "refused"},
		}
		for _, tt := range tests {
			got, size, err := n.tftpGet(tt.name)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("tftp get %q: err = %v, want %q", tt.name, err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("tftp get %q: %v", tt.name, err)
			case !bytes.Equal(got, tt.want) || size != int64(len(tt.want)):
				t.Errorf("tftp get %q: %d bytes, tsize %d, want %d", tt.name, len(got), size, len(tt.want))
			}
		}
		if err := n.tftpPut("upload"); err == nil {
			t.Errorf("tftp put: no error, want refused")
		}
		if !logs.wait("msg=\"tftp: sent\" file=kernel ip=10.99.0.10 mac=02:00:00:00:00:01", 1, 2*time.Second) {
			t.Errorf("no log line with file, ip and mac for the kernel")
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		hc := n.httpClient()
		get := func(method, path string, hdr ...string) (int, string) {
			req, err := http.NewRequest(method, "http://10.99.0.1"+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s %s: read: %v", method, path, err)
			}
			return resp.StatusCode, string(b)
		}
		code, body := get("GET", "/boot.ipxe?mac=02:00:00:00:00:01")
		wantLine := "kernel http://10.99.0.1/kernel initrd=initramfs console=ttyS0 bproc.master=10.99.0.1:2223 bproc.node=0 bproc.mac=02:00:00:00:00:01 quiet\n"
		if code != 200 || !strings.HasPrefix(body, "#!ipxe\n") || !strings.Contains(body, wantLine) {
			t.Errorf("GET /boot.ipxe = %d\n%s\nwant 200 with %q", code, body, wantLine)
		}
		if code, body := get("GET", "/boot.ipxe"); code != 200 || !strings.Contains(body, "chain http://10.99.0.1/boot.ipxe?mac=${netX/mac}") {
			t.Errorf("GET /boot.ipxe without mac = %d %q, want a chain to itself", code, body)
		}
		if code, body := get("GET", "/kernel"); code != 200 || body != string(kernel) {
			t.Errorf("GET /kernel = %d, %d bytes, want 200, %d bytes", code, len(body), len(kernel))
		}
		if code, body := get("GET", "/kernel", "Range", "bytes=7-13"); code != 206 || body != "kernel-" {
			t.Errorf("GET /kernel range = %d %q, want 206 \"kernel-\"", code, body)
		}
		if code, body := get("GET", "/initramfs"); code != 200 || body != string(initramfs) {
			t.Errorf("GET /initramfs = %d, %d bytes, want 200, %d bytes", code, len(body), len(initramfs))
		}
		odd := oddMAC.String()
		if _, body := get("GET", "/boot.ipxe?mac="+odd); !strings.Contains(body, "initrd http://10.99.0.1/initramfs?mac="+odd+"\n") {
			t.Errorf("the script of node 7, which has a boot file, does not ask for it:\n%s", body)
		}
		if code, body := get("GET", "/initramfs?mac="+odd); code != 200 || body != string(own) {
			t.Errorf("GET /initramfs?mac=%s = %d, %d bytes, want 200 and node 7's %d bytes", odd, code, len(body), len(own))
		}
		if code, body := get("GET", "/initramfs?mac=02:00:00:00:00:01"); code != 200 || body != string(initramfs) {
			t.Errorf("GET /initramfs?mac= of a node without a boot file = %d, %d bytes, want the common %d", code, len(body), len(initramfs))
		}
		for _, tt := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/initramfs?mac=02:00:00:00:00:99", 404},
			{"GET", "/initramfs?mac=zz", 400},
			{"GET", "/etc/passwd", 404},
			{"GET", "/../../etc/passwd", 404},
			{"POST", "/kernel", 405},
			{"GET", "/boot.ipxe?mac=zz", 400},
		} {
			if code, _ := get(tt.method, tt.path); code != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, code, tt.want)
			}
		}
		if !logs.wait("path=/kernel ip=10.99.0.10 status=200 bytes=280000", 1, 2*time.Second) ||
			logs.count("mac=02:00:00:00:00:01") == 0 {
			t.Errorf("no log line with path, ip, status, bytes and mac for /kernel")
		}
	})

	t.Run("second server refused", func(t *testing.T) {
		if s2, err := Start(opts); err == nil {
			s2.Close()
			t.Fatalf("second Start on the same address: no error")
		} else if !strings.Contains(err.Error(), "listen") {
			t.Errorf("second Start = %v, want a listen error", err)
		}
	})

	t.Run("wrong address refused", func(t *testing.T) {
		o := opts
		o.Addr = netip.MustParsePrefix("10.99.0.2/24")
		if s2, err := Start(o); err == nil {
			s2.Close()
			t.Fatalf("Start with an address the interface lacks: no error")
		}
	})

	t.Run("close and restart", func(t *testing.T) {
		// A client that stops acknowledging mid-file must not hold up
		// Close for the 25 s pin/tftp would retry.
		stalled := n.stalledTFTP(t, "kernel")
		defer stalled.Close()
		start := time.Now()
		srv.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Close took %v", d)
		}
		if logs.count("transfers to silent clients") != 1 {
			t.Errorf("no log line for the stalled transfer cut by Close")
		}
		if err := srv.Wait(); err != nil {
			t.Errorf("Wait after Close = %v, want nil", err)
		}
		// Every socket was released: a new server can take them.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, opts) }()
		time.Sleep(300 * time.Millisecond)
		c := n.dhcpClient(t, knownMAC, 3)
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer rcancel()
		if _, err := c.Request(rctx); err != nil {
			t.Errorf("Request after restart: %v", err)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Serve did not return after cancel")
		}
	})
}
