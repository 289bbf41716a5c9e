package master

import (
	"net/netip"

	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// nodeTable is which nodes exist and the addresses each may connect from
// (none listed: any): the config's nodes, the local nodes, and nodes 0 to
// Nodes-1.
func (cfg *Config) nodeTable(file *config.Config) map[int][]netip.Addr {
	out := make(map[int][]netip.Addr)
	for i := 0; i < max(cfg.Nodes, cfg.LocalNodes); i++ {
		out[i] = nil
	}
	for _, n := range file.Nodes() {
		if n.Num < cfg.LocalNodes {
			continue // a namespace node connects over loopback
		}
		out[n.Num] = n.Addrs
	}
	return out
}

// Reload reads the configuration file again (SIGHUP). A valid file
// changes the node table without touching running processes: new nodes
// appear, nodes no longer listed go once they are down. A bad file is
// logged, line by line, and the running configuration is kept, as it is
// when the file that was read cannot be read now (config.LoadAgain).
func (m *Master) Reload() {
	m.mu.Lock()
	running := m.cfg.File
	m.mu.Unlock()
	file, err := config.LoadAgain(m.cfg.FilePath, running)
	if err != nil {
		m.log.Error("reload: configuration not changed", "err", err)
		return
	}
	for _, note := range file.Notes {
		m.log.Info("reload: " + note)
	}
	m.noteMetricsReload(running, file)
	m.applyConfig(file)
}

// applyConfig makes file the running configuration.
func (m *Master) applyConfig(file *config.Config) {
	table := m.cfg.nodeTable(file)
	added, removed := m.applyTable(file, table)
	// Outside the lock (the boot services may build an image), and
	// before the log line, which says the whole new config is in force.
	if m.cfg.OnReload != nil {
		m.cfg.OnReload(file)
	}
	m.log.Info("configuration reloaded", "file", m.cfg.FilePath, "nodes", len(table), "added", added, "removed", removed)
}

// applyTable makes file the running configuration and table the node
// table.
func (m *Master) applyTable(file *config.Config, table map[int][]netip.Addr) (added, removed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.File = file
	m.conns.setLimit(file.MaxConns)
	for num, addrs := range table {
		n := m.nodes[num]
		if n == nil {
			n = newNode(num, false, saved{})
			m.nodes[num] = n
			added++
		}
		n.allowed, n.dropped = addrs, false
	}
	for num, n := range m.nodes {
		if _, ok := table[num]; ok {
			continue
		}
		if n.state == localapi.StateDown {
			delete(m.nodes, num)
		} else {
			n.dropped = true // removed when it goes down
		}
		removed++
	}
	m.changedLocked()
	return added, removed
}

// allowsAddr says whether a node may connect from addr.
func (n *node) allowsAddr(addr netip.Addr) bool {
	if len(n.allowed) == 0 {
		return true
	}
	for _, a := range n.allowed {
		if a == addr.Unmap() {
			return true
		}
	}
	return false
}
