package bpsh

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
	"github.com/bproc/bproc/internal/shared/pmi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// pmiJob is bpsh --pmi: a PMI server for the job's ranks, listening on TCP
// where each node reaches the master, and hydra's rule that a rank that
// fails or aborts ends the whole job.
type pmiJob struct {
	srv  *pmi.Server
	addr map[int]string // node -> host:port its ranks dial
	r    *runner

	mu    sync.Mutex
	done  bool
	code  int           // bpsh's status once stopped
	stopc chan struct{} // closed by stop: the runner kills the ranks
}

// startPMI makes the server and its listeners: 127.0.0.1 for the master
// and namespace nodes (they share the master's network), and for a
// machine node the master's address on the way to it.
func (r *runner) startPMI() (*pmiJob, error) {
	srv, err := pmi.New(r.nodes)
	if err != nil {
		return nil, err
	}
	table, err := r.client.Nodes()
	if err != nil {
		return nil, err
	}
	byNum := map[int]localapi.NodeStatus{}
	for _, n := range table {
		byNum[n.Num] = n
	}
	p := &pmiJob{srv: srv, addr: map[int]string{}, r: r, stopc: make(chan struct{})}
	listening := map[netip.Addr]string{}
	for _, n := range r.nodes {
		if _, done := p.addr[n]; done {
			continue
		}
		host, err := pmiHost(n, byNum[n])
		if err != nil {
			p.close()
			return nil, err
		}
		if listening[host] == "" {
			l, err := net.Listen("tcp", netip.AddrPortFrom(host, 0).String())
			if err != nil {
				p.close()
				return nil, fmt.Errorf("--pmi: listen on %s: %w", host, err)
			}
			listening[host] = l.Addr().String()
			go srv.Serve(l)
		}
		p.addr[n] = listening[host]
	}
	srv.Logf = func(f string, a ...any) { fmt.Fprintf(r.errW, "bpsh: "+f+"\n", a...) }
	srv.OnAbort = func(rank, code int, msg string) {
		why := fmt.Sprintf("rank %d aborted the job (exit code %d)", rank, code)
		if msg != "" {
			why += ": " + msg
		}
		p.stop(code&0xff, why)
	}
	return p, nil
}

// pmiHost is the address node n's ranks reach the master on.
func pmiHost(n int, st localapi.NodeStatus) (netip.Addr, error) {
	if n == nodeset.Master || st.Local {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	to, err := netip.ParseAddr(st.Addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--pmi: node %d: no address to reach the master from (%q)", n, st.Addr)
	}
	// A UDP "connection" sends nothing: it asks the kernel which of the
	// master's addresses routes to the node.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, wire.DefaultPort)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--pmi: node %d: route to %s: %w", n, to, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// env is what rank i gets to reach the server.
func (p *pmiJob) env(i int) []string { return p.srv.Env(i, p.addr[p.r.nodes[i]]) }

// ended is told of each rank that ends: the first to end badly stops
// the job, as hydra does, since the others would wait for it forever.
func (p *pmiJob) ended(rk *rank) {
	s := wire.FromWait(rk.ws)
	if s.Code == 0 && s.Signal == 0 {
		return
	}
	p.stop(s.Shell(), fmt.Sprintf("rank %d (node %d) %s", rk.index, rk.node, s))
}

// pmiUnstarted stops an MPI job of which a rank could not run: the others
// would wait for it in MPI_Init forever.
func (r *runner) pmiUnstarted() {
	if r.pmi == nil {
		return
	}
	for _, rk := range r.ranks {
		if rk.errText != "" && !rk.reaped {
			r.pmi.stop(255, fmt.Sprintf("rank %d (node %d) did not run", rk.index, rk.node))
			return
		}
	}
}

// stop ends the job, once: it keeps code as bpsh's status and has the
// runner kill every rank (killAll), in its own goroutine, where the
// ranks' PIDs are known.
func (p *pmiJob) stop(code int, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done, p.code = true, code
	fmt.Fprintf(p.r.errW, "bpsh: %s: stopping the job\n", why)
	close(p.stopc)
}

// killAll kills every rank until all have ended (done): a remote one
// through the master, whose ghost then ends as it did. It asks again
// while any is left, since a rank whose ghost has come but whose process
// is not yet on its node cannot be signalled yet, and killing its ghost
// instead would leave the process running.
func (p *pmiJob) killAll(done <-chan struct{}) {
	c, err := apiclient.Dial(p.r.client.Socket)
	if err != nil {
		fmt.Fprintf(p.r.errW, "bpsh: stopping the job: %v\n", err)
	} else {
		defer c.Close()
	}
	for {
		for _, rk := range p.r.ranks {
			switch {
			case rk.pid == 0:
			case rk.node == nodeset.Master || c == nil:
				syscall.Kill(rk.pid, syscall.SIGKILL)
			default:
				c.Signal(rk.pid, syscall.SIGKILL)
			}
		}
		select {
		case <-done:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopped is closed when the job is stopped; nil without --pmi.
func (p *pmiJob) stopped() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.stopc
}

// status is bpsh's exit status when the job was stopped.
func (p *pmiJob) status() (int, bool) {
	if p == nil {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code, p.done
}

func (p *pmiJob) close() {
	if p != nil {
		p.srv.Close()
	}
}

// pmiEnvOf is the environment of a rank bpsh starts on the master itself.
func pmiEnvOf(p *pmiJob, i int) []string {
	if p == nil {
		return nil
	}
	return p.env(i)
}
