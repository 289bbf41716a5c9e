// Package nodeset parses and formats BProc node specifications: the
// comma-separated lists such as "0-3,5", "allup" or "master" that every
// bproc tool accepts, and the compact "0-3,5" / "n[0-3,5]" forms it prints.
package nodeset

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bproc/bproc/internal/shared/clip"
)

// Node is what the parser needs to know of one node.
type Node struct {
	Num   int    // node number, >= 0; the master is -1
	State string // "down", "boot", "up", "error", "unavailable" (lower case)
	Addr  string // IP address as text, may be ""
}

// Master is the node number of the front end.
const Master = -1

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid node specification")

// SpecError reports the element of a node spec that could not be parsed.
// Its text is BProc's, byte for byte, so scripts that match on it keep
// working; the element is quoted as given, not escaped, as BProc's printf
// did (cut, as package clip cuts, when it is long: the spec is a user's).
type SpecError struct {
	Elem string // the offending element, or the whole spec if it is empty
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("Invalid node specification \"%s\"", clip.S(e.Elem))
}

// Unwrap lets callers test for ErrInvalid with errors.Is instead of
// matching the BProc-compatible text.
func (e *SpecError) Unwrap() error { return ErrInvalid }

// states are the node states a spec may name.
var states = []string{"down", "boot", "up", "error", "unavailable"}

// Format writes node numbers compactly as ranges: []int{0,1,2,3,5} -> "0-3,5".
// Input is sorted and de-duplicated first. Empty -> "".
//
// Negative numbers (the master) are never merged into a range: "-1-1"
// would not parse back. The output is a spec Parse accepts, as long as the
// numbers are in the node table.
func Format(nums []int) string {
	return formatRuns(runs(nums))
}

// FormatSet writes the clush-style node set: []int{0,1,2,3,5} -> "n[0-3,5]",
// a single node -> "n3", empty -> "". The master is written "-1" like any
// other number ("n-1", "n[-1,0-3]"); clush has no name for it.
func FormatSet(nums []int) string {
	rs := runs(nums)
	switch {
	case len(rs) == 0:
		return ""
	case len(rs) == 1 && rs[0].lo == rs[0].hi:
		return "n" + strconv.Itoa(rs[0].lo)
	}
	return "n[" + formatRuns(rs) + "]"
}

func formatRuns(rs []run) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.lo))
		if r.hi != r.lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.hi))
		}
	}
	return b.String()
}

// run is a stretch of consecutive node numbers, lo to hi inclusive.
type run struct{ lo, hi int }

// runs sorts and de-duplicates a copy of nums, leaving the caller's slice
// alone, and splits it into runs of consecutive numbers.
func runs(nums []int) []run {
	s := slices.Clone(nums)
	slices.Sort(s)
	s = slices.Compact(s)
	var out []run
	for _, n := range s {
		// At hi == MaxInt, hi+1 wraps to MinInt, which n (> hi after
		// Compact) cannot equal: no false merge.
		if k := len(out) - 1; k >= 0 && out[k].lo >= 0 && n == out[k].hi+1 {
			out[k].hi = n
			continue
		}
		out = append(out, run{n, n})
	}
	return out
}
