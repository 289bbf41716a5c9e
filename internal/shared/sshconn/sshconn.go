// Package sshconn opens SSH channels on a connection that may end at
// any moment, without waiting forever for an answer that cannot come.
//
// x/crypto/ssh's OpenChannel waits for the peer's confirmation on a Go
// channel that the connection's end closes, but only for the channels it
// knew at that end: its reading loop, once the connection has failed,
// drops the channels it has and closes them, and only then closes the
// transport, whose first failed write still reports success. A channel
// opened in between is added to the emptied list, its open "sent", and
// its confirmation awaited forever. A view whose files session broke with
// its master's connection dials again at once on the same connection,
// right in that window: a process's read hung in the kernel's FUSE wait,
// and a bpslave spawning into the view with it (TestMasterKilledLocalNodes).
package sshconn

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/ssh"
)

// ErrClosed is OpenChannel's error when the connection ended first.
var ErrClosed = errors.New("ssh connection closed")

// watches holds, by connection, a channel closed when it has ended: one
// goroutine per connection waits for that, not one per channel opened.
var watches sync.Map // ssh.Conn -> chan struct{}

// Done is closed once conn has ended.
func Done(conn ssh.Conn) <-chan struct{} {
	if d, ok := watches.Load(conn); ok {
		return d.(chan struct{})
	}
	d, loaded := watches.LoadOrStore(conn, make(chan struct{}))
	done := d.(chan struct{})
	if !loaded {
		go func() {
			conn.Wait()
			close(done)
			watches.Delete(conn)
		}()
	}
	return done
}

// OpenChannel is conn.OpenChannel, returning ErrClosed once conn has
// ended instead of waiting for an answer that will not come. An open
// given up on leaves its goroutine waiting: only that race leaves one.
func OpenChannel(conn ssh.Conn, kind string, extra []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	type opened struct {
		ch   ssh.Channel
		reqs <-chan *ssh.Request
		err  error
	}
	res := make(chan opened, 1)
	go func() {
		ch, reqs, err := conn.OpenChannel(kind, extra)
		res <- opened{ch, reqs, err}
	}()
	select {
	case r := <-res:
		return r.ch, r.reqs, r.err
	case <-Done(conn):
		// An answer that made it in time wins.
		select {
		case r := <-res:
			return r.ch, r.reqs, r.err
		default:
		}
		return nil, nil, fmt.Errorf("open %s channel: %w", kind, ErrClosed)
	}
}
