package master

import (
	"fmt"
	"io"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// eventWriteTimeout bounds the write of one event: a reader that takes
// longer is dropped, as one whose queue overflows.
const eventWriteTimeout = 10 * time.Second

// serveEvents answers OpEvents: the connection becomes the caller's
// stream of cluster events until it hangs up, falls behind, or the
// master stops. It returns when the connection is to be closed.
func (m *Master) serveEvents(c *client) {
	if c.conn == nil { // from a node: refused before, by fromNode
		return
	}
	sub, err := m.obs.events.subscribe(c.cred)
	if err != nil {
		var reply localapi.Reply
		reply.Fail(err)
		c.send(reply)
		return
	}
	defer m.obs.events.unsubscribe(sub)
	c.conn.SetReadDeadline(time.Time{})
	if err := m.sendEvent(c, localapi.Reply{}); err != nil {
		return
	}
	// The client sends nothing more: a read ends when it hangs up (or
	// the master closes the connection as it stops).
	hungUp := make(chan struct{})
	m.routines.Go(func() {
		io.Copy(io.Discard, c.conn)
		close(hungUp)
	})
	defer c.conn.Close() // ends the read above
	var last uint64      // the last event sent: the drop says where the stream broke
	for {
		select {
		case ev := <-sub.ch:
			select {
			case <-sub.dropped: // behind already: say so now, not 1024 events later
				m.dropStream(c, last, fmt.Sprintf("events: the reader fell %d events behind; stream ended", eventQueue))
				return
			default:
			}
			if err := m.sendEvent(c, ev); err != nil {
				m.dropStream(c, last, fmt.Sprintf("events: the reader took more than %s to take one event", eventWriteTimeout))
				return
			}
			last = ev.Seq
		case <-sub.dropped:
			m.dropStream(c, last, fmt.Sprintf("events: the reader fell %d events behind; stream ended", eventQueue))
			return
		case <-hungUp:
			return
		case <-m.routines.stopped:
			return
		}
	}
}

func (m *Master) sendEvent(c *client, v any) error {
	c.conn.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	return c.send(v)
}

// dropStream ends a stream whose reader fell behind, telling it why if
// it still reads at all. The drop's Seq is the last event the reader
// was sent: what it missed comes after.
func (m *Master) dropStream(c *client, last uint64, why string) {
	m.obs.droppedStream()
	m.warns.Warn(c.log, c.cred.UID, "event stream dropped", "reason", why)
	m.sendEvent(c, localapi.ClusterEvent{Seq: last, Time: time.Now(), Kind: localapi.EventDropped, Node: -1, Error: why})
}
