package vmadump

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// A process finds the vDSO's functions once, when it starts (glibc keeps
// pointers to __vdso_clock_gettime and the others), so it must find the
// same code at the same addresses wherever it is rebuilt. A node that
// runs the kernel the process started on has that vDSO: arch_prctl maps
// it where the image had it. A node with another kernel has another vDSO,
// with its functions elsewhere and reading a data page ([vvar]) laid out
// otherwise; mapped in its place, it would send the process into the
// middle of other code. The process gets its own vDSO instead, copied
// from the image, every function's entry replaced by the system call it
// stands for: slower (a system call where the vDSO read the clock), and
// right.

// vdsoCall is the system call a vDSO function stands for; any other
// function answers ENOSYS (the caller falls back, as it does on a kernel
// without it: __vdso_getrandom, __vdso_sgx_enter_enclave). A switch, not
// a map: nothing to build when the binary starts.
func vdsoCall(name string) (uint32, bool) {
	switch name {
	case "clock_gettime":
		return unix.SYS_CLOCK_GETTIME, true
	case "gettimeofday":
		return unix.SYS_GETTIMEOFDAY, true
	case "time":
		return unix.SYS_TIME, true
	case "clock_getres":
		return unix.SYS_CLOCK_GETRES, true
	case "getcpu":
		return unix.SYS_GETCPU, true
	}
	return 0, false
}

// stubLen is the room a stub needs: mov $-ENOSYS,%rax; ret is 8 bytes.
const stubLen = 8

// syscallVDSO returns a copy of the vDSO image text with each function
// made a system call: "mov $NR,%eax; syscall; ret" (the vDSO's functions
// take their arguments where the system calls do), or
// "mov $-ENOSYS,%rax; ret".
func syscallVDSO(text []byte) ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("vDSO: %w", err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("vDSO symbols: %w", err)
	}
	var load *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			load = p
			break
		}
	}
	if load == nil {
		return nil, errors.New("vDSO: no loadable segment")
	}
	out := bytes.Clone(text)
	n := 0
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 {
			continue
		}
		if s.Size != 0 && s.Size < stubLen {
			return nil, fmt.Errorf("vDSO: %s is %d bytes, too short to become a system call", s.Name, s.Size)
		}
		off := s.Value - load.Vaddr + load.Off
		if s.Value < load.Vaddr || off+stubLen > uint64(len(out)) {
			return nil, fmt.Errorf("vDSO: %s at %#x is outside the image", s.Name, s.Value)
		}
		copy(out[off:off+stubLen], stubFor(strings.TrimPrefix(s.Name, "__vdso_")))
		n++
	}
	if n == 0 {
		return nil, errors.New("vDSO: no functions")
	}
	return out, nil
}

func stubFor(name string) []byte {
	nr, ok := vdsoCall(name)
	if !ok {
		// mov $-ENOSYS,%rax; ret
		return []byte{0x48, 0xc7, 0xc0, 0xda, 0xff, 0xff, 0xff, 0xc3}
	}
	// mov $nr,%eax; syscall; ret
	b := []byte{0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0xc3}
	binary.LittleEndian.PutUint32(b[1:], nr)
	return b
}

// vdsoBlock is the vDSO's mappings in maps, in order.
func vdsoBlock(maps []Mapping) []Mapping {
	var out []Mapping
	for _, m := range maps {
		switch m.Path {
		case "[vvar]", "[vvar_vclock]", "[vdso]":
			m.Chunks = nil
			out = append(out, m)
		}
	}
	return out
}

// sameVDSO says whether the block own (the node's kernel's, read from the
// stub) is the image's: the same mappings at the same distances, and the
// same text.
func sameVDSO(img *Image, own []Mapping, ownText []byte) bool {
	if len(own) != len(img.VDSOMaps) || len(own) == 0 || !bytes.Equal(ownText, img.VDSOText) {
		return false
	}
	for i, m := range own {
		w := img.VDSOMaps[i]
		if m.Path != w.Path || m.End-m.Start != w.End-w.Start || m.Start-own[0].Start != w.Start-img.VDSOMaps[0].Start {
			return false
		}
	}
	return true
}

// readVDSOText is the [vdso] mapping's bytes of the process mem reads.
func readVDSOText(mem interface {
	ReadAt([]byte, int64) (int, error)
}, block []Mapping) ([]byte, error) {
	for _, m := range block {
		if m.Path != "[vdso]" {
			continue
		}
		if m.End-m.Start > maxVDSO {
			return nil, fmt.Errorf("vDSO of %d bytes", m.End-m.Start)
		}
		b := make([]byte, m.End-m.Start)
		if _, err := mem.ReadAt(b, int64(m.Start)); err != nil {
			return nil, fmt.Errorf("read the vDSO: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// mapVDSOCopy gives the process being rebuilt the image's vDSO block:
// zero pages where its data pages were, and the text made system calls
// (syscallVDSO).
func mapVDSOCopy(in *injector, img *Image) error {
	text, err := syscallVDSO(img.VDSOText)
	if err != nil {
		return err
	}
	for _, m := range img.VDSOMaps {
		prot := uint64(unix.PROT_READ)
		if m.Path == "[vdso]" {
			prot |= unix.PROT_EXEC
		}
		if _, err := in.call(unix.SYS_MMAP, m.Start, m.End-m.Start, prot,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
			return fmt.Errorf("vDSO copy %s at %#x: %w", m.Path, m.Start, err)
		}
		if m.Path == "[vdso]" {
			if err := in.write(m.Start, text); err != nil {
				return fmt.Errorf("vDSO copy: %w", err)
			}
		}
	}
	return nil
}
