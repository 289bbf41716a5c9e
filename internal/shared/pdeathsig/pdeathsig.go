// Package pdeathsig starts child processes whose parent-death signal
// (SysProcAttr.Pdeathsig) means what it says: sent when this process dies.
//
// Linux sends the signal when the thread that forked the child exits, not
// the process, and Go ends an OS thread whenever a goroutine locked to it
// returns: package asuser does exactly that, once per user operation. A
// child forked by such a thread would be killed the moment the thread goes
// (a namespace node, the node's view). Start forks from one thread that is
// locked for the life of the process and never exits.
package pdeathsig

import (
	"os/exec"
	"runtime"
	"sync"
)

type request struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	once     sync.Once
	requests chan request
)

// Start starts cmd (cmd.Start) from the process's long-lived forking
// thread.
func Start(cmd *exec.Cmd) error {
	once.Do(func() {
		requests = make(chan request)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range requests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	requests <- request{cmd, done}
	return <-done
}
