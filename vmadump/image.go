package vmadump

import (
	"encoding/gob"
	"fmt"
	"io"
)

// Image is a process as the mover carries it.
type Image struct {
	// Regs is the amd64 user_regs_struct (unix.PtraceRegs) as words.
	Regs [27]uint64
	// XState is the kernel's XSAVE area (NT_X86_XSTATE); FPRegs the
	// legacy FXSAVE area (NT_PRFPREG), used when XState does not fit.
	XState []byte
	FPRegs []byte

	Maps   []Mapping
	Layout Layout
	Auxv   []byte
	VDSO   uint64 // start of the vDSO block ([vvar], [vvar_vclock], [vdso]); 0: none

	Actions []SigAction
	SigMask uint64

	Comm string // the name ps shows
	Exe  string // the executable's path, for /proc/PID/exe
	Cwd  string
}

// Mapping is one line of /proc/PID/maps, and the memory that goes with it.
type Mapping struct {
	Start, End uint64
	Prot       int  // PROT_READ | PROT_WRITE | PROT_EXEC
	Shared     bool // MAP_SHARED
	// Path is the mapped file; "" for anonymous memory, "[stack]" and
	// "[heap]" for those.
	Path   string
	Offset uint64
	// Chunks are the pages the new process must be given: all touched
	// pages of anonymous memory, the changed pages of private file
	// mappings.
	Chunks []Chunk
}

// Chunk is memory at an address.
type Chunk struct {
	Addr uint64
	Data []byte
}

// Anonymous reports whether m is memory of the process's own rather than
// a file's.
func (m *Mapping) Anonymous() bool {
	return m.Path == "" || m.Path == "[stack]" || m.Path == "[heap]" || len(m.Path) > 0 && m.Path[0] != '/'
}

// Layout is what the kernel keeps of a process's memory layout
// (prctl PR_SET_MM_MAP): where /proc/PID/cmdline and environ are read,
// where brk grows.
type Layout struct {
	StartCode, EndCode, StartData, EndData uint64
	StartBrk, Brk, StartStack              uint64
	ArgStart, ArgEnd, EnvStart, EnvEnd     uint64
}

// SigAction is one signal's disposition (struct kernel_sigaction).
type SigAction struct {
	Sig      int
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     uint64
}

// Bytes is how much memory the image carries.
func (img *Image) Bytes() int64 {
	var n int64
	for _, m := range img.Maps {
		for _, c := range m.Chunks {
			n += int64(len(c.Data))
		}
	}
	return n
}

// Encode writes img to w.
func (img *Image) Encode(w io.Writer) error {
	if err := gob.NewEncoder(w).Encode(img); err != nil {
		return fmt.Errorf("vmadump: encode image: %w", err)
	}
	return nil
}

// Decode reads an image Encode wrote.
func Decode(r io.Reader) (*Image, error) {
	var img Image
	if err := gob.NewDecoder(r).Decode(&img); err != nil {
		return nil, fmt.Errorf("vmadump: decode image: %w", err)
	}
	if err := img.validate(); err != nil {
		return nil, err
	}
	return &img, nil
}

// validate rejects an image no process could be rebuilt from, before
// anything is made of it.
func (img *Image) validate() error {
	const top = 1 << 47 // x86-64 user space
	var last uint64
	for i, m := range img.Maps {
		switch {
		case m.Start >= m.End || m.End > top || m.Start%pageSize != 0 || m.End%pageSize != 0:
			return fmt.Errorf("vmadump: image: mapping %d: bad range %#x-%#x", i, m.Start, m.End)
		case m.Start < last:
			return fmt.Errorf("vmadump: image: mapping %d at %#x overlaps or is out of order", i, m.Start)
		case len(m.Path) > 4000:
			return fmt.Errorf("vmadump: image: mapping %d: path too long", i)
		}
		for _, c := range m.Chunks {
			if c.Addr < m.Start || c.Addr+uint64(len(c.Data)) > m.End || c.Addr+uint64(len(c.Data)) < c.Addr {
				return fmt.Errorf("vmadump: image: mapping %d: chunk at %#x outside it", i, c.Addr)
			}
		}
		last = m.End
	}
	for _, a := range img.Actions {
		if a.Sig < 1 || a.Sig > 64 {
			return fmt.Errorf("vmadump: image: signal %d", a.Sig)
		}
	}
	if len(img.Auxv) > 4096 || len(img.XState) > 1<<16 || len(img.Comm) > 64 {
		return fmt.Errorf("vmadump: image: auxv, FPU state or name too large")
	}
	return nil
}

const pageSize = 4096
