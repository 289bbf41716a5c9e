package master

import (
	"reflect"
	"sync"

	"golang.org/x/crypto/ssh"
)

// reqShardSize is how many channels' requests one goroutine waits on. A
// wake-up costs a select over all of them (each locked, queued on and
// dequeued from): small enough that a launch of thousands is not slowed,
// large enough that the goroutines are few.
const reqShardSize = 64

// reqWatch waits on the requests of many process channels with a few
// goroutines: x/crypto/ssh hands a channel's requests over only on a Go
// channel, and a goroutine parked on each would cost every live process a
// stack of its own (4 kB, the most of what it cost bpmaster).
//
// Handlers run on the watch's goroutines, one channel's in the order its
// requests came and its end last; they must not block (what may, they
// hand to the process's sender, see proc.send).
type reqWatch struct {
	mu     sync.Mutex // guards the fields below
	shards []*reqShard
}

type reqShard struct {
	wake chan struct{} // cap 1: add has something for the shard

	mu    sync.Mutex // guards the fields below
	added []*watched
	n     int // channels watched and added; the shard is gone at 0
}

// reqHandler takes one channel's requests (a process's relayRun): an
// interface, not two closures, which a process would hold for its life.
type reqHandler interface {
	onReq(*ssh.Request)
	onDone() // the requests have closed: the channel has ended
}

// watched is one channel's requests and their handler.
type watched struct {
	reqs <-chan *ssh.Request
	h    reqHandler
}

// watch calls h.onReq for each request of reqs, then h.onDone once reqs
// has closed.
func (w *reqWatch) watch(reqs <-chan *ssh.Request, h reqHandler) {
	e := &watched{reqs: reqs, h: h}
	w.mu.Lock()
	defer w.mu.Unlock()
	var s *reqShard
	for i := len(w.shards) - 1; i >= 0; i-- { // the newest first: the likeliest to have room
		c := w.shards[i]
		c.mu.Lock()
		if c.n < reqShardSize {
			s = c
			break
		}
		c.mu.Unlock()
	}
	if s == nil {
		s = &reqShard{wake: make(chan struct{}, 1)}
		s.mu.Lock()
		w.shards = append(w.shards, s)
		go w.serve(s)
	}
	s.n++
	s.added = append(s.added, e)
	s.mu.Unlock()
	notify(s.wake)
}

// serve is one shard's goroutine: it ends when its last channel has.
func (w *reqWatch) serve(s *reqShard) {
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.wake)}}
	var list []*watched
	for {
		chosen, v, ok := reflect.Select(cases)
		if chosen == 0 {
			s.mu.Lock()
			for _, e := range s.added {
				list = append(list, e)
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(e.reqs)})
			}
			s.added = nil
			s.mu.Unlock()
			continue
		}
		e := list[chosen-1]
		if ok {
			e.h.onReq(v.Interface().(*ssh.Request))
			continue
		}
		last := len(list) - 1
		list[chosen-1], list[last] = list[last], nil
		list = list[:last]
		cases[chosen], cases[last+1] = cases[last+1], reflect.SelectCase{}
		cases = cases[:last+1]
		e.h.onDone()
		if w.done(s) {
			return
		}
	}
}

// done counts one of s's channels ended, and says whether s has none left:
// it is then no longer offered to watch.
func (w *reqWatch) done(s *reqShard) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n--; s.n > 0 {
		return false
	}
	for i, c := range w.shards {
		if c == s {
			w.shards = append(w.shards[:i], w.shards[i+1:]...)
			break
		}
	}
	return true
}
