package master

import (
	"io"
	"sync"
)

// routines are the goroutines that serve the master's connections (local
// clients and ghosts, nodes, and what each starts) and the connections
// they serve, so that Run, at its end, closes every connection and returns
// only once each of those goroutines has: a master that returned with
// them running wrote to closed sockets and logged after it said it had
// stopped, and a test could not tell when it was gone.
//
// Each Add happens before stop (serve checks under mu), or in a goroutine
// that is counted already, so the count is above zero then: wait may run
// while the goroutines still start more.
type routines struct {
	wg sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	stopping bool
	open     map[io.Closer]io.Closer // what stop closes for each served (swap)
	stopped  chan struct{}           // closed by stop: waits that would outlast it end
}

func newRoutines() *routines {
	return &routines{open: make(map[io.Closer]io.Closer), stopped: make(chan struct{})}
}

// Go runs f in a goroutine that wait waits for.
func (r *routines) Go(f func()) { r.wg.Go(f) }

// serve runs f in a goroutine that wait waits for, with c closed by stop
// if it is open then. Once stop has begun, c is closed and f not run: a
// connection accepted as the listener closed gets no service.
func (r *routines) serve(c io.Closer, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		c.Close()
		return
	}
	r.open[c] = c
	r.wg.Go(func() {
		defer r.forget(c)
		f()
	})
}

// swap has stop close to rather than from, a connection served that goes
// on as to (ownConn); false, with to closed, once stop has begun.
func (r *routines) swap(from, to io.Closer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		to.Close()
		return false
	}
	if _, ok := r.open[from]; ok {
		r.open[from] = to
	}
	return true
}

func (r *routines) forget(c io.Closer) {
	r.mu.Lock()
	delete(r.open, c)
	r.mu.Unlock()
}

// stop closes every connection served and refuses new ones; wait then
// waits for the goroutines.
func (r *routines) stop() {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return
	}
	r.stopping = true
	open := make([]io.Closer, 0, len(r.open))
	for _, c := range r.open {
		open = append(open, c)
	}
	close(r.stopped)
	r.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

func (r *routines) wait() { r.wg.Wait() }
