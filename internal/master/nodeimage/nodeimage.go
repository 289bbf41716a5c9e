// Package nodeimage turns the master's configuration into the node image
// and the boot services that hand it out: the glue between config,
// initramfs and netboot that bpmaster and bproc mkimage share.
package nodeimage

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bproc/bproc/initramfs"
	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/netboot"
)

// Applets are linked into the image as /bin/NAME -> /init.
var Applets = []string{"bpcp", "bpctl", "bpmaster", "bprsh", "bpsh", "bpslave", "bpstat"}

// ErrNoBoot: the configuration does not ask for boot services.
var ErrNoBoot = errors.New("the config has no interface and kernel lines: no network boot")

// Options builds the initramfs options for the configured kernel.
func Options(cfg *config.Config, stateDir string) (initramfs.Options, error) {
	if cfg.Kernel == "" {
		return initramfs.Options{}, fmt.Errorf("node image: the config names no kernel")
	}
	// The kernel is not in the image, but nodes boot it beside the image:
	// one that is not there is the same failure, found before any node
	// tries.
	if fi, err := os.Stat(cfg.Kernel); err != nil {
		return initramfs.Options{}, fmt.Errorf("node image: kernel: %w", err)
	} else if !fi.Mode().IsRegular() {
		return initramfs.Options{}, fmt.Errorf("node image: kernel %s: not a regular file", cfg.Kernel)
	}
	ver, modDir := "", initramfs.DefaultModulesDir
	if cfg.ModulesDir != "" {
		modDir, ver = filepath.Dir(cfg.ModulesDir), filepath.Base(cfg.ModulesDir)
	} else {
		v, err := initramfs.VersionOf(cfg.Kernel)
		if err != nil {
			return initramfs.Options{}, fmt.Errorf("node image: %w", err)
		}
		ver = v
	}
	return initramfs.Options{
		Applets:         Applets,
		KernelVersion:   ver,
		ModulesDir:      modDir,
		Modules:         cfg.Modules,
		OptionalModules: append(append([]string(nil), initramfs.DefaultNICModules...), initramfs.ViewModules...),
		HostKeyPub:      initramfs.HostKeyFile(stateDir),
		CacheDir:        filepath.Join(stateDir, "images"),
	}, nil
}

// BootOptions are the netboot services for cfg: DHCP for the nodes of the
// node table on the config's interface, the kernel and the image built
// from this binary.
//
// The DHCP server finds nodes by MAC in live(), the configuration in force
// (it changes on SIGHUP and bpctl --add-node); nil means cfg.
func BootOptions(cfg *config.Config, live func() *config.Config, stateDir string, masterPort int, log *slog.Logger) (netboot.Options, error) {
	if live == nil {
		live = func() *config.Config { return cfg }
	}
	if len(cfg.Interfaces) == 0 || cfg.Kernel == "" {
		return netboot.Options{}, ErrNoBoot
	}
	iface := cfg.Interfaces[0]
	addr := iface.Addr
	if !addr.IsValid() {
		a, err := interfaceAddr(iface.Name)
		if err != nil {
			return netboot.Options{}, err
		}
		addr = a
	}
	img, err := Options(cfg, stateDir)
	if err != nil {
		return netboot.Options{}, err
	}
	path, err := initramfs.Build(img)
	if err != nil {
		return netboot.Options{}, err
	}
	log.Info("node image ready", "path", path, "kernel", cfg.Kernel)
	WarnBootFiles(cfg, log)
	o := netboot.Options{
		Interface: iface.Name,
		Addr:      addr,
		Lookup: func(mac net.HardwareAddr) (netip.Addr, int, bool) {
			cfg := live()
			num, ok := cfg.NodeByMAC(mac)
			if !ok {
				return netip.Addr{}, 0, false
			}
			n, _ := cfg.Node(num)
			return n.Addr(), num, n.Addr().IsValid()
		},
		OnUnknown: func(mac net.HardwareAddr) {
			log.Warn("unknown MAC asked for a lease; add it with bpctl --add-node or a node line", "mac", mac.String())
		},
		MasterPort: masterPort,
		Kernel:     netboot.FileSource(cfg.Kernel),
		Initramfs:  netboot.FileSource(path),
		NodeInitramfs: func(node int) netboot.Source {
			// A bootfile line replaces the built image; the file is opened
			// for every request, so a line changed on SIGHUP takes effect
			// at the node's next boot.
			if n, ok := live().Node(node); ok && n.BootFile != "" {
				return netboot.FileSource(n.BootFile)
			}
			return nil
		},
		Cmdline: kernelArgs(cfg),
		Logger:  log,
	}
	// Plain PXE ROMs chain to iPXE when the ipxe package is installed.
	o.TFTPFiles = netboot.IPXEFiles("")
	if _, ok := o.TFTPFiles[netboot.IPXEBIOS]; ok {
		o.BIOSBootFile = netboot.IPXEBIOS
	}
	if _, ok := o.TFTPFiles[netboot.IPXEEFI]; ok {
		o.EFIBootFile = netboot.IPXEEFI
	}
	return o, nil
}

// interfaceAddr is the first IPv4 address of the named interface.
func interfaceAddr(name string) (netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			ones, _ := ipn.Mask.Size()
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			return netip.PrefixFrom(ip, ones), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("interface %s has no IPv4 address", name)
}

// kernelArgs is what the config adds to a node's kernel command line: its
// own kernelcommandline, the node cache's limit and its tmpfs size.
func kernelArgs(cfg *config.Config) string {
	args := cfg.KernelCmdline
	if cfg.CacheSize > 0 {
		args = strings.TrimSpace(args + " bproc.cachesize=" + strconv.FormatInt(cfg.CacheSize, 10))
	}
	if cfg.TmpSize > 0 {
		args = strings.TrimSpace(args + " bproc.tmpsize=" + strconv.FormatInt(cfg.TmpSize, 10))
	}
	return args
}

// WarnBootFiles logs each bootfile that cannot be read now: its nodes
// would fail to boot (the HTTP request is refused and logged too).
func WarnBootFiles(cfg *config.Config, log *slog.Logger) {
	seen := map[string]bool{}
	for _, n := range cfg.Nodes() {
		if n.BootFile == "" || seen[n.BootFile] {
			continue
		}
		seen[n.BootFile] = true
		f, err := os.Open(n.BootFile)
		if err != nil {
			log.Warn("bootfile cannot be read: its nodes will not boot", "file", n.BootFile, "err", err)
			continue
		}
		f.Close()
	}
}
