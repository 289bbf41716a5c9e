package nodeview

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// user is who a FUSE request comes from: the uid and gid the kernel puts in
// every request. Each user's requests go through a session of their own, so
// the master's kernel, not the view, decides what they may read.
type user struct{ uid, gid uint32 }

func (u user) String() string { return fmt.Sprintf("uid %d gid %d", u.uid, u.gid) }

var errClosed = errors.New("nodeview: view unmounted")

// session is one user's sftp client.
type session struct {
	ready chan struct{} // closed when dialing ended; c or err is set
	c     *sftp.Client
	err   error
	lost  chan struct{} // closed when the connection is gone

	// Guarded by sessions.mu.
	busy    int // operations in progress: never closed for idleness
	lastUse time.Time
}

func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// sessions keeps one sftp client per user: dialed on first use (once, even
// when many requests of a new user arrive together), closed when idle, and
// dropped when its connection breaks so the next request dials again.
type sessions struct {
	dial  func(uid, gid uint32) (*sftp.Client, error)
	idle  time.Duration
	dials atomic.Int64
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex // guards the fields below
	m      map[user]*session
	closed bool
}

func newSessions(dial func(uid, gid uint32) (*sftp.Client, error), idle time.Duration) *sessions {
	s := &sessions{
		dial: dial, idle: idle, m: make(map[user]*session),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.reap()
	return s
}

// do runs op with u's client. Every operation of the view is a read, so one
// that failed because the connection broke is run again, once, on a new
// session: a master that restarted, or a node that reconnected, costs the
// user nothing.
func (s *sessions) do(u user, op func(*sftp.Client) error) error {
	for attempt := 0; ; attempt++ {
		sess, err := s.get(u)
		if err != nil {
			return err
		}
		err = op(sess.c)
		lost := err != nil && (connectionLost(err) || sess.isLost())
		s.put(u, sess, lost)
		if !lost || attempt > 0 {
			return err
		}
	}
}

// get returns u's session, dialing it if there is none, and marks it busy.
func (s *sessions) get(u user) (*session, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	sess := s.m[u]
	first := sess == nil
	if first {
		sess = &session{ready: make(chan struct{}), lost: make(chan struct{})}
		s.m[u] = sess
	}
	sess.busy++
	s.mu.Unlock()

	if first {
		s.dials.Add(1)
		c, err := s.dial(u.uid, u.gid)
		if err == nil && c == nil {
			err = errors.New("Dial returned no client")
		}
		s.mu.Lock()
		if err != nil {
			sess.err = fmt.Errorf("nodeview: sftp session for %v: %w", u, err)
			if s.m[u] == sess {
				delete(s.m, u) // the next request dials again
			}
		} else {
			sess.c = c
		}
		close(sess.ready)
		s.mu.Unlock()
		if err == nil {
			go s.watch(u, sess)
		}
	}
	<-sess.ready
	if sess.err != nil {
		s.mu.Lock()
		sess.busy--
		s.mu.Unlock()
		return nil, sess.err
	}
	return sess, nil
}

// put ends an operation on sess; a lost session is closed and forgotten.
func (s *sessions) put(u user, sess *session, lost bool) {
	s.mu.Lock()
	sess.busy--
	sess.lastUse = time.Now()
	if lost && s.m[u] == sess {
		delete(s.m, u)
	}
	s.mu.Unlock()
	if lost {
		sess.c.Close()
	}
}

// watch forgets sess when its connection ends, whoever ended it, so that
// a dead client is never handed out again.
func (s *sessions) watch(u user, sess *session) {
	sess.c.Wait()
	close(sess.lost)
	s.mu.Lock()
	if s.m[u] == sess {
		delete(s.m, u)
	}
	s.mu.Unlock()
}

// reap closes sessions idle for longer than s.idle: on the master each is
// a channel and a server thread running as that user, kept only while the
// user's programs on this node read files.
func (s *sessions) reap() {
	defer close(s.done)
	tick := time.NewTicker(max(s.idle/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			var idle []*session
			s.mu.Lock()
			for u, sess := range s.m {
				if sess.busy == 0 && sess.c != nil && now.Sub(sess.lastUse) >= s.idle {
					delete(s.m, u)
					idle = append(idle, sess)
				}
			}
			s.mu.Unlock()
			for _, sess := range idle {
				sess.c.Close()
			}
		}
	}
}

// close closes every session; operations in progress fail with a lost
// connection, and later ones with errClosed.
func (s *sessions) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	all := s.m
	s.m = nil
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	for _, sess := range all {
		<-sess.ready
		if sess.c != nil {
			sess.c.Close()
		}
	}
}

// count is the number of sessions open now.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// current is u's open session, or nil: what a grant (grant.go) is tied to.
func (s *sessions) current(u user) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.m[u]; sess != nil && sess.c != nil {
		return sess
	}
	return nil
}

// connectionLost reports whether err says the session's connection broke:
// sftp's own word for it, or what a write to a connection whose other end
// is gone answers before the session's watch has seen it end (EPIPE). Not
// io.EOF: a read at a file's end says that.
func connectionLost(err error) bool {
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe)
}
