package vmadump

import (
	"encoding/binary"
	"encoding/json"
	"errors"
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
	// VDSOMaps are that block's mappings (no memory), and VDSOText the
	// [vdso] text: a node whose kernel has another vDSO gives the
	// process this one instead (vdso.go).
	VDSOMaps []Mapping
	VDSOText []byte

	Actions []SigAction
	SigMask uint64
	// Timers are the interval timers that were running.
	Timers []ITimer `json:",omitempty"`

	Comm string // the name ps shows
	Exe  string // the executable's path, for /proc/PID/exe
	Cwd  string

	// mem is the stopped process's memory, where the chunks of an image
	// Dump read are (until the process is resumed or killed); stream
	// the wire form's rest, where those of an image DecodeStreaming read
	// come in order.
	mem    io.ReaderAt
	stream io.Reader
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

// Chunk is memory at an address: Data, or, in an image Dump read, Len
// bytes still in the stopped process, read as the image is encoded (the
// master holds a few MB of a process it moves, not all of it).
type Chunk struct {
	Addr uint64
	Data []byte
	Len  int `json:"-"`
}

// size is how many bytes the chunk carries.
func (c *Chunk) size() int {
	if c.Data != nil {
		return len(c.Data)
	}
	return c.Len
}

// copyBuf bounds what encoding an image holds of its memory at a time.
const copyBuf = 1 << 20

// eachPiece calls fn with c's memory a piece (copyBuf at most) at a
// time, in order: Data, or what img's stopped process has there, or the
// next bytes of img's stream (chunks must then be asked for in order).
func (img *Image) eachPiece(c *Chunk, fn func(addr uint64, b []byte) error) error {
	if c.Data != nil || c.Len == 0 {
		return fn(c.Addr, c.Data)
	}
	var read func(b []byte, off int) error
	switch {
	case img.stream != nil:
		read = func(b []byte, _ int) error { _, err := io.ReadFull(img.stream, b); return err }
	case img.mem != nil:
		read = func(b []byte, off int) error { _, err := img.mem.ReadAt(b, int64(c.Addr)+int64(off)); return err }
	default:
		return fmt.Errorf("vmadump: chunk at %#x: the process's memory is no longer open", c.Addr)
	}
	buf := make([]byte, min(c.Len, copyBuf))
	for off := 0; off < c.Len; {
		b := buf[:min(len(buf), c.Len-off)]
		if err := read(b, off); err != nil {
			return fmt.Errorf("vmadump: memory at %#x: %w", c.Addr+uint64(off), err)
		}
		if err := fn(c.Addr+uint64(off), b); err != nil {
			return err
		}
		off += len(b)
	}
	return nil
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
			n += int64(c.size())
		}
	}
	return n
}

// The wire form of an image: "BPVM", a version, the image without its
// memory as JSON (length first), then the memory of every chunk, in
// order, as raw bytes. A reader takes exactly the bytes the writer wrote,
// so whatever follows on the stream (a moved process's stdin) is left.
const (
	imageMagic   = "BPVM"
	imageVersion = 1
	maxMeta      = 16 << 20
	maxMemory    = 64 << 30
)

// chunkMeta is a chunk as the JSON part has it: its bytes follow later.
type chunkMeta struct {
	Addr uint64 `json:"a"`
	Len  int    `json:"n"`
}

// meta is the JSON part: the image with every chunk's data left out.
type meta struct {
	Image
	Chunks [][]chunkMeta `json:"chunks"` // per mapping
}

// Header is the beginning of img's wire form: everything but the memory,
// which Encode writes after it (img.Bytes() of it).
func (img *Image) Header() ([]byte, error) {
	m := meta{Image: *img}
	m.Maps = make([]Mapping, len(img.Maps))
	m.Chunks = make([][]chunkMeta, len(img.Maps))
	for i, mp := range img.Maps {
		m.Maps[i] = mp
		m.Maps[i].Chunks = nil
		for _, c := range mp.Chunks {
			m.Chunks[i] = append(m.Chunks[i], chunkMeta{Addr: c.Addr, Len: c.size()})
		}
	}
	js, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("vmadump: encode image: %w", err)
	}
	hdr := make([]byte, 12, 12+len(js))
	copy(hdr, imageMagic)
	binary.LittleEndian.PutUint32(hdr[4:], imageVersion)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(len(js)))
	return append(hdr, js...), nil
}

// Encode writes img to w: its Header, then its memory.
func (img *Image) Encode(w io.Writer) error {
	hdr, err := img.Header()
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("vmadump: encode image: %w", err)
	}
	var buf []byte
	for _, mp := range img.Maps {
		for _, c := range mp.Chunks {
			if c.Data != nil || c.Len == 0 {
				if _, err := w.Write(c.Data); err != nil {
					return fmt.Errorf("vmadump: encode image: %w", err)
				}
				continue
			}
			if img.mem == nil {
				return fmt.Errorf("vmadump: encode image: chunk at %#x: the process's memory is no longer open", c.Addr)
			}
			if buf == nil {
				buf = make([]byte, copyBuf)
			}
			// The process's memory as it goes: a copy of copyBuf at a
			// time, not of the process.
			src := io.NewSectionReader(img.mem, int64(c.Addr), int64(c.Len))
			n, err := io.CopyBuffer(onlyWriter{w}, src, buf)
			if err == nil && n != int64(c.Len) {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return fmt.Errorf("vmadump: encode image: memory at %#x: %d of %d bytes: %w", c.Addr, n, c.Len, err)
			}
		}
	}
	return nil
}

// onlyWriter hides a writer's ReadFrom, so that io.CopyBuffer uses the
// buffer it is given.
type onlyWriter struct{ io.Writer }

// Decode reads an image Encode wrote, and not a byte more.
func Decode(r io.Reader) (*Image, error) { return decode(r, false) }

// DecodeStreaming reads an image's layout from r and leaves its memory
// there: Restore and RestoreInto read it from r as they write it into
// the process, a piece at a time, so that whoever rebuilds a process
// holds a few MB of it, not all of it. r must stay readable until then,
// and is then read to the image's end (on success).
func DecodeStreaming(r io.Reader) (*Image, error) { return decode(r, true) }

func decode(r io.Reader, streaming bool) (*Image, error) {
	hdr := make([]byte, 12)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("vmadump: decode image: %w", err)
	}
	if string(hdr[:4]) != imageMagic || binary.LittleEndian.Uint32(hdr[4:]) != imageVersion {
		return nil, fmt.Errorf("vmadump: decode image: not an image of version %d", imageVersion)
	}
	n := binary.LittleEndian.Uint32(hdr[8:])
	if n > maxMeta {
		return nil, fmt.Errorf("vmadump: decode image: %d bytes of layout", n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, fmt.Errorf("vmadump: decode image: %w", err)
	}
	var m meta
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("vmadump: decode image: %w", err)
	}
	img := m.Image
	if len(m.Chunks) != len(img.Maps) {
		return nil, errors.New("vmadump: decode image: chunk lists do not match the mappings")
	}
	// The layout is checked, and the memory counted, before any of it is
	// allocated or read.
	var total int64
	for i := range img.Maps {
		img.Maps[i].Chunks = nil
		for _, c := range m.Chunks[i] {
			if c.Len < 0 || total+int64(c.Len) > maxMemory {
				return nil, errors.New("vmadump: decode image: too much memory")
			}
			total += int64(c.Len)
		}
	}
	if err := img.validate(); err != nil {
		return nil, err
	}
	for i, mp := range img.Maps {
		for _, c := range m.Chunks[i] {
			if c.Addr < mp.Start || c.Addr+uint64(c.Len) > mp.End || c.Addr+uint64(c.Len) < c.Addr {
				return nil, fmt.Errorf("vmadump: image: mapping %d: chunk at %#x outside it", i, c.Addr)
			}
		}
	}
	if streaming {
		for i := range img.Maps {
			for _, c := range m.Chunks[i] {
				img.Maps[i].Chunks = append(img.Maps[i].Chunks, Chunk{Addr: c.Addr, Len: c.Len})
			}
		}
		img.stream = r
		return &img, nil
	}
	// Memory is allocated as it arrives: a stream that ends early costs
	// no more than it brought.
	for i := range img.Maps {
		for _, c := range m.Chunks[i] {
			data := make([]byte, c.Len)
			if _, err := io.ReadFull(r, data); err != nil {
				return nil, fmt.Errorf("vmadump: decode image: memory: %w", err)
			}
			img.Maps[i].Chunks = append(img.Maps[i].Chunks, Chunk{Addr: c.Addr, Data: data})
		}
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
			if c.Len < 0 || c.Addr < m.Start || c.Addr+uint64(c.size()) > m.End || c.Addr+uint64(c.size()) < c.Addr {
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
	for i, m := range img.VDSOMaps {
		if m.Start >= m.End || m.End > top || m.Start%pageSize != 0 || m.End%pageSize != 0 || m.End-m.Start > maxVDSO || len(m.Chunks) > 0 {
			return fmt.Errorf("vmadump: image: vDSO mapping %d: bad range %#x-%#x", i, m.Start, m.End)
		}
		if m.Path == "[vdso]" && uint64(len(img.VDSOText)) > m.End-m.Start {
			return fmt.Errorf("vmadump: image: vDSO text of %d bytes in %d", len(img.VDSOText), m.End-m.Start)
		}
	}
	if err := validTimers(img.Timers); err != nil {
		return err
	}
	if len(img.VDSOText) > maxVDSO {
		return fmt.Errorf("vmadump: image: vDSO text of %d bytes", len(img.VDSOText))
	}
	if len(img.Auxv) > 4096 || len(img.XState) > 1<<16 || len(img.Comm) > 64 {
		return fmt.Errorf("vmadump: image: auxv, FPU state or name too large")
	}
	return nil
}

const pageSize = 4096

// maxVDSO bounds the vDSO text an image may carry (it is 8 kB).
const maxVDSO = 64 << 10
