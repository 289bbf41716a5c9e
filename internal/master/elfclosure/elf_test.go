package elfclosure

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"slices"
	"testing"
)

// tinyELF is a minimal x86-64 ELF file: a header, PT_INTERP, one PT_LOAD
// over the whole file at vaddr 0x400000, and PT_DYNAMIC with the given
// string-valued tags (and DT_FLAGS_1 when flags1 is not 0). No section
// headers, as after sstrip.
func tinyELF(typ elf.Type, interp string, tags []elf.DynTag, vals []string, flags1 uint64) []byte {
	const (
		ehsize, phsize = 64, 56
		base           = 0x400000
	)
	le := binary.LittleEndian
	var strtab bytes.Buffer
	strtab.WriteByte(0)
	var dyn []uint64
	for i, tag := range tags {
		dyn = append(dyn, uint64(tag), uint64(strtab.Len()))
		strtab.WriteString(vals[i])
		strtab.WriteByte(0)
	}
	if flags1 != 0 {
		dyn = append(dyn, uint64(elf.DT_FLAGS_1), flags1)
	}
	interpOff := uint64(ehsize + 3*phsize)
	strOff := interpOff + uint64(len(interp)) + 1
	dynOff := strOff + uint64(strtab.Len())
	dyn = append(dyn, uint64(elf.DT_STRTAB), base+strOff, uint64(elf.DT_STRSZ), uint64(strtab.Len()), uint64(elf.DT_NULL), 0)
	size := dynOff + uint64(8*len(dyn))

	b := make([]byte, ehsize)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(typ))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[32:], ehsize) // e_phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 3)
	ph := func(typ elf.ProgType, off, filesz uint64) {
		p := make([]byte, phsize)
		le.PutUint32(p[0:], uint32(typ))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], base+off)
		le.PutUint64(p[24:], base+off)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], filesz)
		b = append(b, p...)
	}
	ph(elf.PT_INTERP, interpOff, uint64(len(interp))+1)
	ph(elf.PT_LOAD, 0, size)
	ph(elf.PT_DYNAMIC, dynOff, uint64(8*len(dyn)))
	b = append(b, interp...)
	b = append(b, 0)
	b = append(b, strtab.Bytes()...)
	for _, v := range dyn {
		b = le.AppendUint64(b, v)
	}
	return b
}

func TestReadELF(t *testing.T) {
	tags := []elf.DynTag{elf.DT_NEEDED, elf.DT_RPATH, elf.DT_AUXILIARY, elf.DT_SONAME, elf.DT_NEEDED, elf.DT_RUNPATH, elf.DT_FILTER}
	vals := []string{"liba.so", "/rpath", "libaux.so", "libme.so.1", "libb.so", "$ORIGIN/lib", "libfilter.so"}
	b := tinyELF(elf.ET_DYN, "/lib64/ld-linux-x86-64.so.2", tags, vals, uint64(elf.DF_1_NODEFLIB|elf.DF_1_PIE))
	info, err := readELF(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("readELF = %v", err)
	}
	wantNeeded := []dep{{name: "liba.so"}, {name: "libaux.so", optional: true}, {name: "libb.so"}, {name: "libfilter.so"}}
	if !slices.Equal(info.needed, wantNeeded) {
		t.Errorf("needed = %+v, want %+v", info.needed, wantNeeded)
	}
	if info.interp != "/lib64/ld-linux-x86-64.so.2" || info.soname != "libme.so.1" {
		t.Errorf("interp %q, soname %q", info.interp, info.soname)
	}
	// DT_RUNPATH present: DT_RPATH does not count.
	if info.hasRPath || !info.hasRunpath || info.runpath != "$ORIGIN/lib" {
		t.Errorf("rpath %v %q, runpath %v %q", info.hasRPath, info.rpath, info.hasRunpath, info.runpath)
	}
	if !info.noDefLib || !info.pie {
		t.Errorf("DT_FLAGS_1: nodeflib %v, pie %v", info.noDefLib, info.pie)
	}
	// Static: no PT_DYNAMIC is read when there is none.
	bare := bytes.Clone(b[:64])
	binary.LittleEndian.PutUint16(bare[56:], 0) // e_phnum
	if _, err := readELF(bytes.NewReader(bare), 64); err != nil {
		t.Errorf("a bare ELF header: %v", err)
	}
}

func TestReadELFMalformed(t *testing.T) {
	b := tinyELF(elf.ET_DYN, "/lib/ld.so", []elf.DynTag{elf.DT_NEEDED}, []string{"liba.so"}, 0)
	le := binary.LittleEndian
	const ph = 64 // first program header
	mod := func(f func(b []byte)) []byte { c := bytes.Clone(b); f(c); return c }
	dynOff := le.Uint64(b[ph+2*56+8:])
	tests := map[string][]byte{
		"PT_INTERP past the end":  mod(func(c []byte) { le.PutUint64(c[ph+8:], 1<<40) }),
		"PT_INTERP huge":          mod(func(c []byte) { le.PutUint64(c[ph+32:], 1<<40) }),
		"PT_DYNAMIC past the end": mod(func(c []byte) { le.PutUint64(c[ph+2*56+8:], 1<<62) }),
		"PT_DYNAMIC huge":         mod(func(c []byte) { le.PutUint64(c[ph+2*56+32:], 1<<62) }),
		"DT_STRTAB unmapped":      mod(func(c []byte) { le.PutUint64(c[dynOff+24:], 0x10) }),
		"DT_STRSZ huge":           mod(func(c []byte) { le.PutUint64(c[dynOff+40:], 1<<60) }),
		"DT_NEEDED past strtab":   mod(func(c []byte) { le.PutUint64(c[dynOff+8:], 1<<20) }),
		"no DT_STRTAB":            mod(func(c []byte) { le.PutUint64(c[dynOff+16:], uint64(elf.DT_DEBUG)) }),
	}
	for name, c := range tests {
		if _, err := readELF(bytes.NewReader(c), int64(len(c))); err == nil {
			t.Errorf("%s: readELF succeeded", name)
		}
	}
}

func TestCheckHeader(t *testing.T) {
	x86 := abiOf(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64, 0)
	good := tinyELF(elf.ET_DYN, "/x", nil, nil, 0)
	le := binary.LittleEndian
	mod := func(f func(b []byte)) []byte { c := bytes.Clone(good); f(c); return c }
	tests := []struct {
		name   string
		b      []byte
		v      verdict
		reason string
	}{
		{"good", good, usable, ""},
		{"executable", mod(func(c []byte) { le.PutUint16(c[16:], uint16(elf.ET_EXEC)) }), usable, ""},
		{"short", good[:63], unusable, "file too short"},
		{"text", bytes.Repeat([]byte("x"), 100), unusable, "invalid ELF header"},
		{"32-bit", fakeELF(elf.ELFCLASS32, elf.EM_386), otherClass, "wrong ELF class: ELFCLASS32"},
		{"aarch64", fakeELF(elf.ELFCLASS64, elf.EM_AARCH64), otherMachine, "wrong machine EM_AARCH64"},
		{"big-endian", mod(func(c []byte) { c[elf.EI_DATA] = byte(elf.ELFDATA2MSB) }), unusable, "ELF file data encoding not little-endian"},
		{"ident version", mod(func(c []byte) { c[elf.EI_VERSION] = 2 }), unusable, "ELF file version ident does not match current one"},
		{"FreeBSD", mod(func(c []byte) { c[elf.EI_OSABI] = byte(elf.ELFOSABI_FREEBSD) }), unusable, "ELF file OS ABI invalid"},
		{"GNU", mod(func(c []byte) { c[elf.EI_OSABI] = byte(elf.ELFOSABI_LINUX) }), usable, ""},
		{"ABI version", mod(func(c []byte) { c[elf.EI_ABIVERSION] = 1 }), unusable, "ELF file ABI version invalid"},
		{"padding", mod(func(c []byte) { c[elf.EI_PAD] = 1 }), unusable, "nonzero padding in e_ident"},
		{"e_version", mod(func(c []byte) { le.PutUint32(c[20:], 0) }), unusable, "ELF file version does not match current one"},
		{"relocatable", mod(func(c []byte) { le.PutUint16(c[16:], uint16(elf.ET_REL)) }), unusable, "only ET_DYN and ET_EXEC can be loaded"},
		{"phentsize", mod(func(c []byte) { le.PutUint16(c[54:], 32) }), unusable, "ELF file's phentsize not the expected size"},
	}
	for _, tc := range tests {
		v, reason := checkHeader(tc.b, x86)
		if v != tc.v || reason != tc.reason {
			t.Errorf("%s: checkHeader = %v, %q; want %v, %q", tc.name, v, reason, tc.v, tc.reason)
		}
	}
}

// FuzzReadELF: any file is read or refused with an error, never a panic
// or a huge allocation, and what is read has sane strings.
func FuzzReadELF(f *testing.F) {
	f.Add(tinyELF(elf.ET_DYN, "/lib64/ld-linux-x86-64.so.2",
		[]elf.DynTag{elf.DT_NEEDED, elf.DT_RUNPATH, elf.DT_SONAME}, []string{"libc.so.6", "$ORIGIN", "libx.so"}, 0))
	f.Add(tinyELF(elf.ET_EXEC, "/x", []elf.DynTag{elf.DT_RPATH, elf.DT_AUXILIARY}, []string{"/a:/b", "liba.so"}, uint64(elf.DF_1_NODEFLIB)))
	f.Add(fakeELF(elf.ELFCLASS32, elf.EM_386))
	x86 := abiOf(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkHeader(b, x86)
		info, err := readELF(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, d := range info.needed {
			if bytes.IndexByte([]byte(d.name), 0) >= 0 {
				t.Fatalf("NUL in DT_NEEDED %q", d.name)
			}
		}
	})
}
