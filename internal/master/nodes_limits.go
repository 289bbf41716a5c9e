package master

import "github.com/bproc/bproc/internal/shared/wire"

// nodeLimits puts the config's limits that nodes enforce into a start:
// the processes one user may have on a node (maxprocs), and whether
// pushed programs keep their setuid and setgid bits (pushsetid). Each
// start carries them, so that a reload applies to the next start without
// the nodes being told. Under m.mu (a reload replaces the config).
func (m *Master) nodeLimits(start *wire.ProcStart) {
	start.MaxProcs = m.cfg.File.MaxProcs
	start.PushSetID = m.cfg.File.PushSetID
}
