package netboot

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOptionsInvalid(t *testing.T) {
	good := func() Options {
		return Options{
			Interface: "eth1",
			Addr:      netip.MustParsePrefix("10.0.0.1/24"),
			Lookup:    testLookup,
			TFTPFiles: map[string]Source{"undionly.kpxe": BytesSource(nil)},
		}
	}
	if _, err := good().withDefaults(); err != nil {
		t.Fatalf("withDefaults(good) = %v", err)
	}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no interface", func(o *Options) { o.Interface = "" }, "no interface"},
		{"no address", func(o *Options) { o.Addr = netip.Prefix{} }, "IPv4"},
		{"ipv6 address", func(o *Options) { o.Addr = netip.MustParsePrefix("fd00::1/64") }, "IPv4"},
		{"host prefix", func(o *Options) { o.Addr = netip.MustParsePrefix("10.0.0.1/32") }, "prefix length"},
		{"no lookup", func(o *Options) { o.Lookup = nil }, "lookup"},
		{"cmdline newline", func(o *Options) { o.Cmdline = "quiet\nshell" }, "line break"},
		{"bad tftp name", func(o *Options) { o.TFTPFiles["../x"] = BytesSource(nil) }, "tftp file name"},
		{"absolute tftp name", func(o *Options) { o.TFTPFiles["/x"] = BytesSource(nil) }, "tftp file name"},
		{"missing boot file", func(o *Options) { o.BIOSBootFile = "pxelinux.0" }, "not among"},
		{"port", func(o *Options) { o.HTTPPort = 70000 }, "port"},
	}
	for _, tt := range tests {
		o := good()
		tt.edit(&o)
		_, err := o.withDefaults()
		if err == nil || !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: withDefaults = %v, want ErrOptions about %q", tt.name, err, tt.want)
		}
	}
}

func TestSources(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, IPXEBIOS)
	if err := os.WriteFile(p, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := IPXEFiles(dir)
	if len(files) != 1 || files[IPXEBIOS] == nil {
		t.Fatalf("IPXEFiles(%s) = %v, want only %s", dir, files, IPXEBIOS)
	}
	read := func(s Source) string {
		f, err := s()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Opened anew per request: a rebuilt file is served as it is now.
	if err := os.WriteFile(p, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := read(files[IPXEBIOS]); got != "second" {
		t.Errorf("FileSource read %q, want %q", got, "second")
	}
	if got := read(BytesSource([]byte("abc"))); got != "abc" {
		t.Errorf("BytesSource read %q, want abc", got)
	}
	if _, err := FileSource(filepath.Join(dir, "missing"))(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FileSource(missing) err = %v, want ErrNotExist", err)
	}
}

func TestBootScript(t *testing.T) {
	o := testOptions(t, io.Discard)
	o.Cmdline = "quiet panic=-1"
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	got := bootScript(&o, mac, 3, "")
	want := "#!ipxe\n" +
		"kernel http://10.99.0.1/kernel initrd=initramfs console=ttyS0 bproc.master=10.99.0.1:2223 bproc.node=3 bproc.mac=52:54:00:12:34:56 quiet panic=-1\n" +
		"initrd http://10.99.0.1/initramfs\n" +
		"boot\n"
	if got != want {
		t.Errorf("bootScript =\n%s\nwant\n%s", got, want)
	}
	o.NodeInitramfs = func(node int) Source {
		if node == 3 {
			return BytesSource([]byte("own"))
		}
		return nil
	}
	if got := bootScript(&o, mac, 3, ""); !strings.Contains(got, "\ninitrd http://10.99.0.1/initramfs?mac=52:54:00:12:34:56\n") {
		t.Errorf("bootScript of a node with a boot file of its own:\n%s\nwant its initrd by MAC", got)
	}
	if got := bootScript(&o, mac, 4, ""); !strings.Contains(got, "\ninitrd http://10.99.0.1/initramfs\n") {
		t.Errorf("bootScript of a node without a boot file:\n%s\nwant the common initrd", got)
	}
	if got := bootScript(&o, mac, -1, ""); strings.Contains(got, "bproc.node") || strings.Contains(got, "?mac") {
		t.Errorf("bootScript of an unknown node names a node:\n%s", got)
	}
	o.HTTPPort = 8080
	if got, want := chainScript(&o), "#!ipxe\nchain http://10.99.0.1:8080/boot.ipxe?mac=${netX/mac}\n"; got != want {
		t.Errorf("chainScript = %q, want %q", got, want)
	}
	if got, want := o.bootScriptURL(mac), "http://10.99.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56"; got != want {
		t.Errorf("bootScriptURL = %q, want %q", got, want)
	}
}

func TestCleanName(t *testing.T) {
	tests := map[string]string{
		"undionly.kpxe":        "undionly.kpxe",
		"/undionly.kpxe":       "undionly.kpxe",
		"efi/ipxe.efi":         "efi/ipxe.efi",
		"../etc/passwd":        "",
		"/../etc/passwd":       "",
		"//etc/passwd":         "",
		"a/../../b":            "",
		"a/./b":                "",
		"a//b":                 "",
		"dir/":                 "",
		".":                    "",
		"":                     "",
		"..\\windows":          "",
		"boot\\bcd":            "",
		"kernel\x00.txt":       "",
		"/":                    "",
		"pxelinux.cfg/default": "pxelinux.cfg/default",
	}
	for in, want := range tests {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCleanName: whatever is accepted cannot leave the table's root.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "/a/b", "../x", "a/../../b", "a\\b", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cleanName(s)
		if got == "" {
			return
		}
		if strings.HasPrefix(got, "/") || strings.Contains(got, "\\") ||
			filepath.Clean(got) != got || got == ".." || strings.HasPrefix(got, "../") {
			t.Fatalf("cleanName(%q) = %q: not a clean relative name", s, got)
		}
	})
}
