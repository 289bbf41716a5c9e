package node

import (
	"os"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// masterRequests answers the master's global requests: pings, stats (which
// the master asks for as its ping), and actions, which are handed to the
// session so it can carry them out after the reply has gone.
func (s *Slave) masterRequests(reqs <-chan *ssh.Request, actions chan<- string) {
	for r := range reqs {
		switch r.Type {
		case wire.ReqPing:
			r.Reply(true, nil)
		case wire.ReqStats:
			st, err := readStats("/proc")
			if err != nil {
				s.log.Warn("node stats", "err", err)
			}
			r.Reply(true, wire.Encode(st))
		case wire.ReqAction:
			a := string(r.Payload)
			ok := a == wire.ActionReboot || a == wire.ActionHalt || a == wire.ActionPwroff
			if ok {
				select {
				case actions <- a:
				default: // one is under way already
				}
			} else {
				s.log.Warn("unknown action from master", "action", a)
			}
			r.Reply(ok, nil)
		default:
			r.Reply(false, nil)
		}
	}
}

// act carries out reboot, halt or pwroff. A node that is PID 1 of its own
// machine kills its processes, syncs and calls reboot(2). A namespace node
// or a bpslave started by hand has no machine to reboot: it ends its
// session (reboot: it connects again with a clean process table) or exits
// (halt, pwroff), and bpmaster --local-nodes does the rest.
func (s *Slave) act(action string, conn ssh.Conn) {
	s.log.Info("master asks to "+action, "pid1", os.Getpid() == 1)
	// Let the reply reach the master before the connection goes.
	time.Sleep(100 * time.Millisecond)
	s.killAll()
	if os.Getpid() == 1 && !s.cfg.Local {
		unix.Sync()
		cmd := unix.LINUX_REBOOT_CMD_RESTART
		switch action {
		case wire.ActionHalt:
			cmd = unix.LINUX_REBOOT_CMD_HALT
		case wire.ActionPwroff:
			cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
		}
		if err := unix.Reboot(cmd); err != nil {
			s.log.Error("reboot(2)", "action", action, "err", err)
		}
		return
	}
	s.mu.Lock()
	s.action = action
	s.mu.Unlock()
	conn.Close()
}
