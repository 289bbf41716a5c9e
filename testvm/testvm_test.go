package testvm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMasterConfigText(t *testing.T) {
	c := MasterConfig{Interface: "br0", Nodes: 3, Kernel: "/boot/vmlinuz-6.1.0-48-cloud-amd64",
		Modules: []string{"virtio_pci", "virtio_net"}, Cmdline: "quiet", PingTimeout: 10}
	got := c.Text()
	for _, want := range []string{
		"\ninterface br0 10.99.0.1 255.255.255.0\n",
		"\niprange 0 10.99.0.10 10.99.0.12\n",
		"\nnode 0 52:54:00:99:00:00\n",
		"\nnode 2 52:54:00:99:00:02\n",
		"\nkernel /boot/vmlinuz-6.1.0-48-cloud-amd64\n",
		"\nmodules virtio_pci virtio_net\n",
		"\nkernelcommandline quiet\n",
		"\npingtimeout 10\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("MasterConfig.Text() lacks %q:\n%s", want, got)
		}
	}
	c.Cmdline, c.PingTimeout = "", 0
	if got := c.Text(); strings.Contains(got, "kernelcommandline") || strings.Contains(got, "pingtimeout") {
		t.Errorf("MasterConfig.Text() with no cmdline and ping timeout =\n%s\nwant neither line", got)
	}
	c.Spare = 2
	if got := c.Text(); !strings.Contains(got, "\niprange 0 10.99.0.10 10.99.0.14\n") || strings.Contains(got, "\nnode 3 ") {
		t.Errorf("MasterConfig.Text() with 2 spare nodes =\n%s\nwant addresses for nodes 3 and 4, and no node lines for them", got)
	}
}

func TestBootPanic(t *testing.T) {
	l := Log{filepath.Join(t.TempDir(), "console")}
	for _, tt := range []struct{ text, want string }{
		{"", ""},
		{"iPXE 1.21\r\nLinux version 6.1.0\nbooting\n", ""},
		{"Linux version 6.1.0\n[ 2.1] Kernel panic - not syncing: VFS: Unable to mount root fs\r\n", "Kernel panic - not syncing: VFS: Unable to mount root fs"},
		// with panic=1 the machine boots again: the earlier panic is over
		{"Linux version 6.1.0\nKernel panic - not syncing: x\nRebooting in 1 seconds..\nLinux version 6.1.0\nup\n", ""},
	} {
		if err := os.WriteFile(l.Path, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := l.BootPanic(); got != tt.want {
			t.Errorf("BootPanic of %q = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		n        int
		addr     string
		mac, odd string
	}{
		{0, "10.99.0.10", "52:54:00:99:00:00", "52:54:00:99:ff:00"},
		{15, "10.99.0.25", "52:54:00:99:00:0f", "52:54:00:99:ff:0f"},
		{MaxNodes - 1, "10.99.0.209", "52:54:00:99:00:c7", "52:54:00:99:ff:c7"},
	}
	for _, tt := range tests {
		if got := NodeAddr(tt.n).String(); got != tt.addr {
			t.Errorf("NodeAddr(%d) = %s, want %s", tt.n, got, tt.addr)
		}
		if got := NodeMAC(tt.n).String(); got != tt.mac {
			t.Errorf("NodeMAC(%d) = %s, want %s", tt.n, got, tt.mac)
		}
		if got := StrangerMAC(tt.n).String(); got != tt.odd {
			t.Errorf("StrangerMAC(%d) = %s, want %s", tt.n, got, tt.odd)
		}
	}
}

func TestVMArgs(t *testing.T) {
	v := &VM{Name: "node3", MAC: NodeMAC(3), Tap: "tap3", Dir: "/run/x"}
	args := strings.Join(v.Args(), " ")
	for _, want := range []string{
		"-accel tcg", "-cpu max", "-m 256", "-boot n",
		"-netdev tap,id=net0,ifname=tap3,script=no,downscript=no",
		"-device virtio-net-pci,netdev=net0,mac=52:54:00:99:00:03",
		"-serial file:/run/x/node3.console",
		"-daemonize -pidfile /run/x/node3.pid",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("VM.Args() = %s\nlacks %q", args, want)
		}
	}
	if strings.Contains(args, "-no-reboot") {
		t.Errorf("VM.Args() = %s: -no-reboot would turn bpctl -R into a power-off", args)
	}
	v.Memory = 512
	if !slices.Contains(v.Args(), "512") {
		t.Errorf("VM.Args() with Memory 512 = %v", v.Args())
	}
}

func TestLogWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console")
	l := Log{path}
	// Written while Wait already waits, in pieces, the match split.
	go func() {
		time.Sleep(100 * time.Millisecond)
		f, _ := os.Create(path)
		defer f.Close()
		for _, s := range []string{"iPXE ...\r\n", "[ 0.0] Linux ver", "sion 6.1\r\nlogin: n0 up\n"} {
			f.WriteString(s)
			time.Sleep(60 * time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, off, err := l.Wait(ctx, 0, regexp.MustCompile(`Linux version \S+`))
	if err != nil || got != "Linux version 6.1" {
		t.Fatalf("Wait = %q, %v; want Linux version 6.1", got, err)
	}
	// From the offset, an earlier line is not seen again.
	if _, _, err := l.Wait(ctx, off, regexp.MustCompile(`n0 up`)); err != nil {
		t.Fatalf("Wait after the first match: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, _, err := l.Wait(short, off, regexp.MustCompile(`Linux`)); !errors.Is(err, ErrTimeout) {
		t.Errorf("Wait for an earlier line from past it = %v, want ErrTimeout", err)
	}
	if !l.Contains(0, regexp.MustCompile(`iPXE`)) || l.Contains(off, regexp.MustCompile(`iPXE`)) {
		t.Errorf("Contains does not honour the offset")
	}
	if m := l.Mark(); m != int64(len("iPXE ...\r\n[ 0.0] Linux version 6.1\r\nlogin: n0 up\n")) {
		t.Errorf("Mark() = %d", m)
	}
}

func TestCleanConsole(t *testing.T) {
	in := "\x1b[0;1miPXE\x1b[0m boot\r\nPress Ctrl-B...\b \b\b \bnet0: ok\r\n\x1bc\x1b[?7l"
	if got, want := string(cleanConsole([]byte(in))), "iPXE boot\nPress Ctrl-B...net0: ok\n"; got != want {
		t.Errorf("cleanConsole(%q) = %q, want %q", in, got, want)
	}
}

func TestPIDFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pid")
	if pid, err := readPID(p); pid != 0 || err != nil {
		t.Errorf("readPID(missing) = %d, %v; want 0, nil", pid, err)
	}
	os.WriteFile(p, []byte("garbage\n"), 0o644)
	if _, err := readPID(p); err == nil {
		t.Errorf("readPID(garbage) = nil error")
	}
	// Our own PID: alive, but its command line lacks the mark, so a
	// stale pidfile naming it must not get it killed.
	writePID(p, os.Getpid())
	if pid, err := readPID(p); pid != os.Getpid() || err != nil || !alive(pid) {
		t.Fatalf("readPID = %d, %v; want %d, alive", pid, err, os.Getpid())
	}
	if err := stopPIDFile(p, "/no/such/cluster/dir", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stopPIDFile left the pidfile: %v", err)
	}
}
