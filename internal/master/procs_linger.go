package master

import (
	"time"

	"github.com/bproc/bproc/internal/shared/ghost"
)

// lingerWait bounds how long the master keeps an ended process's ghost
// connection open for the ghost to read how to die.
const lingerWait = 5 * time.Second

// closeGhost closes the connection of a ghost that has been told how to
// die (finish) once the ghost has hung up, lingerWait at the latest. A
// ghost that has a signal to relay when the command comes (the SIGCONT
// that continues a stopped ghost, a signal that crossed its process's
// end) may write it first and read the command only after: a connection
// already closed fails that write, which the ghost takes for a master
// gone, and it dies of SIGKILL instead of its process's status.
//
// What the ghost still says is a few events, read into a buffer of that
// size: io.Discard's are 8 kB, one for each ghost lingering at once, and
// a tree of thousands of processes ends at once.
func closeGhost(c ghostConn) {
	shutdownWrite(c)
	go func() {
		c.SetReadDeadline(time.Now().Add(lingerWait))
		var buf [4 * ghost.EventSize]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				break
			}
		}
		c.Close()
	}()
}
