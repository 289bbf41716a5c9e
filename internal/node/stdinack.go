package node

import (
	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/streamcopy"
	"github.com/bproc/bproc/internal/shared/wire"
)

// A master of protocol 3 keeps the stdin it sent until the node
// acknowledges it (wire.ReqStdinAck): the node counts what it has
// written into the process's stdin, across channels, says that count
// first on each channel (where a resume goes on from: the master sends
// the rest again) and then every stdinAckEvery bytes.

// stdinAckEvery is how much stdin an acknowledgment waits for: a
// sixty-fourth of what the master holds unacknowledged (ackbuf.Bound).
const stdinAckEvery = 64 << 10

// inCount is a link's stdin: its bytes written into the process, and
// whether a channel's copy runs, under link.mu.
type inCount struct {
	n    int64
	busy bool
}

// ackStdin tells the master how much stdin the process has been given.
func (l *link) ackStdin(ch ssh.Channel, n int64) {
	ch.SendRequest(wire.ReqStdinAck, false, wire.Encode(wire.StdinAck{Offset: n}))
}

// copyIn copies ch into the process's stdin, counted. One channel's copy
// at a time, in order: a copy of a lost channel still writing into a
// full pipe finishes before the next channel's says its count, so
// nothing is written twice.
func (l *link) copyIn(ch ssh.Channel, acks bool) {
	l.mu.Lock()
	for l.in.busy {
		l.cond.Wait()
	}
	l.in.busy = true
	n := l.in.n
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.in.busy = false
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	if acks {
		l.ackStdin(ch, n)
	}
	// Through streamcopy: a quiet stdin holds 512 bytes, not 32 kB.
	streamcopy.Copy(&inWriter{l: l, ch: ch, acks: acks, acked: n}, ch)
}

// inWriter writes into the process's stdin, counted, and acknowledges.
type inWriter struct {
	l     *link
	ch    ssh.Channel
	acks  bool
	acked int64
}

func (w *inWriter) Write(b []byte) (int, error) {
	l := w.l
	k, err := l.st.stdin.Write(b)
	l.mu.Lock()
	l.in.n += int64(k)
	n := l.in.n
	l.mu.Unlock()
	if w.acks && n-w.acked >= stdinAckEvery {
		l.ackStdin(w.ch, n)
		w.acked = n
	}
	return k, err
}
