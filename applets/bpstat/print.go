package bpstat

import (
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
	"github.com/bproc/bproc/internal/shared/wire"
)

// modeString shows only the execute bits, as BProc did: ---x--x--x.
func modeString(m uint32) string {
	b := []byte("----------")
	for i, bit := range []uint32{0o100, 0o010, 0o001} {
		if m&bit != 0 {
			b[3+3*i] = 'x'
		}
	}
	return string(b)
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return fmt.Sprintf("#%d", uid)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return fmt.Sprintf("#%d", gid)
}

func printCompact(w io.Writer, nodes []localapi.NodeStatus) {
	type key struct {
		state          string
		mode, uid, gid uint32
	}
	groups := map[key][]int{}
	var order []key
	for _, n := range nodes {
		k := key{n.State, n.Mode, n.UID, n.GID}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], n.Num)
	}
	fmt.Fprintf(w, "%-35s%-16s%-11s%-9s%s\n", "Node(s)", "Status", "Mode", "User", "Group")
	for _, k := range order {
		fmt.Fprintf(w, "%-35s%-16s%-11s%-9s%s\n", nodeset.Format(groups[k]), k.state, modeString(k.mode), userName(k.uid), groupName(k.gid))
	}
}

// printLong is BProc's long table, and after the group what Scyld's
// beostat showed: load averages, memory in use and total, uptime, and the
// number of remote processes.
func printLong(w io.Writer, nodes []localapi.NodeStatus) {
	fmt.Fprintf(w, "Node Address         Status       Mode          User       Group      Load           Memory         Up        Procs\n")
	for _, n := range nodes {
		fmt.Fprintf(w, "%4d %-15s %-12s %-13s %-10.10s %-10.10s %s %d%s\n", n.Num, n.Addr, n.State, modeString(n.Mode),
			userName(n.UID), groupName(n.GID), statsColumns(n.Stats), n.Procs, heldColumn(n))
	}
}

// statsColumns are the beostat columns, dashes for a node that is down.
func statsColumns(s *wire.NodeStats) string {
	if s == nil {
		return fmt.Sprintf("%-14s %-14s %-9s", "-", "-", "-")
	}
	load := fmt.Sprintf("%.2f,%.2f,%.2f", s.Load[0], s.Load[1], s.Load[2])
	mem := size(s.MemUsed) + "/" + size(s.MemTotal)
	return fmt.Sprintf("%-14s %-14s %-9s", load, mem, uptime(s.Uptime))
}

// size is bytes the way free -h shows them.
func size(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	v, suffix := float64(b), ""
	for _, s := range []string{"K", "M", "G", "T", "P"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%s", v, suffix)
	}
	return fmt.Sprintf("%.0f%s", v, suffix)
}

// uptime is "3d04h", "5h02m" or "12m".
func uptime(sec float64) string {
	d := time.Duration(sec) * time.Second
	days, hours, mins := int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%02dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh%02dm", hours, mins)
	}
	return fmt.Sprintf("%dm", mins)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printProcs(w io.Writer, procs []localapi.Proc) {
	sort.Slice(procs, func(i, j int) bool { return procs[i].PID < procs[j].PID })
	// PID and Node stay the first two columns, and Command the last,
	// for scripts that read them.
	fmt.Fprintf(w, "%-8s %-5s %-8s %-8s %s\n", "PID", "Node", "PPID", "NodePID", "Command")
	for _, p := range procs {
		fmt.Fprintf(w, "%-8d %-5d %-8d %-8d %s\n", p.PID, p.Node, p.PPID, p.NodePID, strings.Join(p.Argv, " "))
	}
}
