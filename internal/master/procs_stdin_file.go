package master

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
)

// A regular file as stdin is its own keep buffer: it has an offset. The
// copy reads it through the description the ghost handed over (its
// offset shared with the user's shell, as before), and the node's count
// of stdin written into the process (wire.ReqStdinAck) maps onto the file
// from the offset where this node's copy started (stdinKept.fileBase):
// a resumed channel's copy seeks to that offset plus the node's first
// acknowledgment and reads on, so what the master had read and sent into
// a lost connection is read again, once. The ghost is told that offset
// (ghost.CmdOut for stream 0), and tells a next master in its resume
// hello (Resume.In), so a restart resumes the same way. Nothing of the
// file is held in memory.

// isRegular says whether fd is a regular file.
func isRegular(fd int) bool {
	var st unix.Stat_t
	return fd >= 0 && unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// fileStart notes where this node's copy of a regular file starts: its
// description's offset now, told to the ghost for a next master.
func (in *stdinCopy) fileStart() {
	p := in.p
	off, err := p.files[0].Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	k := p.rs.kept()
	k.mu.Lock()
	k.fileBase, k.haveBase = off, true
	k.mu.Unlock()
	if p.oldGhost || !p.keeps() {
		return // the ghost would not tell (an old one), or dies with this master
	}
	p.rs.noteMu.Lock()
	note := ghost.MarshalOut(0, off)
	p.ghost.Write(note[:])
	p.rs.noteMu.Unlock()
}

// fileStart is where the node's count of a regular file as stdin
// starts, if known.
func (k *stdinKept) fileStart() (int64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fileBase, k.haveBase
}

// fileResume seeks a regular file to what the node has written into the
// process (off, its count): the copy reads on from there. Without the
// offset where the count starts (a ghost of an older master's), the copy
// reads on from where the last one stopped, as before.
func (in *stdinCopy) fileResume(off int64) {
	p := in.p
	k := p.rs.kept()
	k.mu.Lock()
	base, ok := k.fileBase, k.haveBase
	k.mu.Unlock()
	if !ok {
		p.m.log.Warn("stdin from a file resumed where the last copy stopped: its start is not known", "node", p.rank.node, "pid", p.pid)
		return
	}
	if _, err := p.files[0].Seek(base+off, io.SeekStart); err != nil {
		p.m.log.Warn("stdin from a file: seek to resume", "node", p.rank.node, "pid", p.pid, "offset", base+off, "err", err)
		return
	}
	p.m.log.Info("stdin read again from its file after a resume", "node", p.rank.node, "pid", p.pid, "from", base+off)
}
