package elfclosure

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The layouts below are glibc's sysdeps/generic/dl-cache.h. ldconfig has
// written only the new format since glibc 2.32; older caches begin with
// the libc5-era format and carry the new one after it, and a very old
// cache has the old format alone. All three are read.
const (
	cacheMagicOld = "ld.so-1.7.0"
	cacheMagicNew = "glibc-ld.so.cache1.1"

	oldHeaderSize = 16 // magic[11], pad, uint32 nlibs
	oldEntrySize  = 12 // int32 flags, uint32 key, uint32 value
	newHeaderSize = 48 // magic[20], nlibs, len_strings, flags, pad[3], extension_offset, unused[3]
	newEntrySize  = 24 // flags, key, value, osversion, uint64 hwcap

	extensionMagic        = 0xeaa42174
	extensionTagGenerator = 0 // cache_extension_tag_generator
	extensionTagHWCap     = 1 // cache_extension_tag_glibc_hwcaps

	// An entry whose hwcap has bit 62 names a glibc-hwcaps subdirectory
	// (by index into the extension's list) instead of legacy hwcap bits.
	hwcapExtension = uint64(1) << 62
)

// CacheFlags are an ld.so.cache entry's flags: the kind of library in the
// low byte and the ABI it needs in the high one (dl-cache.h's FLAG_*).
type CacheFlags uint32

// The values of dl-cache.h that the loader compares against.
const (
	FlagELF      CacheFlags = 0x0001 // an ELF library of unknown ABI
	FlagELFLibc6 CacheFlags = 0x0003

	flagTypeMask     CacheFlags = 0x00ff
	flagRequiredMask CacheFlags = 0xff00
)

// flagRequiredNames are how ldconfig -p names the ABI byte (print_entry in
// glibc's elf/cache.c), so String matches its output; indexed by that byte
// (an array: static data, where a map would be built at every start of the
// binary).
var flagRequiredNames = [...]string{
	0x01: ",64bit",  // SPARC
	0x02: ",IA-64",  // IA-64
	0x03: ",x86-64", // x86-64
	0x04: ",64bit",  // s390x
	0x05: ",64bit",  // ppc64
	0x06: ",N32",    // MIPS n32
	0x07: ",64bit",  // MIPS n64
	0x08: ",x32",    // x32
	0x09: ",hard-float",
	0x0a: ",AArch64",
	0x0b: ",soft-float", // ARM
	0x0c: ",nan2008",
	0x0d: ",N32,nan2008",
	0x0e: ",64bit,nan2008",
	0x0f: ",soft-float",   // RISC-V
	0x10: ",double-float", // RISC-V
	0x11: ",soft-float",   // LoongArch
	0x12: ",double-float", // LoongArch
}

// String is the flags as ldconfig -p prints them: "libc6,x86-64".
func (f CacheFlags) String() string {
	var b strings.Builder
	switch f & flagTypeMask {
	case FlagELF:
		b.WriteString("ELF")
	case FlagELFLibc6:
		b.WriteString("libc6")
	default:
		b.WriteString("unknown")
	}
	if req := f & flagRequiredMask; req != 0 {
		if i := int(req >> 8); i < len(flagRequiredNames) && flagRequiredNames[i] != "" {
			b.WriteString(flagRequiredNames[i])
		} else {
			fmt.Fprintf(&b, ",%d", req)
		}
	}
	return b.String()
}

// CacheEntry is one library of the cache.
type CacheEntry struct {
	Name  string // the soname asked for: "libc.so.6"
	Path  string // where it is: "/lib/x86_64-linux-gnu/libc.so.6"
	Flags CacheFlags
	// HWCap is the raw hwcap word; HWCapDir is the glibc-hwcaps
	// subdirectory it names ("x86-64-v3"), when it names one. An entry
	// with either is used only on CPUs that have the capability.
	HWCap    uint64
	HWCapDir string
}

// String is the entry as a line of ldconfig -p, without the leading tab.
func (e CacheEntry) String() string {
	s := e.Name + " (" + e.Flags.String()
	switch {
	case e.HWCapDir != "":
		s += fmt.Sprintf(", hwcap: %q", e.HWCapDir)
	case e.HWCap != 0:
		s += fmt.Sprintf(", hwcap: %#.16x", e.HWCap)
	}
	return s + ") => " + e.Path
}

// LDCache is a parsed /etc/ld.so.cache.
type LDCache struct {
	Entries   []CacheEntry // in the file's order, which ldconfig -p prints
	Generator string       // the ldconfig that wrote it, when it says
	byName    map[string][]int
}

// ErrBadCache is wrapped by every error about a malformed cache.
var ErrBadCache = errors.New("malformed ld.so.cache")

func badCache(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadCache, fmt.Sprintf(format, args...))
}

// ParseLDCache reads a cache in any of glibc's formats. Every offset is
// checked against the data before use: the cache comes from the master's
// disk but a bad one must give an error, never a panic.
func ParseLDCache(data []byte) (*LDCache, error) {
	switch {
	case bytes.HasPrefix(data, []byte(cacheMagicNew)):
		return parseNew(data)
	case bytes.HasPrefix(data, []byte(cacheMagicOld)):
		if len(data) < oldHeaderSize {
			return nil, badCache("old header: %d bytes", len(data))
		}
		// The old format has no byte-order mark; the new part after it
		// has one, and the loader then uses only the new part.
		nlibs := uint64(binary.LittleEndian.Uint32(data[12:]))
		end := uint64(oldHeaderSize) + nlibs*oldEntrySize
		if end > uint64(len(data)) {
			return nil, badCache("old format: %d entries do not fit in %d bytes", nlibs, len(data))
		}
		newStart := (end + 7) &^ 7 // ALIGN_CACHE
		if newStart < uint64(len(data)) && bytes.HasPrefix(data[newStart:], []byte(cacheMagicNew)) {
			return parseNew(data[newStart:])
		}
		return parseOld(data, nlibs)
	default:
		return nil, badCache("no ld.so.cache magic")
	}
}

func parseNew(data []byte) (*LDCache, error) {
	if len(data) < newHeaderSize {
		return nil, badCache("header: %d bytes, want %d", len(data), newHeaderSize)
	}
	var bo binary.ByteOrder
	switch data[28] & 3 {
	case 0: // written before glibc 2.33: the writer's own order, which is ours
		bo = binary.NativeEndian
	case 2:
		bo = binary.LittleEndian
	case 3:
		bo = binary.BigEndian
	default:
		return nil, badCache("byte order flag %#x", data[28])
	}
	nlibs := uint64(bo.Uint32(data[20:]))
	if uint64(newHeaderSize)+nlibs*newEntrySize > uint64(len(data)) {
		return nil, badCache("%d entries do not fit in %d bytes", nlibs, len(data))
	}
	c := &LDCache{Entries: make([]CacheEntry, 0, nlibs)}
	hwcapDirs, err := c.parseExtensions(data, bo, bo.Uint32(data[32:]))
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < nlibs; i++ {
		e := data[newHeaderSize+i*newEntrySize:]
		// String offsets of the new format count from its own header.
		name, err := cString(data, bo.Uint32(e[4:]))
		if err != nil {
			return nil, fmt.Errorf("entry %d name: %w", i, err)
		}
		path, err := cString(data, bo.Uint32(e[8:]))
		if err != nil {
			return nil, fmt.Errorf("entry %d path: %w", i, err)
		}
		ent := CacheEntry{Name: name, Path: path, Flags: CacheFlags(bo.Uint32(e[0:])), HWCap: bo.Uint64(e[16:])}
		if ent.HWCap>>32 == hwcapExtension>>32 {
			idx := uint32(ent.HWCap)
			if uint64(idx) >= uint64(len(hwcapDirs)) {
				return nil, badCache("entry %d: glibc-hwcaps index %d of %d", i, idx, len(hwcapDirs))
			}
			ent.HWCapDir = hwcapDirs[idx]
		}
		c.Entries = append(c.Entries, ent)
	}
	c.index()
	return c, nil
}

// parseExtensions returns the glibc-hwcaps subdirectory names, and keeps
// the generator string.
func (c *LDCache) parseExtensions(data []byte, bo binary.ByteOrder, off uint32) ([]string, error) {
	if off == 0 {
		return nil, nil
	}
	start := uint64(off)
	if start+8 > uint64(len(data)) || start%4 != 0 {
		return nil, badCache("extension directory at %d of %d bytes", off, len(data))
	}
	if bo.Uint32(data[start:]) != extensionMagic {
		// ldconfig only writes the directory with its magic; without it
		// the loader ignores the extensions, and so do we.
		return nil, nil
	}
	count := uint64(bo.Uint32(data[start+4:]))
	if start+8+count*16 > uint64(len(data)) {
		return nil, badCache("%d extension sections do not fit", count)
	}
	var dirs []string
	for i := uint64(0); i < count; i++ {
		s := data[start+8+i*16:]
		tag := bo.Uint32(s)
		secOff, secSize := uint64(bo.Uint32(s[8:])), uint64(bo.Uint32(s[12:]))
		if secOff+secSize > uint64(len(data)) {
			return nil, badCache("extension %d at %d, %d bytes, of %d", tag, secOff, secSize, len(data))
		}
		switch tag {
		case extensionTagGenerator:
			c.Generator = string(data[secOff : secOff+secSize])
			continue
		case extensionTagHWCap:
		default:
			continue
		}
		if secSize%4 != 0 {
			return nil, badCache("glibc-hwcaps section of %d bytes", secSize)
		}
		for j := uint64(0); j < secSize; j += 4 {
			name, err := cString(data, bo.Uint32(data[secOff+j:]))
			if err != nil {
				return nil, fmt.Errorf("glibc-hwcaps name %d: %w", j/4, err)
			}
			dirs = append(dirs, name)
		}
	}
	return dirs, nil
}

func parseOld(data []byte, nlibs uint64) (*LDCache, error) {
	// Old string offsets count from the end of the entry table.
	strs := data[oldHeaderSize+nlibs*oldEntrySize:]
	c := &LDCache{Entries: make([]CacheEntry, 0, nlibs)}
	for i := uint64(0); i < nlibs; i++ {
		e := data[oldHeaderSize+i*oldEntrySize:]
		name, err := cString(strs, binary.LittleEndian.Uint32(e[4:]))
		if err != nil {
			return nil, fmt.Errorf("entry %d name: %w", i, err)
		}
		path, err := cString(strs, binary.LittleEndian.Uint32(e[8:]))
		if err != nil {
			return nil, fmt.Errorf("entry %d path: %w", i, err)
		}
		c.Entries = append(c.Entries, CacheEntry{Name: name, Path: path, Flags: CacheFlags(binary.LittleEndian.Uint32(e))})
	}
	c.index()
	return c, nil
}

func cString(data []byte, off uint32) (string, error) {
	if uint64(off) >= uint64(len(data)) {
		return "", badCache("string at %d of %d bytes", off, len(data))
	}
	s := data[off:]
	n := bytes.IndexByte(s, 0)
	if n < 0 {
		return "", badCache("string at %d not terminated", off)
	}
	return string(s[:n]), nil
}

func (c *LDCache) index() {
	c.byName = make(map[string][]int, len(c.Entries))
	for i, e := range c.Entries {
		c.byName[e.Name] = append(c.byName[e.Name], i)
	}
}

// Lookup returns the entries for name that the loader of an ABI (its
// _DL_CACHE_DEFAULT_ID, as 0x0303 for x86-64) may take, best first: the
// glibc-hwcaps ones and the legacy hwcap ones, which it takes on CPUs
// that have the capability, then the one it takes otherwise. That one is
// the first entry of exactly the ABI's flags, or failing that the last
// plain ELF one (search_cache in glibc's elf/dl-cache.c). An abi of 0
// takes every ELF entry, the first unconditional one last.
func (c *LDCache) Lookup(name string, abi CacheFlags) []CacheEntry {
	var named, legacy []CacheEntry
	var plain *CacheEntry
	for _, i := range c.byName[name] {
		e := c.Entries[i]
		switch {
		case abi == 0 && e.Flags&flagTypeMask != FlagELF && e.Flags&flagTypeMask != FlagELFLibc6:
			continue
		case abi != 0 && e.Flags != abi && e.Flags != FlagELF:
			continue
		case e.HWCapDir != "":
			named = append(named, e)
		case e.HWCap != 0:
			legacy = append(legacy, e)
		case plain != nil && (plain.Flags == abi || abi == 0):
			// The loader stops at the first entry of its own flags.
		default:
			plain = &e
		}
	}
	out := append(named, legacy...)
	if plain != nil {
		out = append(out, *plain)
	}
	return out
}
