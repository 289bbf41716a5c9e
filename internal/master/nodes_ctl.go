package master

import (
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// ctl applies one bpctl step to each node and reports the nodes it could not
// change. Who may do what comes from the caller's credentials: only root
// sets states, runs actions and chowns; a node's owner chmods it and chgrps
// it to one of the owner's own groups.
func (m *Master) ctl(c localapi.Cred, req *localapi.Ctl) ([]localapi.NodeError, error) {
	if err := validCtl(req); err != nil {
		return nil, err
	}
	var failed []localapi.NodeError
	var actions []func()
	m.mu.Lock()
	changed := false
	for _, num := range req.Nodes {
		n := m.nodes[num]
		if n == nil {
			failed = append(failed, localapi.Failure(num, errInvalidNode))
			continue
		}
		act, err := m.ctlNodeLocked(c, n, req)
		if err != nil {
			failed = append(failed, localapi.Failure(num, err))
			continue
		}
		if act != nil {
			actions = append(actions, act)
		}
		changed = true
	}
	var saveErr error
	if changed {
		m.changedLocked()
		if req.Action == "" {
			saveErr = m.saveLocked()
		}
	}
	m.mu.Unlock()
	for _, act := range actions {
		act()
	}
	return failed, saveErr
}

func validCtl(req *localapi.Ctl) error {
	if req == nil {
		return fmt.Errorf("ctl: missing request")
	}
	set := 0
	for _, b := range []bool{req.State != "", req.Action != "", req.Mode != nil, req.UID != nil, req.GID != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("ctl: want exactly one change per request, got %d", set)
	}
	switch req.State {
	case "", localapi.StateUp, localapi.StateError, localapi.StateUnavailable:
	case localapi.StateDown, localapi.StateBoot:
		return fmt.Errorf("ctl: state %s is the master's to set, not an administrator's", req.State)
	default:
		return fmt.Errorf("ctl: unknown state %q", req.State)
	}
	switch req.Action {
	case "", wire.ActionReboot, wire.ActionHalt, wire.ActionPwroff:
	default:
		return fmt.Errorf("ctl: unknown action %q", req.Action)
	}
	if err := checkReason(req); err != nil {
		return err
	}
	if req.Mode != nil && *req.Mode&^0o111 != 0 {
		return fmt.Errorf("ctl: mode %#o: only execute bits (0111) mean anything on a node", *req.Mode)
	}
	return nil
}

// ctlNodeLocked changes one node, or says why not (BProc's error texts).
// An action is returned to run without the lock: it talks to the node.
func (m *Master) ctlNodeLocked(c localapi.Cred, n *node, req *localapi.Ctl) (func(), error) {
	isOwner := c.UID == 0 || c.UID == n.perms.UID
	switch {
	case req.State != "":
		if c.UID != 0 {
			return nil, errNotPermitted
		}
		if n.state == localapi.StateDown {
			return nil, errNodeDown
		}
		n.hold(req.State, req.Reason, time.Now())
		if n.state != localapi.StateBoot { // setup ends in the held state
			n.state = req.State
		}
	case req.Action != "":
		if c.UID != 0 {
			return nil, errNotPermitted
		}
		return m.actionLocked(n, req.Action)
	case req.UID != nil:
		if c.UID != 0 {
			return nil, errNotPermitted
		}
		n.perms.UID = *req.UID
	case req.GID != nil:
		if !isOwner || (c.UID != 0 && !inGroup(c, *req.GID)) {
			return nil, errNotPermitted
		}
		n.perms.GID = *req.GID
	case req.Mode != nil:
		if !isOwner {
			return nil, errNotPermitted
		}
		n.perms.Mode = *req.Mode
	}
	return nil, nil
}

// actionLocked starts a reboot, halt or pwroff. A namespace node is the
// master's own child: its supervisor does it. A real node is asked to,
// and calls reboot(2).
func (m *Master) actionLocked(n *node, action string) (func(), error) {
	if n.local {
		if m.local == nil || m.local[n.num] == nil {
			return nil, errNodeDown
		}
		ln := m.local[n.num]
		if n.conn == nil && action != wire.ActionReboot {
			return nil, errNodeDown
		}
		return func() { ln.control(action) }, nil
	}
	sc := n.conn
	if sc == nil {
		return nil, errNodeDown
	}
	num := n.num
	return func() {
		m.sendAction(sc, action)
		m.dropKept(num, "the node was told to "+action)
	}, nil
}

// sendAction asks a node to reboot, halt or power off, then drops its
// connection: the node is down from that moment (and its processes gone),
// not when a ping finally goes unanswered.
func (m *Master) sendAction(sc *ssh.ServerConn, action string) {
	done := make(chan struct{})
	m.routines.Go(func() {
		sc.SendRequest(wire.ReqAction, true, []byte(action))
		close(done)
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	sc.Close()
}
