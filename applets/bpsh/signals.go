package bpsh

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// relayed are the signals bpsh catches and passes on to every rank (see
// forward); ghost.Group.Forwarded must name the same.
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

// terminalsForeground says whether bpsh (and so the processes it runs on
// the master, which stay in its process group) is in the foreground
// process group of its controlling terminal: the only place a signal from
// the terminal's keys reaches. Go's signal handling does not tell who
// sent a signal (siginfo's si_code), so for those processes a SIGINT sent
// with kill to a bpsh in the terminal's foreground is taken for the
// terminal's.
func terminalsForeground() bool {
	tty, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false // no controlling terminal
	}
	defer unix.Close(tty)
	fg, err := unix.IoctlGetInt(tty, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}
