// Package ackbuf keeps a stream's bytes that were sent but not yet
// acknowledged by the other end, so that what a lost connection swallowed
// can be sent again: the node's output streams (the master acknowledges
// them) and the master's stdin of a process (the node acknowledges it).
//
// The bytes are kept in chunks, never moved or rewritten while they hold
// bytes: a writer can write from one without the lock (View, Release).
// Chunks let go of are reused while the stream flows, and all of it is
// let go once nothing is held. A single growing slice, resliced at each
// acknowledgment, cost a copy of what it held and a fresh allocation at
// each growth: output through a node ran at half its speed or worse
// (300 MB through one node: 1.3-2.7 s before the acknowledgments,
// 4.3-7.0 s with such a slice, in interleaved runs on a loaded machine);
// 200 MiB of stdin into a remote wc -c took 3.1-3.9 s with such a slice,
// 2.3-2.8 s with chunks, 2.2-2.9 s keeping nothing.
package ackbuf

// Bound is how many unacknowledged bytes one stream keeps at most: the
// writer waits for an acknowledgment beyond it. It is also how far a
// stream runs ahead of acknowledgments: with 1 MiB, output through a node
// waited on them and ran at half its speed. Buf does not enforce it; its
// users wait for room under their own lock.
const Bound = 4 << 20

const (
	chunkSize = 64 << 10
	maxFree   = 2 // emptied chunks kept to fill again
)

// Buf is the bytes of a stream from offset Base to End not acknowledged
// yet. The zero Buf is empty at offset 0. It does no locking.
type Buf struct {
	base   int64
	n      int      // bytes held
	head   int      // bytes of chunks[0] before base (acknowledged)
	chunks [][]byte // each of cap chunkSize, filled to its len
	free   [][]byte // emptied chunks to fill again (at most maxFree)
	// busy is the chunk a View handed out: emptied meanwhile, it is not
	// reused until Release.
	busy        *byte
	busyEmptied []byte
}

// Base is the stream offset of the oldest byte held: what was acknowledged.
func (b *Buf) Base() int64 { return b.base }

// End is the stream offset after the last byte held.
func (b *Buf) End() int64 { return b.base + int64(b.n) }

// Len is how many bytes are held.
func (b *Buf) Len() int { return b.n }

// Append copies p in at End.
func (b *Buf) Append(p []byte) {
	b.n += len(p)
	for len(p) > 0 {
		if k := len(b.chunks); k == 0 || len(b.chunks[k-1]) == cap(b.chunks[k-1]) {
			b.chunks = append(b.chunks, b.newChunk())
		}
		last := &b.chunks[len(b.chunks)-1]
		m := copy((*last)[len(*last):cap(*last)], p)
		*last = (*last)[:len(*last)+m]
		p = p[m:]
	}
}

func (b *Buf) newChunk() []byte {
	if k := len(b.free); k > 0 {
		c := b.free[k-1]
		b.free = b.free[:k-1]
		return c[:0]
	}
	return make([]byte, 0, chunkSize)
}

// DropTo lets go of the bytes before off, acknowledged (Base < off <= End).
func (b *Buf) DropTo(off int64) {
	drop := int(off - b.base)
	b.base, b.n = off, b.n-drop
	drop += b.head
	for len(b.chunks) > 0 && len(b.chunks[0]) > 0 && drop >= len(b.chunks[0]) {
		c := b.chunks[0]
		drop -= len(c)
		b.chunks[0] = nil
		b.chunks = b.chunks[1:]
		b.recycle(c)
	}
	b.head = drop
	if b.n == 0 {
		b.Reset(off)
	}
}

// Reset lets go of everything, the chunks too (a quiet stream holds
// none: 15,000 idle processes are 30,000 streams), and starts again at
// offset base.
func (b *Buf) Reset(base int64) {
	b.n = 0
	for _, c := range b.chunks {
		b.recycle(c)
	}
	b.base, b.chunks, b.head, b.free = base, nil, 0, nil
}

func (b *Buf) recycle(c []byte) {
	if cap(c) == 0 {
		return
	}
	if b.busy == &c[:1][0] {
		b.busyEmptied = c
		return
	}
	if len(b.free) < maxFree && b.n > 0 {
		b.free = append(b.free, c)
	}
}

// View is up to max bytes from off (Base <= off < End), all of one
// chunk, which stays untouched until Release: it can be written out
// without the lock that guards b. One View at a time.
func (b *Buf) View(off int64, max int) []byte {
	rel := int(off-b.base) + b.head
	for _, c := range b.chunks {
		if rel < len(c) {
			b.busy = &c[:1][0]
			return c[rel:min(len(c), rel+max)]
		}
		rel -= len(c)
	}
	return nil
}

// Release ends what View began.
func (b *Buf) Release() {
	b.busy = nil
	if c := b.busyEmptied; c != nil {
		b.busyEmptied = nil
		b.recycle(c)
	}
}

// CopyFrom is a copy of what is held from off on (Base <= off <= End).
func (b *Buf) CopyFrom(off int64) []byte {
	k := int(off-b.base) + b.head
	out := make([]byte, 0, b.n-int(off-b.base))
	for _, c := range b.chunks {
		if k >= len(c) {
			k -= len(c)
			continue
		}
		out = append(out, c[k:]...)
		k = 0
	}
	return out
}
