package config

import (
	"bytes"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bproc/bproc/internal/shared/nodeset"
)

// errLine is what every line of a Parse error must look like.
var errLine = regexp.MustCompile(`^fuzz\.conf:([1-9][0-9]*): [^\n]+$`)

// FuzzParse checks that Parse never panics, and either fails with lines
// that each name the file and a line of it, or returns a config whose
// node table is consistent: numbers ascending and distinct, every address
// and MAC found by its lookup and owned by one node only.
func FuzzParse(f *testing.F) {
	for _, tc := range goodLines {
		f.Add([]byte(tc.text))
	}
	for _, tc := range badLines {
		f.Add([]byte(tc.text))
	}
	example, err := os.ReadFile("testdata/cluster.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.conf", data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse(%q) = %+v, %v, want nil with the error", data, c, err)
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			for _, l := range strings.Split(err.Error(), "\n") {
				m := errLine.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("Parse(%q) error line %q, want fuzz.conf:LINE: message", data, l)
				}
				if n, _ := strconv.Atoi(m[1]); n > lines {
					t.Fatalf("Parse(%q) error line %q names line %d of %d", data, l, n, lines)
				}
				if len(l) > 1024 {
					t.Fatalf("Parse(%.100q) error line of %d bytes, want what it quotes cut", data, len(l))
				}
				if !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return !unicode.IsPrint(r) }) {
					t.Fatalf("Parse(%q) error line %q holds unprintable text", data, l)
				}
			}
			return
		}
		checkConfig(t, data, c)
	})
}

func checkConfig(t *testing.T, data []byte, c *Config) {
	if c.Port < 1 || c.Port > 65535 || c.PingTimeout < 2*time.Second {
		t.Fatalf("Parse(%q): port %d, ping timeout %v out of range", data, c.Port, c.PingTimeout)
	}
	nodes := c.Nodes()
	if len(nodes) != c.NumNodes() || len(nodes) > MaxNode+1 {
		t.Fatalf("Parse(%q): %d nodes, NumNodes() = %d", data, len(nodes), c.NumNodes())
	}
	owner := map[netip.Addr]int{}
	macOwner := map[string]int{}
	for i, n := range nodes {
		if n.Num < 0 || n.Num > MaxNode || (i > 0 && n.Num <= nodes[i-1].Num) {
			t.Fatalf("Parse(%q): node numbers %v not ascending in 0-%d", data, nodes, MaxNode)
		}
		if got, ok := c.Node(n.Num); !ok || got.Num != n.Num {
			t.Fatalf("Parse(%q): Node(%d) = %v, %v", data, n.Num, got, ok)
		}
		for _, a := range n.Addrs {
			if old, dup := owner[a]; dup || !a.Is4() || !usableAddr(a) {
				t.Fatalf("Parse(%q): address %v of node %d (also node %d? %v) is not a unique usable IPv4 address", data, a, n.Num, old, dup)
			}
			owner[a] = n.Num
			if got, ok := c.NodeByAddr(a); !ok || got != n.Num {
				t.Fatalf("Parse(%q): NodeByAddr(%v) = %d, %v, want %d", data, a, got, ok, n.Num)
			}
		}
		for _, m := range n.MACs {
			if _, dup := macOwner[m.String()]; dup || !usableMAC(m) {
				t.Fatalf("Parse(%q): MAC %v of node %d is not unique and usable", data, m, n.Num)
			}
			macOwner[m.String()] = n.Num
			if got, ok := c.NodeByMAC(m); !ok || got != n.Num {
				t.Fatalf("Parse(%q): NodeByMAC(%v) = %d, %v, want %d", data, m, got, ok, n.Num)
			}
			if len(n.Addrs) == 0 {
				t.Fatalf("Parse(%q): node %d has a MAC and no address", data, n.Num)
			}
		}
	}
	if slices.ContainsFunc(c.Masters, func(m string) bool { return m == "" }) {
		t.Fatalf("Parse(%q): empty master in %q", data, c.Masters)
	}
}

// specTable is the node table FuzzSpecSpans resolves against: sparse,
// with addresses on some nodes.
var specTable = []nodeset.Node{
	{Num: 0, Addr: "10.0.0.10"}, {Num: 1, Addr: "10.0.0.11"}, {Num: 2},
	{Num: 5, Addr: "10.0.0.15"}, {Num: 9}, {Num: 4096, Addr: "10.0.16.0"},
}

// FuzzSpecSpans checks the bootfile spec resolver against package
// nodeset, which every tool uses: where both accept a spec they name the
// same nodes, and the resolver refuses only what nodeset refuses or what
// needs a node state.
func FuzzSpecSpans(f *testing.F) {
	for _, s := range []string{"all", "0", "n5", ".9", "0-2", "2-", "1-4095", "10.0.0.15", "::ffff:10.0.0.11",
		"master", "-1", "up", "!up", "allnotdown", "0,0,1-1", "3", "6-8", "0-", "n-1", "1--2", ",", ""} {
		f.Add(s)
	}
	nums := []int{}
	addrs := map[uint32]int{}
	for _, n := range specTable {
		nums = append(nums, n.Num)
		if n.Addr != "" {
			addrs[toU32(netip.MustParseAddr(n.Addr))] = n.Num
		}
	}
	byAddr := func(a uint32) (int, bool) { n, ok := addrs[a]; return n, ok }
	f.Fuzz(func(t *testing.T, spec string) {
		if strings.ContainsFunc(spec, unicode.IsSpace) || spec == "" {
			return // config arguments never hold whitespace
		}
		spans, msg := specSpans(spec, nums, byAddr)
		want, err := nodeset.Parse(spec, specTable)
		if msg != "" {
			if err == nil && len(want) > 0 && !slices.Contains(want, nodeset.Master) && !mentionsState(spec) {
				t.Fatalf("specSpans(%q) = %s, want nodes %v as nodeset gives", spec, msg, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("specSpans(%q) = %v, nodeset refuses it: %v", spec, spans, err)
		}
		var got []int
		for _, s := range spans {
			for _, n := range nums {
				if s.lo <= n && n <= s.hi {
					got = append(got, n)
				}
			}
		}
		want = slices.Compact(slices.Sorted(slices.Values(want)))
		if !slices.Equal(got, want) {
			t.Fatalf("specSpans(%q) names %v, nodeset %v", spec, got, want)
		}
	})
}

func mentionsState(spec string) bool {
	for _, s := range []string{"down", "boot", "up", "error", "unavailable"} {
		if strings.Contains(spec, s) {
			return true
		}
	}
	return false
}
