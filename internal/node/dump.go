package node

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// sysRecvmsg: a process that asked to move waits for the answer there
// (libbproc's bproc_move), and its copy returns from that call.
const sysRecvmsg = 47

// dumpProc reads a process of this node for the master, which moves it to
// another node (see wire.ChanDump): only a process bproc started here, of
// the user the master names.
func (s *Slave) dumpProc(nc ssh.NewChannel) {
	var req wire.DumpRequest
	if err := wire.Decode(wire.ChanDump, nc.ExtraData(), &req); err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	s.mu.Lock()
	_, ours := s.procs[req.PID]
	s.mu.Unlock()
	if !ours {
		nc.Reject(wire.RejectOther, fmt.Sprintf("pid %d is no process bproc started here", req.PID))
		return
	}
	if st, err := procfs.ReadStatus(req.PID); err != nil || st.UID[0] != req.UID {
		nc.Reject(wire.RejectOther, fmt.Sprintf("pid %d is not uid %d's", req.PID, req.UID))
		return
	}
	img, stopped, err := vmadump.DumpWhenIn(req.PID, sysRecvmsg, 5*time.Second, s.reaper.Hold)
	if err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	if s.view != nil {
		unroot(img, s.view.root())
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		stopped.Resume()
		return
	}
	defer ch.Close()
	hdr, err := img.Header()
	if err == nil {
		size := binary.BigEndian.AppendUint64(nil, uint64(int64(len(hdr))+img.Bytes()))
		if _, err = ch.Write(size); err == nil {
			err = img.Encode(ch)
		}
	}
	if err != nil {
		stopped.Resume()
		return
	}
	moved := false
	for r := range reqs {
		if r.Type == wire.ReqMoved {
			moved = true
		}
		if r.WantReply {
			r.Reply(r.Type == wire.ReqMoved, nil)
		}
		if moved {
			break
		}
	}
	if moved {
		// It runs elsewhere now: this copy goes without a word (the master
		// has closed its channel; its relay here ends with it).
		stopped.Kill()
		return
	}
	stopped.Resume()
}

// unroot turns the paths of img, which this daemon read as it sees them,
// into the paths the process itself saw inside root (its chroot).
func unroot(img *vmadump.Image, root string) {
	strip := func(p string) string {
		if rest, ok := strings.CutPrefix(p, root); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				return "/"
			}
			return rest
		}
		return p
	}
	for i := range img.Maps {
		if !img.Maps[i].Anonymous() {
			img.Maps[i].Path = strip(img.Maps[i].Path)
		}
	}
	img.Exe, img.Cwd = strip(img.Exe), strip(img.Cwd)
}
