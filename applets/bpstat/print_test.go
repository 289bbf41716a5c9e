package bpstat

import (
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestLongAligned: in bpstat -l every value starts under its column's
// name, for a node that is up (with stats), one that is down, and a busy
// one whose load and address are wider than the columns' names.
func TestLongAligned(t *testing.T) {
	nodes := []localapi.NodeStatus{
		{Num: 0, Addr: "10.0.0.10", State: "up", Mode: 0o111, Procs: 3,
			Stats: &wire.NodeStats{Load: [3]float64{0.5, 1, 2}, MemUsed: 1 << 30, MemTotal: 8 << 30, Uptime: 3600}},
		{Num: 12, Addr: "10.0.0.22", State: "down", Mode: 0o100, UID: 0, GID: 0},
		{Num: 1234, Addr: "fd00:bb::1234:5678", State: "up", Mode: 0o111, Procs: 12345,
			Stats: &wire.NodeStats{Load: [3]float64{112.5, 11.03, 10.97}, MemUsed: 900 << 30, MemTotal: 1000 << 30, Uptime: 86400 * 400}},
	}
	var out strings.Builder
	printLong(&out, nodes)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows, got:\n%s", out.String())
	}
	if strings.Contains(out.String(), "\t") {
		t.Errorf("a tab in the table:\n%q", out.String())
	}
	header := lines[0]
	names := strings.Fields(header)
	for _, row := range lines[1:] {
		vals := strings.Fields(row)
		if len(vals) != len(names) {
			t.Fatalf("row %q has %d fields for %d columns", row, len(vals), len(names))
		}
		// Node is right-aligned under its name; the others start with it.
		at := 0
		for i, name := range names {
			col := strings.Index(header[at:], name) + at
			val := strings.Index(row[at:], vals[i]) + at
			if i == 0 {
				if end := col + len(name); val+len(vals[i]) != end {
					t.Errorf("row %q: %s ends at %d, its column at %d", row, vals[i], val+len(vals[i]), end)
				}
			} else if val != col {
				t.Errorf("row %q: %s value %q at column %d, the column starts at %d\n%s\n%s", row, name, vals[i], val, col, header, row)
			}
			at = max(col, val) + 1
		}
	}
}

// TestProcsColumns: bpstat -p keeps PID and Node first and Command last,
// and shows each process's parent and its PID on the node between them.
func TestProcsColumns(t *testing.T) {
	var b strings.Builder
	printProcs(&b, []localapi.Proc{
		{PID: 4711, Node: 2, PPID: 4700, NodePID: 4711, Argv: []string{"sleep", "201"}},
		{PID: 4700, Node: 2, PPID: 99, NodePID: 12, Argv: []string{"sh", "-c", "x"}},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][]string{
		{"PID", "Node", "PPID", "NodePID", "Command"},
		{"4700", "2", "99", "12", "sh", "-c", "x"},
		{"4711", "2", "4700", "4711", "sleep", "201"},
	}
	if len(lines) != len(want) {
		t.Fatalf("bpstat -p printed %q", b.String())
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("line %d: %q, want fields %q", i, l, want[i])
		}
	}
}
