package elfclosure

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// elfInfo is what the kernel and the loader read of one ELF file.
type elfInfo struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine
	flags   uint32 // e_flags: the float ABI on ARM and RISC-V
	typ     elf.Type

	interp  string // PT_INTERP: the ELF interpreter; "" for a static program
	dynamic bool   // has PT_DYNAMIC

	needed     []dep // DT_NEEDED, DT_AUXILIARY and DT_FILTER, in the section's order
	soname     string
	rpath      string
	runpath    string
	hasRPath   bool // false too when DT_RUNPATH is there: the loader then ignores DT_RPATH
	hasRunpath bool
	noDefLib   bool // DF_1_NODEFLIB: no cache, no default directories
	pie        bool // DF_1_PIE: the loader refuses to load it as a library
}

// dep is a library an object asks for.
type dep struct {
	name     string
	optional bool // DT_AUXILIARY: the loader goes on without it
}

// Limits on what is read of a file, far above anything real, so that a
// malformed header cannot make us allocate gigabytes.
const (
	maxDynamicSize = 1 << 20
	maxStrtabSize  = 64 << 20
	maxInterpSize  = 4096 // PATH_MAX: the kernel refuses a longer PT_INTERP
)

var errBadELF = errors.New("malformed ELF")

// readELF reads the headers and the dynamic section the way the loader
// does: through the program headers (PT_INTERP, PT_DYNAMIC and the
// DT_STRTAB address mapped by PT_LOAD), never the section headers, which
// strip --strip-section-headers or sstrip may have removed.
func readELF(r io.ReaderAt, size int64) (*elfInfo, error) {
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: headers cut short (%d bytes)", errBadELF, size)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadELF, err)
	}
	info := &elfInfo{class: f.Class, data: f.Data, machine: f.Machine, typ: f.Type}
	var hdr [64]byte
	if n, _ := r.ReadAt(hdr[:], 0); n >= 52 {
		// debug/elf does not keep e_flags; it sits at 36 (ELF32) or 48 (ELF64).
		off := 36
		if f.Class == elf.ELFCLASS64 {
			off = 48
		}
		if n >= off+4 {
			info.flags = f.ByteOrder.Uint32(hdr[off:])
		}
	}
	var dynamic *elf.Prog
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			if p.Filesz < 2 || p.Filesz > maxInterpSize {
				return nil, fmt.Errorf("%w: PT_INTERP of %d bytes", errBadELF, p.Filesz)
			}
			b := make([]byte, p.Filesz)
			if _, err := r.ReadAt(b, int64(p.Off)); err != nil {
				return nil, fmt.Errorf("read PT_INTERP: %w", err)
			}
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			info.interp = string(b)
		case elf.PT_DYNAMIC:
			dynamic = p
		}
	}
	if dynamic == nil {
		return info, nil
	}
	info.dynamic = true
	if err := readDynamic(f, r, size, dynamic, info); err != nil {
		return nil, err
	}
	return info, nil
}

func readDynamic(f *elf.File, r io.ReaderAt, size int64, p *elf.Prog, info *elfInfo) error {
	if p.Filesz > maxDynamicSize || p.Off > uint64(size) || p.Filesz > uint64(size)-p.Off {
		return fmt.Errorf("%w: PT_DYNAMIC at %d, %d bytes, in a file of %d", errBadELF, p.Off, p.Filesz, size)
	}
	raw := make([]byte, p.Filesz)
	if _, err := r.ReadAt(raw, int64(p.Off)); err != nil {
		return fmt.Errorf("read PT_DYNAMIC: %w", err)
	}
	type entry struct {
		tag elf.DynTag
		val uint64
	}
	var entries []entry
	var strtab, strsz uint64
	var haveStrtab bool
	entSize := 8
	if f.Class == elf.ELFCLASS64 {
		entSize = 16
	}
	for off := 0; off+entSize <= len(raw); off += entSize {
		var e entry
		if entSize == 16 {
			e = entry{elf.DynTag(f.ByteOrder.Uint64(raw[off:])), f.ByteOrder.Uint64(raw[off+8:])}
		} else {
			e = entry{elf.DynTag(int32(f.ByteOrder.Uint32(raw[off:]))), uint64(f.ByteOrder.Uint32(raw[off+4:]))}
		}
		if e.tag == elf.DT_NULL {
			break
		}
		switch e.tag {
		case elf.DT_STRTAB:
			strtab, haveStrtab = e.val, true
		case elf.DT_STRSZ:
			strsz = e.val
		case elf.DT_FLAGS_1:
			info.noDefLib = e.val&uint64(elf.DF_1_NODEFLIB) != 0
			info.pie = e.val&uint64(elf.DF_1_PIE) != 0
		}
		entries = append(entries, e)
	}
	var strs []byte
	for _, e := range entries {
		switch e.tag {
		case elf.DT_NEEDED, elf.DT_AUXILIARY, elf.DT_FILTER, elf.DT_SONAME, elf.DT_RPATH, elf.DT_RUNPATH:
		default:
			continue
		}
		if strs == nil {
			if !haveStrtab {
				return fmt.Errorf("%w: %v without DT_STRTAB", errBadELF, e.tag)
			}
			var err error
			if strs, err = readStrtab(f, r, size, strtab, strsz); err != nil {
				return err
			}
		}
		if e.val >= uint64(len(strs)) {
			return fmt.Errorf("%w: %v string at %d of a %d-byte table", errBadELF, e.tag, e.val, len(strs))
		}
		s := strs[e.val:]
		n := bytes.IndexByte(s, 0)
		if n < 0 {
			return fmt.Errorf("%w: %v string at %d not terminated", errBadELF, e.tag, e.val)
		}
		str := string(s[:n])
		switch e.tag {
		case elf.DT_NEEDED, elf.DT_FILTER:
			info.needed = append(info.needed, dep{name: str})
		case elf.DT_AUXILIARY:
			info.needed = append(info.needed, dep{name: str, optional: true})
		case elf.DT_SONAME:
			info.soname = str
		case elf.DT_RPATH:
			info.rpath, info.hasRPath = str, true
		case elf.DT_RUNPATH:
			info.runpath, info.hasRunpath = str, true
		}
	}
	if info.hasRunpath {
		// get-dynamic-info.h: "If both RUNPATH and RPATH are given, the
		// latter is ignored."
		info.hasRPath = false
	}
	return nil
}

// readStrtab reads the dynamic string table, found by address: the
// loader knows only the address, so the PT_LOAD that maps it gives its
// place in the file.
func readStrtab(f *elf.File, r io.ReaderAt, size int64, addr, strsz uint64) ([]byte, error) {
	if strsz == 0 || strsz > maxStrtabSize {
		return nil, fmt.Errorf("%w: DT_STRSZ %d", errBadELF, strsz)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr-p.Vaddr >= p.Filesz {
			continue
		}
		off := p.Off + (addr - p.Vaddr)
		n := strsz
		if rest := p.Filesz - (addr - p.Vaddr); n > rest {
			n = rest // what lies past the segment's file bytes is zeros in memory
		}
		if off > uint64(size) || n > uint64(size)-off {
			return nil, fmt.Errorf("%w: DT_STRTAB at file offset %d, %d bytes, in a file of %d", errBadELF, off, n, size)
		}
		b := make([]byte, n)
		if _, err := r.ReadAt(b, int64(off)); err != nil {
			return nil, fmt.Errorf("read DT_STRTAB: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: DT_STRTAB address %#x is in no PT_LOAD", errBadELF, addr)
}

// verdict is what the loader's open_verify makes of a file it found.
type verdict int

const (
	usable       verdict = iota
	otherClass           // skipped; the search goes on (and "wrong ELF class" if nothing else is found)
	otherMachine         // skipped silently; the search goes on
	unusable             // the loader stops the program with the reason
)

// checkHeader is glibc 2.36's open_verify (elf/dl-load.c) on the first
// bytes of a library, in its order: only a wrong class or machine lets
// the search go on; anything else wrong ends the program.
func checkHeader(h []byte, a *abi) (verdict, string) {
	if len(h) < a.ehdrSize() {
		return unusable, "file too short"
	}
	if !bytes.HasPrefix(h, []byte(elf.ELFMAG)) {
		return unusable, "invalid ELF header"
	}
	if elf.Class(h[elf.EI_CLASS]) != a.class {
		return otherClass, "wrong ELF class: " + elf.Class(h[elf.EI_CLASS]).String()
	}
	if elf.Data(h[elf.EI_DATA]) != a.data {
		if a.data == elf.ELFDATA2MSB {
			return unusable, "ELF file data encoding not big-endian"
		}
		return unusable, "ELF file data encoding not little-endian"
	}
	if elf.Version(h[elf.EI_VERSION]) != elf.EV_CURRENT {
		return unusable, "ELF file version ident does not match current one"
	}
	osabi := elf.OSABI(h[elf.EI_OSABI])
	if osabi != elf.ELFOSABI_NONE && osabi != elf.ELFOSABI_LINUX {
		return unusable, "ELF file OS ABI invalid"
	}
	if osabi == elf.ELFOSABI_NONE && h[elf.EI_ABIVERSION] != 0 {
		return unusable, "ELF file ABI version invalid"
	}
	for _, b := range h[elf.EI_PAD:elf.EI_NIDENT] {
		if b != 0 {
			return unusable, "nonzero padding in e_ident"
		}
	}
	bo := a.byteOrder()
	if bo.Uint32(h[20:]) != uint32(elf.EV_CURRENT) {
		return unusable, "ELF file version does not match current one"
	}
	if elf.Machine(bo.Uint16(h[18:])) != a.machine {
		return otherMachine, "wrong machine " + elf.Machine(bo.Uint16(h[18:])).String()
	}
	if t := elf.Type(bo.Uint16(h[16:])); t != elf.ET_DYN && t != elf.ET_EXEC {
		return unusable, "only ET_DYN and ET_EXEC can be loaded"
	}
	phentOff := 42
	if a.class == elf.ELFCLASS64 {
		phentOff = 54
	}
	if int(bo.Uint16(h[phentOff:])) != a.phentSize() {
		return unusable, "ELF file's phentsize not the expected size"
	}
	return usable, ""
}

func (a *abi) byteOrder() binary.ByteOrder {
	if a.data == elf.ELFDATA2MSB {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
