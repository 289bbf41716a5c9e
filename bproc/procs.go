package bproc

import "fmt"

// PIDNode is the node that the remote process whose ghost has PID pid runs
// on (BProc's bproc_pidnode); an error that is ErrInvalidProcess when pid
// is no ghost's.
func (c *Client) PIDNode(pid int) (int, error) {
	procs, err := c.Procs()
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		if p.PID == pid {
			return p.Node, nil
		}
	}
	return 0, fmt.Errorf("pid %d: %w", pid, ErrInvalidProcess)
}
