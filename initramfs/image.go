package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/crypto/ssh"
)

// Write writes the image o describes to w: gzip-compressed newc cpio, or
// plain cpio with o.Uncompressed. The same inputs give the same bytes.
func Write(w io.Writer, o Options) error {
	im, err := plan(o)
	if err != nil {
		return err
	}
	return im.write(w, !o.Uncompressed)
}

// image is the planned content: every file, link, device and directory by
// its absolute path in the image.
type image struct {
	entries map[string]entry
}

type entry struct {
	mode uint64 // cpio.S_IF* | permissions
	data []byte // file content, or a symlink's target
	// rmajor and rminor are a device node's numbers.
	rmajor, rminor uint64
}

// Mount points and places every node uses. /tmp is sticky and world
// writable as on any system; /root is root's alone.
var baseDirs = []struct {
	path string
	perm uint64
}{
	{"/bin", 0o755}, {"/dev", 0o755}, {"/dev/pts", 0o755}, {"/etc", 0o755},
	{"/proc", 0o555}, {"/root", 0o700}, {"/run", 0o755}, {"/sys", 0o555},
	{"/tmp", 0o1777}, {KeyDir, 0o700},
}

// plan reads every input and lays out the image. Everything is read here,
// once, so what Build hashes is exactly what it writes even if a file
// changes meanwhile.
func plan(o Options) (*image, error) {
	o = o.withDefaults()
	im := &image{entries: make(map[string]entry)}
	for _, d := range baseDirs {
		im.entries[d.path] = entry{mode: cpio.S_IFDIR | d.perm}
	}
	// The kernel opens /dev/console for PID 1's stdin, stdout and stderr
	// before /init runs; without this node the node's /init starts with no
	// file descriptors 0-2 and its early messages go nowhere.
	im.entries["/dev/console"] = entry{mode: cpio.S_IFCHR | 0o600, rmajor: 5, rminor: 1}

	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("initramfs: binary: %w", err)
	}
	if len(bin) == 0 {
		return nil, fmt.Errorf("initramfs: binary %s: empty file", o.Binary)
	}
	im.entries[InitPath] = entry{mode: cpio.S_IFREG | 0o755, data: bin}

	for _, a := range o.Applets {
		if !isName(a) {
			return nil, fmt.Errorf("initramfs: applet %q: %w", a, ErrBadPath)
		}
		if err := im.add(path.Join(AppletDir, a), entry{mode: cpio.S_IFLNK | 0o777, data: []byte(InitPath)}); err != nil {
			return nil, fmt.Errorf("initramfs: applet %s: %w", a, err)
		}
	}

	if err := im.addKeys(o); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}

	if len(o.Modules)+len(o.OptionalModules) > 0 {
		ms, err := resolveModules(o.ModulesDir, o.KernelVersion, o.Modules, o.OptionalModules)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		if err := im.addModules(ms); err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
	}

	for p, data := range o.Files {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return nil, fmt.Errorf("initramfs: extra file %q: %w (want an absolute clean path)", p, ErrBadPath)
		}
		if err := im.add(p, entry{mode: cpio.S_IFREG | 0o644, data: data}); err != nil {
			return nil, fmt.Errorf("initramfs: extra file %s: %w", p, err)
		}
	}
	return im, nil
}

// addKeys adds the master's host key, which nodes pin; parsed here so a
// wrong path fails the build, not every node's boot. No private key goes
// in: the image is served to whoever asks.
func (im *image) addKeys(o Options) error {
	if o.HostKeyPub == "" {
		return fmt.Errorf("keys: the host key path is required")
	}
	host, err := os.ReadFile(o.HostKeyPub)
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey(host); err != nil {
		return fmt.Errorf("host key %s: %w", o.HostKeyPub, err)
	}
	im.entries[HostKeyPath] = entry{mode: cpio.S_IFREG | 0o644, data: host}
	return nil
}

// addModules puts a kernel's module files at their place under
// /lib/modules/VER with the cut-down modules.dep, and lists the load order.
func (im *image) addModules(ms *moduleSet) error {
	dir := path.Join(ModulesRoot, ms.version)
	var order bytes.Buffer
	for _, f := range ms.files {
		if err := im.add(path.Join(dir, f.rel), entry{mode: cpio.S_IFREG | 0o644, data: f.data}); err != nil {
			return fmt.Errorf("module %s: %w", f.rel, err)
		}
		order.WriteString(moduleName(f.rel))
		order.WriteByte('\n')
	}
	if err := im.add(path.Join(dir, "modules.dep"), entry{mode: cpio.S_IFREG | 0o644, data: ms.dep}); err != nil {
		return err
	}
	if ms.builtin != nil {
		if err := im.add(path.Join(dir, "modules.builtin"), entry{mode: cpio.S_IFREG | 0o644, data: ms.builtin}); err != nil {
			return err
		}
	}
	return im.add(ModuleListPath, entry{mode: cpio.S_IFREG | 0o644, data: order.Bytes()})
}

// add places e at p, refusing to replace anything: two inputs that want
// the same path are a mistake to report, not a race for the last writer.
func (im *image) add(p string, e entry) error {
	if _, ok := im.entries[p]; ok {
		return fmt.Errorf("%s: already in the image", p)
	}
	im.entries[p] = e
	return nil
}

// records returns the image as cpio records in path order, with a
// directory for every parent. The kernel's unpacker does not create missing
// parents (a file whose directory is not there yet is dropped), and sorted
// paths put every directory before what it holds.
func (im *image) records() ([]cpio.Record, error) {
	all := make(map[string]entry, len(im.entries))
	for p, e := range im.entries {
		all[p] = e
	}
	for p := range im.entries {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			e, ok := all[d]
			if !ok {
				all[d] = entry{mode: cpio.S_IFDIR | 0o755}
				continue
			}
			if e.mode&cpio.S_IFMT != cpio.S_IFDIR {
				return nil, fmt.Errorf("initramfs: %s: parent %s is not a directory: %w", p, d, ErrBadPath)
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	recs := make([]cpio.Record, 0, len(paths))
	for i, p := range paths {
		e := all[p]
		info := cpio.Info{
			// Distinct inode numbers with one link each: both the kernel
			// and GNU cpio treat equal (ino, nlink > 1) pairs as hard
			// links. MTime, UID and GID stay 0 so equal inputs give
			// equal bytes.
			Ino:    uint64(i + 1),
			Mode:   e.mode,
			NLink:  1,
			Rmajor: e.rmajor,
			Rminor: e.rminor,
			Name:   cpio.Normalize(p),
		}
		if e.mode&cpio.S_IFMT == cpio.S_IFDIR {
			info.NLink = 2
		}
		recs = append(recs, cpio.StaticRecord(e.data, info))
	}
	return recs, nil
}

// write writes the archive, through gzip when compress is set.
func (im *image) write(w io.Writer, compress bool) error {
	recs, err := im.records()
	if err != nil {
		return err
	}
	if !compress {
		return writeCPIO(w, recs)
	}
	// The default level: measured on an 8.3 MB image (bproc plus the
	// virtio modules), it gives 3.37 MB in 0.3 s; BestCompression saves
	// 9 kB for a second more, level 1 costs 380 kB.
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return fmt.Errorf("initramfs: gzip: %w", err)
	}
	if err := writeCPIO(zw, recs); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("initramfs: write: %w", err)
	}
	return nil
}

func writeCPIO(w io.Writer, recs []cpio.Record) error {
	rw := cpio.Newc.Writer(w)
	if err := cpio.WriteRecords(rw, recs); err != nil {
		return fmt.Errorf("initramfs: write: %w", err)
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("initramfs: write: %w", err)
	}
	return nil
}
