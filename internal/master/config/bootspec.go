package config

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// span is node numbers lo to hi, inclusive, holding at least one node of
// the table.
type span struct{ lo, hi int }

// claim is nodes nums[i:j], given a boot file by a line.
type claim struct {
	i, j int
	line int
	file string
}

// resolveBoots gives the nodes of each bootfile line its file, refusing a
// node named by two lines.
//
// Specs are BPROC.md's node specs less the state names, which mean
// nothing in a file: numbers ("3", "n3", ".3"), ranges ("0-3", "4-"),
// "all", and node addresses. They are resolved here to spans, and spans
// to index ranges of the table checked against each other by binary
// search, rather than by package nodeset, which lists every node: "all"
// on each of a few hundred lines of a 65536-node config would cost
// seconds, and so would hundreds of lines of hundreds of numbers checked
// pairwise.
func (p *parser) resolveBoots(t *table) bool {
	nums := make([]int, len(t.list))
	for i, n := range t.list {
		nums[i] = n.Num
	}
	var claims []claim // sorted by i, disjoint
	ok := true
	for _, b := range p.boots {
		spans, msg := specSpans(b.spec, nums, t.nodeByAddr)
		if msg != "" {
			p.errorAt(b.line, "bootfile", "node spec %q %s", b.spec, msg)
			ok = false
			continue
		}
		mine := make([]claim, len(spans))
		for k, s := range spans {
			i, _ := slices.BinarySearch(nums, s.lo)
			j, found := slices.BinarySearch(nums, s.hi)
			if found {
				j++
			}
			mine[k] = claim{i, j, b.line, b.file}
		}
		if n, old, taken := firstClaimed(claims, mine, nums); taken {
			p.errorAt(b.line, "bootfile", "node %d already has boot file %q (line %d)", n, old.file, old.line)
			ok = false
			continue
		}
		for _, c := range mine {
			k, _ := slices.BinarySearchFunc(claims, c.i, func(c claim, i int) int { return cmp.Compare(c.i, i) })
			claims = slices.Insert(claims, k, c)
		}
	}
	for _, c := range claims {
		for i := c.i; i < c.j; i++ {
			t.list[i].BootFile = c.file
		}
	}
	return ok
}

// firstClaimed finds a node of mine (disjoint, as spans of one line are
// merged) that claims already holds.
func firstClaimed(claims, mine []claim, nums []int) (int, claim, bool) {
	for _, c := range mine {
		// The first claim ending after c starts is the only one that can
		// overlap c's start; if it starts before c ends, they overlap.
		k, _ := slices.BinarySearchFunc(claims, c.i+1, func(o claim, i int) int { return cmp.Compare(o.j, i) })
		if k < len(claims) && claims[k].i < c.j {
			return nums[max(c.i, claims[k].i)], claims[k], true
		}
	}
	return 0, claim{}, false
}

// firstIn returns the lowest of nums (ascending) from lo to hi.
func firstIn(nums []int, lo, hi int) (int, bool) {
	if lo > hi {
		return 0, false
	}
	i, _ := slices.BinarySearch(nums, lo)
	if i < len(nums) && nums[i] <= hi {
		return nums[i], true
	}
	return 0, false
}

// specSpans resolves a node spec against nums (ascending) and the
// address index, returning merged spans, or why it cannot.
func specSpans(spec string, nums []int, byAddr func(uint32) (int, bool)) ([]span, string) {
	const none = "names no node of this config"
	var spans []span
	for elem := range strings.SplitSeq(spec, ",") {
		if elem == "master" || elem == "-1" {
			return nil, "names the master"
		}
		s, ok := elemSpan(elem, nums, byAddr)
		if !ok {
			return nil, none
		}
		spans = append(spans, s)
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	merged := spans[:1]
	for _, s := range spans[1:] {
		if last := &merged[len(merged)-1]; s.lo <= last.hi {
			last.hi = max(last.hi, s.hi)
		} else {
			merged = append(merged, s)
		}
	}
	return merged, ""
}

func elemSpan(elem string, nums []int, byAddr func(uint32) (int, bool)) (span, bool) {
	if len(nums) == 0 {
		return span{}, false
	}
	highest := nums[len(nums)-1]
	if elem == "all" {
		return span{nums[0], highest}, true
	}
	if n, ok := specNum(elem); ok {
		_, found := slices.BinarySearch(nums, n)
		return span{n, n}, found
	}
	if lo, hi, ok := strings.Cut(elem, "-"); ok {
		a, okA := specNum(lo)
		b, okB := highest, true
		if hi != "" {
			b, okB = specNum(hi)
		}
		if !okA || !okB {
			return span{}, false
		}
		_, found := firstIn(nums, a, b)
		return span{a, b}, found
	}
	if a, err := netip.ParseAddr(elem); err == nil && a.Unmap().Is4() {
		n, found := byAddr(toU32(a.Unmap()))
		return span{n, n}, found
	}
	return span{}, false
}

// specNum parses a node number as the tools do: digits, perhaps after
// "n" or ".".
func specNum(s string) (int, bool) {
	if s != "" && (s[0] == 'n' || s[0] == '.') {
		s = s[1:]
	}
	return parseUint(s, 1<<31-1)
}
