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
// number of remote processes. Each column is as wide as its widest
// value, at least as wide as before, so that a busy node's load
// (12.50,11.03,10.97) or an IPv6 address does not push the row out of
// line.
func printLong(w io.Writer, nodes []localapi.NodeStatus) {
	rows := [][]string{{"Node", "Address", "Status", "Mode", "User", "Group", "Load", "Memory", "Up", "Procs"}}
	for _, n := range nodes {
		load, mem, up := statsColumns(n.Stats)
		rows = append(rows, []string{strconv.Itoa(n.Num), n.Addr, n.State, modeString(n.Mode),
			clip(userName(n.UID), 10), clip(groupName(n.GID), 10), load, mem, up, strconv.Itoa(n.Procs)})
	}
	widths := []int{4, 15, 12, 13, 10, 10, 14, 14, 9, 0}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for ri, r := range rows {
		var b strings.Builder
		for i, c := range r {
			switch {
			case i == 0: // right-aligned under its name
				fmt.Fprintf(&b, "%*s", widths[i], c)
			case i == len(r)-1:
				fmt.Fprintf(&b, " %s", c)
			default:
				fmt.Fprintf(&b, " %-*s", widths[i], c)
			}
		}
		if ri > 0 {
			b.WriteString(heldColumn(nodes[ri-1]))
		}
		fmt.Fprintln(w, b.String())
	}
}

// clip cuts s to n bytes, as the table's %.10s did for long user names.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// statsColumns are the beostat columns, dashes for a node that is down.
func statsColumns(s *wire.NodeStats) (load, mem, up string) {
	if s == nil {
		return "-", "-", "-"
	}
	return fmt.Sprintf("%.2f,%.2f,%.2f", s.Load[0], s.Load[1], s.Load[2]), size(s.MemUsed) + "/" + size(s.MemTotal), uptime(s.Uptime)
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
