package wire

import "syscall"

// OrphanSignal is the parent-death signal bpmaster gives the namespace
// nodes of --local-nodes: it tells a node that the master that started it
// is gone (killed, crashed), so that it waits for a next master for the
// grace time and then ends (internal/node/orphan.go), instead of dying
// with its master or living on forever.
const OrphanSignal = syscall.SIGUSR2
