package master

import (
	"io"
	"net"
	"time"
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
func closeGhost(c *net.UnixConn) {
	c.CloseWrite()
	go func() {
		c.SetReadDeadline(time.Now().Add(lingerWait))
		io.Copy(io.Discard, c)
		c.Close()
	}()
}
