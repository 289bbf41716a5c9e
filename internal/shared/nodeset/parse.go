package nodeset

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// table is the node table indexed once per Parse, so that no element costs
// more than one pass over the nodes, whatever numbers it names: "0-2147483647"
// must not loop two billion times.
type table struct {
	slaves []Node         // nodes with Num >= 0, ascending, one per number
	byNum  map[int]bool   // numbers of slaves
	addrs  map[string]int // canonical address text -> lowest node number
}

// newTable indexes nodes. A number listed twice counts once, with its first
// entry, so "all" never names a node twice. Entries with negative numbers
// other than Master are not nodes and are ignored.
func newTable(nodes []Node) *table {
	t := &table{byNum: make(map[int]bool, len(nodes)), addrs: make(map[string]int)}
	for _, n := range nodes {
		if n.Num < Master || (n.Num >= 0 && t.byNum[n.Num]) {
			continue
		}
		if n.Num >= 0 {
			t.byNum[n.Num] = true
			t.slaves = append(t.slaves, n)
		}
		if a, ok := canonAddr(n.Addr); ok {
			if old, dup := t.addrs[a]; !dup || n.Num < old {
				t.addrs[a] = n.Num
			}
		}
	}
	slices.SortFunc(t.slaves, func(a, b Node) int { return cmp.Compare(a.Num, b.Num) })
	return t
}

// all returns the slave numbers, ascending.
func (t *table) all() []int {
	out := make([]int, 0, len(t.slaves))
	for _, n := range t.slaves {
		out = append(out, n.Num)
	}
	return out
}

// between returns the slave numbers in [lo, hi], ascending.
func (t *table) between(lo, hi int) []int {
	var out []int
	for _, n := range t.slaves {
		if n.Num >= lo && n.Num <= hi {
			out = append(out, n.Num)
		}
	}
	return out
}

// inState returns the slaves whose state is (or, negated, is not) state.
func (t *table) inState(state string, negate bool) []int {
	out := []int{}
	for _, n := range t.slaves {
		if (n.State == state) != negate {
			out = append(out, n.Num)
		}
	}
	return out
}

// highest returns the highest slave number, or -1 with no slaves.
func (t *table) highest() int {
	if len(t.slaves) == 0 {
		return -1
	}
	return t.slaves[len(t.slaves)-1].Num
}

// Parse turns one node spec (a comma-separated list, see BPROC.md) into node
// numbers, in order, duplicates kept. nodes is the node table (sorted or not).
// The error text for a bad spec is exactly:  Invalid node specification "X"
// where X is the offending comma-separated element (or the whole spec if empty);
// errors.Is(err, ErrInvalid) must be true.
//
// Duplicates are kept because bpsh runs once per entry: "0,0" is two
// processes on node 0.
func Parse(spec string, nodes []Node) ([]int, error) {
	trimmed := strings.TrimSpace(spec)
	if trimmed == "" {
		return nil, &SpecError{Elem: spec}
	}
	t := newTable(nodes)
	var out []int
	for _, elem := range elements(trimmed) {
		nums, ok := t.parseElem(elem)
		if !ok {
			return nil, &SpecError{Elem: elem}
		}
		out = append(out, nums...)
	}
	if out == nil {
		// A spec that selects nothing, such as "up" with every node down,
		// is valid; callers still get a non-nil slice to range over.
		out = []int{}
	}
	return out, nil
}

// Numbers parses a spec that names its nodes by number only ("3",
// "0,4,n7", ".2"), which needs no node table: it gives the numbers and
// the element each came from, or false for any other spec. Whether each
// number is a node is then for the table's owner to say; one that is not
// makes the spec invalid, as Parse would find: &SpecError{Elem: elems[i]}.
func Numbers(spec string) (nums []int, elems []string, ok bool) {
	trimmed := strings.TrimSpace(spec)
	if trimmed == "" {
		return nil, nil, false
	}
	for elem := range strings.SplitSeq(trimmed, ",") {
		n, ok := parseNum(elem)
		if !ok {
			return nil, nil, false
		}
		nums, elems = append(nums, n), append(elems, elem)
	}
	return nums, elems, true
}

// parseElem parses one comma-separated element. Each form falls through
// to the next on failure rather than deciding early, because an IPv6 zone
// may hold a dash ("fe80::1%eth-0") and must not be lost as a bad range.
func (t *table) parseElem(elem string) ([]int, bool) {
	switch elem {
	case "master", "-1":
		return []int{Master}, true
	case "all":
		return t.all(), true
	}
	if n, ok := parseNum(elem); ok && t.byNum[n] {
		return []int{n}, true
	}
	if lo, hi, ok := strings.Cut(elem, "-"); ok {
		if nums, ok := t.parseRange(lo, hi); ok {
			return nums, true
		}
	}
	if state, negate, ok := parseState(elem); ok {
		return t.inState(state, negate), true
	}
	if a, ok := canonAddr(elem); ok {
		if n, found := t.addrs[a]; found {
			return []int{n}, true
		}
	}
	if inner, ok := strings.CutPrefix(elem, "n["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			return t.parseHostList(inner)
		}
	}
	return nil, false
}

// elements splits a spec at its commas, except those inside brackets: a
// host list "n[0-3,7]" is one element.
func elements(spec string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(spec); i++ {
		switch spec[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth <= 0 {
				out = append(out, spec[start:i])
				start = i + 1
			}
		}
	}
	return append(out, spec[start:])
}

// parseHostList parses the inside of the host-list form of pdsh, clush
// and Slurm, "n[0-3,7]": node numbers and closed ranges of plain digits,
// each as the element it would be on its own.
func (t *table) parseHostList(inner string) ([]int, bool) {
	var out []int
	for part := range strings.SplitSeq(inner, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !digits(lo) || isRange && !digits(hi) {
			return nil, false
		}
		if !isRange {
			n, ok := parseNum(lo)
			if !ok || !t.byNum[n] {
				return nil, false
			}
			out = append(out, n)
			continue
		}
		nums, ok := t.parseRange(lo, hi)
		if !ok {
			return nil, false
		}
		out = append(out, nums...)
	}
	return out, true
}

// digits says s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseRange parses "a-b" or the open "a-", given the text either side of
// the first dash. A range need not start or end on an existing node (ids
// may be sparse), but one that selects nothing is a typo, not a request.
func (t *table) parseRange(lo, hi string) ([]int, bool) {
	a, ok := parseNum(lo)
	if !ok {
		return nil, false
	}
	b := t.highest()
	if hi != "" {
		if b, ok = parseNum(hi); !ok || a > b {
			return nil, false
		}
	}
	nums := t.between(a, b)
	if len(nums) == 0 {
		return nil, false
	}
	return nums, true
}

// parseNum parses a node number with an optional "n" or "." prefix. Only
// ASCII digits are allowed: strconv alone would take a sign, and a spec
// such as "+3" or "n-3" is more likely a mistake than a node.
func parseNum(s string) (int, bool) {
	if s != "" && (s[0] == 'n' || s[0] == '.') {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	// Node numbers are int32 on the wire and in the kernel's BProc.
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// parseState parses a state name, optionally prefixed by "all" and then
// by "not" or "!": "up", "allup", "notup", "!up", "allnotup", "all!up".
// The prefixes go in that order only, as in BProc.
func parseState(s string) (state string, negate, ok bool) {
	s, _ = strings.CutPrefix(s, "all")
	if rest, cut := strings.CutPrefix(s, "not"); cut {
		s, negate = rest, true
	} else if rest, cut := strings.CutPrefix(s, "!"); cut {
		s, negate = rest, true
	}
	if !slices.Contains(states, s) {
		return "", false, false
	}
	return s, negate, true
}

// canonAddr returns the canonical text of an IP address, so that
// "::ffff:10.0.0.1" names the node whose address is "10.0.0.1".
func canonAddr(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return a.Unmap().String(), true
}

// Host resolves one host name of a node, as ssh's destination names it:
// its number ("3", "n3", ".3") or its address. Sets, ranges and states,
// which Parse takes, name no single host and are not hosts.
func Host(name string, nodes []Node) (int, bool) {
	t := newTable(nodes)
	if n, ok := parseNum(name); ok {
		return n, t.byNum[n]
	}
	if a, ok := canonAddr(name); ok {
		n, found := t.addrs[a]
		return n, found && n >= 0
	}
	return 0, false
}
