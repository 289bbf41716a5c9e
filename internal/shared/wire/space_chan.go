package wire

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// ChanSpace (master -> node, protocol 4): one channel per connection that
// carries the relays of all the node's descendants (what its remote
// processes forked), where protocol 3 opened a ChanAdopt for each. An
// SSH channel is four messages (open, confirm, close, close) and 1.28 kB
// of the master's heap for as long as its process lives; a descendant on
// this channel is three records of SpaceRecordSize bytes (SpaceAdopt,
// SpaceExit, SpaceClose), written together with whatever else is waiting,
// and a few hundred bytes. The master opens it at its first descendant.
//
// Each relay on it is named by an ID the master chooses in its
// SpaceAdopt, not by the ghost's PID, which the master may give again
// before the relay of its last holder is closed on both sides. The
// records of one relay go in order, as a channel's messages do; its
// close is as an SSH channel's: each side sends one (SpaceExit is the
// node's), answers the other's with its own if it has not sent it, and
// forgets the ID once it has the other's.
const ChanSpace = "bproc-space"

// SpaceRecordSize is the size of every record on ChanSpace: a fixed size,
// so that a record that makes no sense is refused alone and the stream
// stays in step.
const SpaceRecordSize = 16

// The kinds of record on ChanSpace.
const (
	// SpaceAdopt (master -> node): relay ID is the descendant whose
	// ghost's PID is Arg (as ChanAdopt's Adopt.PID).
	SpaceAdopt = 1 + iota
	// SpaceSignal (master -> node): deliver signal Arg to relay ID's
	// process; Reply: answer with SpaceSignaled once delivered.
	SpaceSignal
	// SpaceSignaled (node -> master): the answer to a SpaceSignal that
	// asked for one, in their order.
	SpaceSignaled
	// SpaceExit (node -> master): relay ID's process ended with Status;
	// it is the node's close of the relay.
	SpaceExit
	// SpaceClose (either way): the sender is done with relay ID.
	SpaceClose
)

// spaceKindName names a kind in errors; "" for an unknown one.
func spaceKindName(k byte) string {
	switch k {
	case SpaceAdopt:
		return "adopt"
	case SpaceSignal:
		return "signal"
	case SpaceSignaled:
		return "signaled"
	case SpaceExit:
		return "exit"
	case SpaceClose:
		return "close"
	}
	return ""
}

// maxSpacePID bounds a ghost's PID in a SpaceAdopt (the kernel's
// PID_MAX_LIMIT).
const maxSpacePID = 1 << 22

// SpaceRecord is one record on ChanSpace. On the wire: kind (1 byte),
// flags (1 byte: bit 0 is Reply), 2 zero bytes, the relay's ID (4 bytes,
// big endian), then 8 bytes of argument: for SpaceAdopt the PID, for
// SpaceSignal the signal, each as 4 bytes after 4 zero bytes; for
// SpaceExit the ExitStatus's 8 bytes; zeros for the others.
type SpaceRecord struct {
	Kind   byte
	Reply  bool
	ID     uint32
	Arg    int        // SpaceAdopt's PID, SpaceSignal's signal
	Status ExitStatus // SpaceExit's
}

// Marshal appends the record's SpaceRecordSize bytes to b.
func (r SpaceRecord) Marshal(b []byte) []byte {
	var rec [SpaceRecordSize]byte
	rec[0] = r.Kind
	if r.Reply {
		rec[1] = 1
	}
	binary.BigEndian.PutUint32(rec[4:], r.ID)
	switch r.Kind {
	case SpaceAdopt, SpaceSignal:
		binary.BigEndian.PutUint32(rec[12:], uint32(r.Arg))
	case SpaceExit:
		copy(rec[8:], r.Status.Marshal())
	}
	return append(b, rec[:]...)
}

// UnmarshalSpaceRecord decodes one record that the side fromMaster says
// sent it (a node reads the master's kinds only, and the master the
// node's), or says in one line what is wrong with it.
func UnmarshalSpaceRecord(b []byte, fromMaster bool) (SpaceRecord, error) {
	if len(b) != SpaceRecordSize {
		return SpaceRecord{}, fmt.Errorf("space record: want %d bytes, got %d", SpaceRecordSize, len(b))
	}
	r := SpaceRecord{Kind: b[0], Reply: b[1] == 1, ID: binary.BigEndian.Uint32(b[4:])}
	name := spaceKindName(r.Kind)
	if name == "" {
		return SpaceRecord{}, fmt.Errorf("space record: unknown kind %d", r.Kind)
	}
	sender := "node"
	if fromMaster {
		sender = "master"
	}
	master := r.Kind == SpaceAdopt || r.Kind == SpaceSignal
	node := r.Kind == SpaceSignaled || r.Kind == SpaceExit
	if master && !fromMaster || node && fromMaster {
		return SpaceRecord{}, fmt.Errorf("space record: %s from the %s, which never sends one", name, sender)
	}
	if b[1] > 1 || b[1] == 1 && r.Kind != SpaceSignal {
		return SpaceRecord{}, fmt.Errorf("space record: %s with flags %#x", name, b[1])
	}
	if b[2] != 0 || b[3] != 0 {
		return SpaceRecord{}, fmt.Errorf("space record: %s with bytes 2-3 not zero (% x)", name, b[2:4])
	}
	arg := b[8:]
	switch r.Kind {
	case SpaceExit:
		s, err := UnmarshalExitStatus(arg)
		if err != nil {
			return SpaceRecord{}, fmt.Errorf("space record: %s of relay %d: %w", name, r.ID, err)
		}
		r.Status = s
		return r, nil
	case SpaceAdopt, SpaceSignal:
		if binary.BigEndian.Uint32(arg) != 0 {
			return SpaceRecord{}, fmt.Errorf("space record: %s of relay %d: bytes 8-11 not zero (% x)", name, r.ID, arg[:4])
		}
		v := binary.BigEndian.Uint32(arg[4:])
		if r.Kind == SpaceAdopt && (v == 0 || v > maxSpacePID) {
			return SpaceRecord{}, fmt.Errorf("space record: %s of relay %d: PID %d out of range", name, r.ID, v)
		}
		if r.Kind == SpaceSignal {
			if _, err := UnmarshalSignal(arg[4:]); err != nil {
				return SpaceRecord{}, fmt.Errorf("space record: %s of relay %d: %w", name, r.ID, err)
			}
		}
		r.Arg = int(v)
		return r, nil
	}
	for _, c := range arg {
		if c != 0 {
			return SpaceRecord{}, fmt.Errorf("space record: %s of relay %d with an argument (% x)", name, r.ID, arg)
		}
	}
	return r, nil
}

// Signal is a SpaceSignal's signal.
func (r SpaceRecord) Signal() syscall.Signal { return syscall.Signal(r.Arg) }
