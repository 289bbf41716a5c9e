package nodeset

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// fuzzNodes adds to testNodes the awkward entries of a real table: the
// master, a number listed twice, a zoned address with a dash, and the
// highest int32 id.
var fuzzNodes = append(slices.Clone(testNodes),
	Node{Num: Master, State: "up", Addr: "10.0.0.1"},
	Node{Num: 0, State: "down", Addr: "10.0.0.99"},
	Node{Num: 9, State: "boot", Addr: "fe80::9%eth-0"},
	Node{Num: math.MaxInt32, State: "up", Addr: "::1"},
)

// FuzzParse checks that Parse never panics, never names a node outside the
// table, fails only with BProc's message, and that what Format and
// FormatSet print of a result parse back to the same nodes.
func FuzzParse(f *testing.F) {
	for _, tc := range validSpecs {
		f.Add(tc.spec)
	}
	for _, tc := range invalidSpecs {
		f.Add(tc.spec)
	}
	inTable := map[int]bool{Master: true}
	for _, n := range fuzzNodes {
		inTable[n.Num] = true
	}
	f.Fuzz(func(t *testing.T, spec string) {
		nums, err := Parse(spec, fuzzNodes)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `Invalid node specification "`) {
				t.Fatalf("Parse(%q) error = %q, want prefix Invalid node specification \"", spec, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("errors.Is(Parse(%q), ErrInvalid) = false, want true", spec)
			}
			if nums != nil {
				t.Fatalf("Parse(%q) = %v, %v, want nil with the error", spec, nums, err)
			}
			return
		}
		if nums == nil {
			t.Fatalf("Parse(%q) = nil, nil, want a non-nil slice", spec)
		}
		for _, n := range nums {
			if !inTable[n] {
				t.Fatalf("Parse(%q) = %v, want only numbers in the table; %d is not", spec, nums, n)
			}
		}
		if len(nums) == 0 {
			return
		}
		want := slices.Compact(slices.Sorted(slices.Values(nums)))
		formatted := Format(nums)
		got, err := Parse(formatted, fuzzNodes)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Parse(Format(Parse(%q)) = %q) = %v, %v, want %v, nil", spec, formatted, got, err, want)
		}
		// The host list bpsh --gather prints parses back too (the
		// master, which it writes as -1, has no place in one).
		if want[0] == Master {
			return
		}
		set := FormatSet(nums)
		got, err = Parse(set, fuzzNodes)
		if err != nil || !slices.Equal(slices.Compact(slices.Sorted(slices.Values(got))), want) {
			t.Fatalf("Parse(FormatSet(Parse(%q)) = %q) = %v, %v, want %v, nil", spec, set, got, err, want)
		}
	})
}

// FuzzNumbers checks that a spec Numbers takes means what Parse makes of
// it: the same numbers when every one is a node, else Parse's error for
// the first that is not.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"0", "0,3,n7", ".2,2", "5,99", "n", "0-3", "-1", "all"} {
		f.Add(s)
	}
	inTable := map[int]bool{}
	for _, n := range fuzzNodes {
		if n.Num >= 0 {
			inTable[n.Num] = true
		}
	}
	f.Fuzz(func(t *testing.T, spec string) {
		nums, elems, ok := Numbers(spec)
		if !ok {
			return
		}
		if len(nums) != len(elems) || len(nums) == 0 {
			t.Fatalf("Numbers(%q) = %v, %q: want one element per number, at least one", spec, nums, elems)
		}
		got, err := Parse(spec, fuzzNodes)
		bad := slices.IndexFunc(nums, func(n int) bool { return !inTable[n] })
		if bad < 0 {
			if err != nil || !slices.Equal(got, nums) {
				t.Fatalf("Numbers(%q) = %v, Parse = %v, %v", spec, nums, got, err)
			}
			return
		}
		want := (&SpecError{Elem: elems[bad]}).Error()
		if err == nil || err.Error() != want {
			t.Fatalf("Parse(%q) = %v, %v; want the error %s", spec, got, err, want)
		}
	})
}
