package master

import "syscall"

// A process is in the tables (OpSignal finds it, bpstat -p lists it) from
// its ghost's hello on, but its channel opens only once its node has
// started it: a round trip, the node's stdio opens, a push, the exec. A
// signal sent meanwhile finds no channel and is held (signal), as for a
// node that is away; sendHeld sends it once the channel is open. Before,
// it stayed held until a resume that never came: bpsh on a node, which
// passes its signals on with OpSignal by the ghost's PID, lost a SIGINT
// that came as its rank started (TestSignalWhileStarting).

// sendHeld sends, on the channel just opened, the signals held while
// there was none. It goes through the sender, after the signals queued
// before it: one that found no channel has been held by then, and one
// queued after finds the channel.
func (p *proc) sendHeld() {
	p.send(func() {
		p.rs.mu.Lock()
		held := p.rs.held
		p.rs.held = nil
		p.rs.mu.Unlock()
		for _, sig := range held {
			p.deliver(sig)
		}
	})
}

// signal delivers sig to the remote process, after what was queued before;
// past maxQueuedSignals it is dropped (procs_sigbound.go).
func (p *proc) signal(sig syscall.Signal) {
	if !p.queueSignal() {
		p.droppedSignal(sig)
		return
	}
	p.send(func() {
		p.unqueueSignal()
		p.deliver(sig)
	})
}
