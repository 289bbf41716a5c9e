package node

// outBytes are one output stream's bytes that the master has not
// acknowledged, from offset base on, in chunks. A chunk is never moved or
// rewritten while it holds bytes, so drain writes from one unlocked; the
// chunks the master has acknowledged are reused while the stream flows,
// and all of it is let go once nothing is held. A single growing slice
// cost a copy of what it held and a fresh allocation at each growth:
// output through a node ran at half its speed or worse (300 MB through
// one node: 1.3-2.7 s before the acknowledgments, 4.3-7.0 s with such a
// slice, in interleaved runs on a loaded machine).
type outBytes struct {
	base   int64
	n      int      // bytes held
	head   int      // bytes of chunks[0] before base (acknowledged)
	chunks [][]byte // each of cap chunkSize, filled to its len
	free   [][]byte // emptied chunks to fill again (at most maxFree)
	// busy is the chunk drain writes from without the lock: emptied
	// meanwhile, it is not reused until drain is done with it.
	busy        *byte
	busyEmptied []byte
}

const (
	chunkSize = 64 << 10
	maxFree   = 2
)

func (b *outBytes) end() int64 { return b.base + int64(b.n) }

func (b *outBytes) len() int { return b.n }

// append copies p in.
func (b *outBytes) append(p []byte) {
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

func (b *outBytes) newChunk() []byte {
	if k := len(b.free); k > 0 {
		c := b.free[k-1]
		b.free = b.free[:k-1]
		return c[:0]
	}
	return make([]byte, 0, chunkSize)
}

// dropTo lets go of the bytes before off (base < off <= end).
func (b *outBytes) dropTo(off int64) {
	drop := int(off - b.base)
	b.base, b.n = off, b.n-drop
	drop += b.head
	for len(b.chunks) > 0 && len(b.chunks[0]) > 0 && drop >= len(b.chunks[0]) {
		c := b.chunks[0]
		drop -= len(c)
		b.chunks = b.chunks[1:]
		b.recycle(c)
	}
	b.head = drop
	if b.n == 0 {
		// Quiet: hold nothing (15,000 idle processes are 30,000 streams).
		for _, c := range b.chunks {
			b.recycle(c)
		}
		b.chunks, b.head, b.free = nil, 0, nil
	}
}

func (b *outBytes) recycle(c []byte) {
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

// view is up to max bytes from off (base <= off < end), all of one
// chunk, which stays untouched until release.
func (b *outBytes) view(off int64, max int) []byte {
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

// release ends what view began.
func (b *outBytes) release() {
	b.busy = nil
	if c := b.busyEmptied; c != nil {
		b.busyEmptied = nil
		b.recycle(c)
	}
}
