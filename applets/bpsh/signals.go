package bpsh

import (
	"os"
	"os/signal"
	"syscall"
)

// relayed are the signals bpsh catches: SIGTERM, SIGHUP, SIGUSR1 and
// SIGUSR2 it passes on to every ghost; SIGINT and SIGQUIT it only swallows,
// since the terminal sent them to the ghosts too (see forward).
var relayed = []os.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}

// catch starts catching the relayed signals without waiting for it. The
// runtime's first Notify makes a round trip to its signal thread for every
// signal, and its Stop waits for that thread to go idle: each cost about a
// third of a millisecond here, of a bpsh that takes a few. So Notify
// overlaps with parsing the command line and asking the master, and stop
// does not hold up bpsh's exit. A signal that comes before Notify has taken
// hold has its default effect, as it would have a moment earlier, before
// bpsh reached this point.
func catch() (sigs <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 16)
	caught := make(chan struct{})
	go func() {
		signal.Notify(c, relayed...)
		close(caught)
	}()
	return c, func() {
		go func() {
			<-caught
			signal.Stop(c)
		}()
	}
}
