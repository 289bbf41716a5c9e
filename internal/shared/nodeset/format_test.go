package nodeset

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

var formatTests = []struct {
	nums []int
	want string // Format
	set  string // FormatSet
}{
	{nil, "", ""},
	{[]int{}, "", ""},
	{[]int{3}, "3", "n3"},
	{[]int{3, 3}, "3", "n3"},
	{[]int{0, 1, 2, 3, 5}, "0-3,5", "n[0-3,5]"},
	{[]int{5, 3, 2, 1, 0, 3}, "0-3,5", "n[0-3,5]"},
	{[]int{0, 1}, "0-1", "n[0-1]"},
	{[]int{0, 2, 4}, "0,2,4", "n[0,2,4]"},
	{[]int{2, 4}, "2,4", "n[2,4]"},
	{[]int{0, 1, 2, 10, 11, 20}, "0-2,10-11,20", "n[0-2,10-11,20]"},
	// The master never joins a range: "-1-1" would not parse back.
	{[]int{Master}, "-1", "n-1"},
	{[]int{1, 0, Master}, "-1,0-1", "n[-1,0-1]"},
	{[]int{-3, -2, Master}, "-3,-2,-1", "n[-3,-2,-1]"},
	{[]int{math.MaxInt - 1, math.MaxInt}, fmt.Sprintf("%d-%d", math.MaxInt-1, math.MaxInt),
		fmt.Sprintf("n[%d-%d]", math.MaxInt-1, math.MaxInt)},
	{[]int{math.MinInt, math.MaxInt}, fmt.Sprintf("%d,%d", math.MinInt, math.MaxInt),
		fmt.Sprintf("n[%d,%d]", math.MinInt, math.MaxInt)},
}

func TestFormat(t *testing.T) {
	for _, tc := range formatTests {
		t.Run(tc.want, func(t *testing.T) {
			in := slices.Clone(tc.nums)
			if got := Format(in); got != tc.want {
				t.Errorf("Format(%v) = %q, want %q", tc.nums, got, tc.want)
			}
			if !slices.Equal(in, tc.nums) {
				t.Errorf("Format(%v) changed its input to %v", tc.nums, in)
			}
		})
	}
}

func TestFormatSet(t *testing.T) {
	for _, tc := range formatTests {
		t.Run(tc.set, func(t *testing.T) {
			if got := FormatSet(tc.nums); got != tc.set {
				t.Errorf("FormatSet(%v) = %q, want %q", tc.nums, got, tc.set)
			}
		})
	}
}

// TestFormatParse checks that what bpstat prints can be typed back.
func TestFormatParse(t *testing.T) {
	for _, spec := range []string{"all", "up", "!up", "0-3,5", "master,4-", "8,0", "n[0-2,8]"} {
		t.Run(spec, func(t *testing.T) {
			nums, err := Parse(spec, testNodes)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want nil", spec, err)
			}
			want := slices.Compact(slices.Sorted(slices.Values(nums)))
			f := Format(nums)
			got, err := Parse(f, testNodes)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Parse(Format(%v) = %q) = %v, %v, want %v, nil", nums, f, got, err, want)
			}
			if want[0] == Master {
				return // FormatSet writes it -1: no host list holds it
			}
			set := FormatSet(nums)
			got, err = Parse(set, testNodes)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Parse(FormatSet(%v) = %q) = %v, %v, want %v, nil", nums, set, got, err, want)
			}
		})
	}
}
