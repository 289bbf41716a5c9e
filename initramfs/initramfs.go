// Package initramfs builds the image a netbooted node runs: a newc cpio
// archive, gzip-compressed, holding the master's own bproc binary as /init,
// the applet symlinks, the keys the node needs to reach the master, and the
// NIC kernel modules of the node kernel with their dependencies.
//
// Nothing is downloaded: the binary is the running one (/proc/self/exe), the
// modules come from the master's /lib/modules. Build keeps images in a cache
// directory under a hash of their contents, so the master rebuilds only when
// the binary, the modules or the keys change; Write produces the same bytes
// on any io.Writer (bproc mkimage -o FILE).
//
// The layout of an image:
//
//	/init                          the bproc binary, 0755
//	/bin/APPLET -> /init           one symlink per applet
//	/dev/console                   char 5,1, so the kernel has a console
//	                               before /init mounts devtmpfs
//	/proc /sys /dev/pts /tmp /run /etc /root   empty mount points
//	/var/lib/bproc/host_key.pub    the master's host key, pinned by the node
//	                               (no private key: the node makes its own
//	                               at boot, see package nodeauth)
//	/lib/modules/VER/...           module files, modules.dep (only the lines
//	                               of the modules carried), modules.builtin
//	/etc/bproc/modules             module names in load order
//	whatever Options.Files adds    e.g. the master's address
package initramfs

import (
	"errors"
	"path/filepath"

	"github.com/bproc/bproc/internal/shared/keys"
)

// Paths inside the image. The key paths are bpslave's defaults, so the
// node's /init needs no flags to find them.
const (
	InitPath    = "/init"
	AppletDir   = "/bin"
	KeyDir      = "/var/lib/bproc"
	HostKeyPath = KeyDir + "/" + keys.HostKeyFile + ".pub"
	// ModuleListPath names the modules to load, one per line, each after
	// the modules it needs; built-in ones are left out. A node loads them
	// in this order with u-root's kmodule (Probe or FileInit).
	ModuleListPath = "/etc/bproc/modules"
	// ModulesRoot is where module trees go, as /lib/modules/VER: the place
	// kmodule (and modprobe) look.
	ModulesRoot = "/lib/modules"
)

// Defaults for the zero values of Options.
const (
	// DefaultBinary is the running binary itself: unlike the path it was
	// started from, it still opens the binary that runs after an upgrade
	// has replaced the file, so nodes get the master's own version.
	DefaultBinary     = "/proc/self/exe"
	DefaultModulesDir = "/lib/modules"
)

// DefaultNICModules are network drivers worth carrying when the
// configuration names none; pass them as Options.OptionalModules, since no
// single kernel has them all (Debian's cloud kernel has no e1000). virtio_pci
// is listed on its own: it is the bus virtio_net's device sits on, and
// modules.dep does not list it because virtio_net does not link against it.
var DefaultNICModules = []string{"virtio_pci", "virtio_net", "e1000", "e1000e"}

// ViewModules are what a diskless node's view of the master's files needs
// (FUSE); carried when they are modules. Without them the node falls back
// to pushing programs.
var ViewModules = []string{"fuse"}

// Options say what goes into an image. Paths are on the master.
type Options struct {
	// Binary becomes /init; "" means the running binary, DefaultBinary.
	Binary string
	// Applets get a symlink AppletDir/NAME -> /init each.
	Applets []string

	// KernelVersion is the node kernel's release (uname -r there; see
	// VersionOf). Needed only when modules are asked for.
	KernelVersion string
	// ModulesDir holds one directory per kernel version; "" means
	// DefaultModulesDir.
	ModulesDir string
	// Modules must each be a module of the kernel (then it is carried with
	// its dependencies) or built into it (then nothing is carried); any
	// other name is an error (ErrUnknownModule). "-" and "_" are the same.
	Modules []string
	// OptionalModules are carried when the kernel has them as modules and
	// skipped quietly when it does not.
	OptionalModules []string

	// HostKeyPub is the master's host public key (authorized_keys format).
	// An image holds no private key: anyone on the boot network can fetch
	// it.
	HostKeyPub string

	// Files are extra files, absolute path in the image -> content, mode
	// 0644: the configuration the node needs (the master's address, say).
	Files map[string][]byte

	// CacheDir is where Build keeps images. Required by Build; created
	// 0700 (the images hold no secret, but only the master serves them).
	CacheDir string
	// Uncompressed writes a plain cpio instead of a gzip-compressed one.
	Uncompressed bool
}

// HostKeyFile returns the path of the master's host public key in a state
// directory (see package keys), ready for Options.
func HostKeyFile(stateDir string) string {
	return filepath.Join(stateDir, keys.HostKeyFile) + ".pub"
}

// Errors callers can test for with errors.Is.
var (
	// ErrUnknownModule: a name in Options.Modules is neither a module nor
	// built into the kernel.
	ErrUnknownModule = errors.New("no such module")
	// ErrBadPath: a path inside the image (applet, extra file, module path
	// from modules.dep) is not a clean path of its own.
	ErrBadPath = errors.New("bad path in image")
	// ErrNotKernel: the file given to VersionOf is not a bzImage.
	ErrNotKernel = errors.New("not a Linux bzImage")
)

func (o Options) withDefaults() Options {
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.ModulesDir == "" {
		o.ModulesDir = DefaultModulesDir
	}
	return o
}
