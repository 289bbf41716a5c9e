package wire

import "syscall"

// OrphanSignal is the parent-death signal bpmaster gives the namespace
// nodes of --local-nodes: it tells a node that the master that started it
// is gone (killed, crashed), so that it waits for a next master for the
// grace time and then ends (internal/node/orphan.go), instead of dying
// with its master or living on forever.
const OrphanSignal = syscall.SIGUSR2

// MasterLockFile is the file in the master's state directory (beside its
// host key) that a running bpmaster holds a write lock on (an open file
// description lock): a namespace node tests it to tell a master that is
// gone from one that is only paused, also when the master is not the one
// that started it (a next master took it back), where the parent-death
// signal says nothing.
const MasterLockFile = "master.lock"
