// Package netboot is the master's boot service for diskless nodes: DHCP
// that answers only the MACs of the node table, TFTP for PXE ROMs that
// must first chain to iPXE, HTTP for the iPXE script, kernel and
// initramfs, and IPv6 router advertisements so iPXE does not wait for
// IPv6 autoconfiguration.
//
// A node boots like this: its PXE ROM asks DHCP and is told to fetch an
// iPXE binary over TFTP; iPXE asks DHCP again, now with user class
// "iPXE", and is told the URL of /boot.ipxe; the script loads /kernel and
// /initramfs over HTTP with bproc.master=IP:PORT and bproc.node=N on the
// kernel command line. A ROM that already is iPXE (QEMU's) skips TFTP.
package netboot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Defaults for the zero values of Options.
const (
	DefaultHTTPPort        = 80
	DefaultTFTPPort        = 69
	DefaultLeaseTime       = 24 * time.Hour
	DefaultUnknownInterval = time.Minute
	// DefaultIPXEDir is where Debian's ipxe package installs its binaries.
	DefaultIPXEDir = "/usr/lib/ipxe"
)

// OptionMaster is the DHCP option that carries the master's "IP:PORT" as
// text (224-254 are site-specific, RFC 3942), so a node that was not
// booted by our iPXE script, and so has no bproc.master= on its kernel
// command line, still finds the master.
const OptionMaster = 224

// Lookup finds the node that owns a MAC: its address and node number.
// It is called for every DHCP and HTTP request, so it should be a map
// lookup, and it must be safe for concurrent use.
type Lookup func(mac net.HardwareAddr) (ip netip.Addr, node int, ok bool)

// Source opens one boot file. It is called on every request, so a file
// that is rebuilt between requests (the initramfs) is served whole and
// current. The caller closes what it returns.
type Source func() (io.ReadSeekCloser, error)

// FileSource serves the file at path, opened anew for every request.
func FileSource(path string) Source {
	return func() (io.ReadSeekCloser, error) {
		return os.Open(path)
	}
}

// BytesSource serves b. b must not change afterwards.
func BytesSource(b []byte) Source {
	return func() (io.ReadSeekCloser, error) {
		return nopCloser{bytes.NewReader(b)}, nil
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// Well-known iPXE binaries of Debian's ipxe package: undionly.kpxe chains
// from a BIOS PXE ROM through its UNDI driver; ipxe.efi is for x86-64 UEFI.
const (
	IPXEBIOS = "undionly.kpxe"
	IPXEEFI  = "ipxe.efi"
)

// IPXEFiles returns the iPXE binaries found in dir (DefaultIPXEDir if
// empty), keyed by TFTP name, for Options.TFTPFiles. Missing ones are left
// out: a cluster of iPXE-ROM machines (QEMU) needs none.
func IPXEFiles(dir string) map[string]Source {
	if dir == "" {
		dir = DefaultIPXEDir
	}
	files := make(map[string]Source)
	for _, name := range []string{IPXEBIOS, IPXEEFI} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			files[name] = FileSource(p)
		}
	}
	return files
}

// Options configure the boot services on one interface.
type Options struct {
	// Interface is the cluster interface; DHCP and router advertisements
	// are bound to it so other networks of the master never see them.
	Interface string
	// Addr is the master's IPv4 address on Interface with the subnet's
	// prefix length, e.g. 10.0.0.1/24. It is the DHCP server identifier,
	// router and next-server, and where TFTP and HTTP listen.
	Addr netip.Prefix
	// Lookup maps a MAC to its node. Required.
	Lookup Lookup
	// OnUnknown, if set, is called with a MAC that asked for a lease and
	// is not in the node table, at most once per UnknownInterval per MAC
	// (discovery: "bpctl --add-node MAC"). It runs on the DHCP loop and
	// must not block.
	OnUnknown       func(mac net.HardwareAddr)
	UnknownInterval time.Duration

	// MasterPort is the port nodes dial (bproc.master=IP:PORT).
	MasterPort int
	// Kernel and Initramfs are served over HTTP as /kernel and
	// /initramfs, and over TFTP as "kernel" and "initramfs".
	Kernel, Initramfs Source
	// NodeInitramfs, if set, is the initramfs of a node that boots
	// something else than Initramfs (the config's bootfile lines), nil
	// for one that boots Initramfs. Such a node's script asks for
	// /initramfs?mac=MAC. It is called for every script and initramfs
	// request, so the answer may follow a configuration that changes.
	NodeInitramfs func(node int) Source
	// MintToken, if set, makes the one-time boot token of node (package
	// nodeauth) that its script puts on the kernel command line as
	// bproc.token=: called only for a known MAC whose script request came
	// from the address that MAC's lease gives.
	MintToken func(node int, mac net.HardwareAddr, ip netip.Addr) (string, error)
	// Cmdline is appended to the kernel command line after
	// "console=ttyS0 bproc.master=IP:PORT bproc.node=N".
	Cmdline string
	// TFTPFiles are further files served over TFTP by name, typically
	// IPXEFiles("").
	TFTPFiles map[string]Source
	// BIOSBootFile and EFIBootFile are the TFTP names given to plain PXE
	// ROMs (not yet iPXE) of BIOS and x86-64 UEFI machines. Empty: such
	// ROMs get an address but no boot file.
	BIOSBootFile, EFIBootFile string

	HTTPPort  int
	TFTPPort  int
	LeaseTime time.Duration
	// NoRA turns off the router advertisement responder (a master that
	// is an IPv6 router of this link already answers solicitations).
	NoRA bool

	Logger *slog.Logger
}

// ErrOptions is wrapped by every error about invalid Options.
var ErrOptions = errors.New("invalid boot options")

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...)
	}
	if o.Interface == "" {
		return bad("no interface")
	}
	if !o.Addr.IsValid() || !o.Addr.Addr().Is4() {
		return bad("address %v: want an IPv4 address with prefix length", o.Addr)
	}
	if o.Addr.Bits() < 1 || o.Addr.Bits() > 30 {
		return bad("address %v: prefix length must be 1..30", o.Addr)
	}
	if o.Lookup == nil {
		return bad("no node lookup")
	}
	// The command line goes into an iPXE script line: a newline would
	// start a new command.
	if strings.ContainsAny(o.Cmdline, "\r\n") {
		return bad("kernel command line %q has a line break", o.Cmdline)
	}
	for name := range o.TFTPFiles {
		if cleanName(name) != name {
			return bad("tftp file name %q: want a relative path without . or ..", name)
		}
	}
	for _, f := range []string{o.BIOSBootFile, o.EFIBootFile} {
		if f != "" && o.tftpSource(f) == nil {
			return bad("boot file %q is not among the tftp files", f)
		}
	}
	if o.MasterPort == 0 {
		o.MasterPort = wire.DefaultPort
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = DefaultHTTPPort
	}
	if o.TFTPPort == 0 {
		o.TFTPPort = DefaultTFTPPort
	}
	for _, p := range []int{o.MasterPort, o.HTTPPort, o.TFTPPort} {
		if p < 1 || p > 65535 {
			return bad("port %d out of range", p)
		}
	}
	if o.LeaseTime <= 0 {
		o.LeaseTime = DefaultLeaseTime
	}
	if o.UnknownInterval <= 0 {
		o.UnknownInterval = DefaultUnknownInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// tftpSource returns the source of a TFTP name, nil if there is none.
func (o *Options) tftpSource(name string) Source {
	switch name {
	case "kernel":
		if o.Kernel != nil {
			return o.Kernel
		}
	case "initramfs":
		if o.Initramfs != nil {
			return o.Initramfs
		}
	}
	return o.TFTPFiles[name]
}

// master is what nodes dial.
func (o *Options) master() netip.AddrPort {
	return netip.AddrPortFrom(o.Addr.Addr(), uint16(o.MasterPort))
}

// baseURL is the HTTP root of the boot files, without a trailing slash.
func (o *Options) baseURL() string {
	if o.HTTPPort == 80 {
		return "http://" + o.Addr.Addr().String()
	}
	return "http://" + netip.AddrPortFrom(o.Addr.Addr(), uint16(o.HTTPPort)).String()
}
