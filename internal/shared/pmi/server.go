// Package pmi serves the PMI-1 ("simple") and PMI-2 wire protocols that
// MPICH, MVAPICH, Intel MPI and their kin speak to their process manager:
// rank and size, a key-value space with put, get and fence, barriers, node
// attributes, the process mapping, abort. bpsh --pmi runs one Server per
// job, on the master, and its ranks dial it over TCP (PMI_PORT).
//
// PMI has no authentication. Each rank is given a random PMI_ID, which
// MPICH sends first (PMI-1 "initack pmiid", PMI-2 "fullinit pmirank"): a
// connection that does not show an unused one of the job's IDs is closed,
// and after maxBad such connections the server stops accepting, so a
// stranger who can reach the port has one chance in 2^31/size per try,
// and few tries.
package pmi

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/bproc/bproc/internal/shared/acceptloop"
)

// The limits a client is told (get_maxes), hydra's.
const (
	kvsNameMax = 256
	keyMax     = 64
	valMax     = 1024
)

// maxBad is how many connections may fail the handshake before the
// server stops accepting.
const maxBad = 16

// Server is the PMI service of one job.
type Server struct {
	nodes   []int       // the node of each rank; len is the job's size
	ids     []int       // PMI_ID of each rank
	byID    map[int]int // PMI_ID -> rank
	kvsName string
	mapping string

	// OnAbort is called when a rank aborts the job (MPI_Abort, or an
	// error MPICH gives up on): its rank, the exit code it asked for
	// (-1 when PMI-2 gives none) and its message. Set before Serve.
	OnAbort func(rank, code int, msg string)
	// Logf says what went wrong with a connection. Set before Serve.
	Logf func(format string, args ...any)

	mu        sync.Mutex
	kvs       map[string]string
	nodeAttrs map[int]map[string]string
	attrPut   chan struct{} // closed and replaced on each node attribute put
	joined    []bool        // a connection has shown the rank's ID
	inBarrier []bool
	barrierN  int
	release   chan struct{} // closed when every rank is in the barrier
	bad       int
	listeners []net.Listener
	conns     map[net.Conn]bool
	done      chan struct{} // closed by Close
	closed    bool
}

// New makes the server of a job whose rank i runs on nodes[i].
func New(nodes []int) (*Server, error) {
	if len(nodes) == 0 {
		return nil, errors.New("pmi: a job of no ranks")
	}
	s := &Server{
		nodes: append([]int(nil), nodes...), ids: make([]int, len(nodes)), byID: map[int]int{},
		mapping: processMapping(nodes), kvs: map[string]string{}, nodeAttrs: map[int]map[string]string{},
		attrPut: make(chan struct{}), joined: make([]bool, len(nodes)), inBarrier: make([]bool, len(nodes)),
		release: make(chan struct{}), conns: map[net.Conn]bool{}, done: make(chan struct{}),
		OnAbort: func(int, int, string) {}, Logf: func(string, ...any) {},
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("pmi: random job name: %w", err)
	}
	s.kvsName = fmt.Sprintf("bproc_%x", b)
	for i := range s.ids {
		for {
			if _, err := rand.Read(b[:4]); err != nil {
				return nil, fmt.Errorf("pmi: random PMI_ID: %w", err)
			}
			// atoi on the client side: positive and within an int.
			id := int(binary.LittleEndian.Uint32(b[:4]) & 0x7fffffff)
			if _, taken := s.byID[id]; !taken && id != 0 {
				s.ids[i], s.byID[id] = id, i
				break
			}
		}
	}
	return s, nil
}

// Size is the number of ranks.
func (s *Server) Size() int { return len(s.nodes) }

// Env is what rank i needs in its environment to reach the server at
// addr (host:port, as the rank's node reaches it).
func (s *Server) Env(i int, addr string) []string {
	return []string{
		"PMI_PORT=" + addr,
		"PMI_ID=" + strconv.Itoa(s.ids[i]),
		"PMI_RANK=" + strconv.Itoa(i),
		"PMI_SIZE=" + strconv.Itoa(len(s.nodes)),
	}
}

// Serve answers the connections l accepts until l or the server is closed.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	return acceptloop.Serve(l, s.serveConn, func(err error) { s.Logf("pmi: accept: %v", err) })
}

// Close stops accepting, ends every connection and wakes every waiter.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	for _, l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
}

// join gives the rank of a PMI_ID not yet shown.
func (s *Server) join(id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := strconv.Atoi(id)
	rank, ok := s.byID[n]
	if err == nil && ok && !s.joined[rank] {
		s.joined[rank] = true
		return rank, nil
	}
	if err == nil && ok {
		return -1, fmt.Errorf("PMI_ID of rank %d shown twice", rank)
	}
	return -1, fmt.Errorf("PMI id %q is none of the job's", clip(id))
}

// stranger counts a connection that failed the handshake.
func (s *Server) stranger() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strangerLocked()
}

func (s *Server) strangerLocked() {
	s.bad++
	if s.bad == maxBad {
		s.Logf("pmi: %d connections failed the handshake: no longer accepting", maxBad)
		for _, l := range s.listeners {
			l.Close()
		}
	}
}

// barrier enters rank into the barrier and waits for the others: PMI-1's
// barrier_in and PMI-2's kvs-fence alike. False when the server closed.
func (s *Server) barrier(rank int) (bool, error) {
	s.mu.Lock()
	if s.inBarrier[rank] {
		s.mu.Unlock()
		return false, fmt.Errorf("rank %d entered the barrier twice", rank)
	}
	s.inBarrier[rank] = true
	s.barrierN++
	wait := s.release
	if s.barrierN == len(s.nodes) {
		close(s.release)
		s.release = make(chan struct{})
		s.barrierN = 0
		clear(s.inBarrier)
	}
	s.mu.Unlock()
	select {
	case <-wait:
		return true, nil
	case <-s.done:
		return false, nil
	}
}

func (s *Server) put(key, val string) {
	s.mu.Lock()
	s.kvs[key] = val
	s.mu.Unlock()
}

func (s *Server) get(key string) (string, bool) {
	if key == "PMI_process_mapping" {
		return s.mapping, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kvs[key]
	return v, ok
}

func (s *Server) putNodeAttr(rank int, key, val string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	node := s.nodes[rank]
	if s.nodeAttrs[node] == nil {
		s.nodeAttrs[node] = map[string]string{}
	}
	s.nodeAttrs[node][key] = val
	close(s.attrPut)
	s.attrPut = make(chan struct{})
}

// getNodeAttr looks key up among the attributes of rank's node, waiting
// for another rank there to put it if wait is set.
func (s *Server) getNodeAttr(rank int, key string, wait bool) (string, bool) {
	for {
		s.mu.Lock()
		v, ok := s.nodeAttrs[s.nodes[rank]][key]
		changed := s.attrPut
		s.mu.Unlock()
		if ok || !wait {
			return v, ok
		}
		select {
		case <-changed:
		case <-s.done:
			return "", false
		}
	}
}

// jobAttr is a PMI-2 job attribute.
func (s *Server) jobAttr(key string) (string, bool) {
	switch key {
	case "PMI_process_mapping":
		return s.mapping, true
	case "universeSize":
		return strconv.Itoa(len(s.nodes)), true
	}
	return "", false
}
