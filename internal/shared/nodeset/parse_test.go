package nodeset

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// testNodes is unsorted and sparse (no 6 or 7) on purpose: Parse must not
// rely on the table's order or on ids being dense.
var testNodes = []Node{
	{Num: 5, State: "up", Addr: "10.0.0.7"},
	{Num: 0, State: "up", Addr: "10.0.0.2"},
	{Num: 1, State: "down"},
	{Num: 2, State: "boot", Addr: "10.0.0.4"},
	{Num: 3, State: "error", Addr: "fe80::3"},
	{Num: 4, State: "unavailable", Addr: "10.0.0.6"},
	{Num: 8, State: "up", Addr: "10.0.0.10"},
}

// validSpecs are parsed against testNodes.
var validSpecs = []struct {
	spec string
	want []int
}{
	// Numbers, with and without prefixes.
	{"3", []int{3}},
	{"0", []int{0}},
	{"n3", []int{3}},
	{".3", []int{3}},
	{"05", []int{5}},
	{" 3 ", []int{3}},
	{"\t0,1\n", []int{0, 1}},
	// Ranges: ends need not exist, only something in between.
	{"0-3", []int{0, 1, 2, 3}},
	{"n0-n2", []int{0, 1, 2}},
	{".4-.8", []int{4, 5, 8}},
	{"n4-8", []int{4, 5, 8}},
	{"4-.8", []int{4, 5, 8}},
	{"5-7", []int{5}},
	{"6-8", []int{8}},
	{"3-3", []int{3}},
	{"0-100", []int{0, 1, 2, 3, 4, 5, 8}},
	{"0-2147483647", []int{0, 1, 2, 3, 4, 5, 8}},
	{"4-", []int{4, 5, 8}},
	{"n8-", []int{8}},
	{".0-", []int{0, 1, 2, 3, 4, 5, 8}},
	// The master.
	{"master", []int{Master}},
	{"-1", []int{Master}},
	{"master,0,-1", []int{Master, 0, Master}},
	// All slaves and states.
	{"all", []int{0, 1, 2, 3, 4, 5, 8}},
	{"up", []int{0, 5, 8}},
	{"allup", []int{0, 5, 8}},
	{"down", []int{1}},
	{"alldown", []int{1}},
	{"boot", []int{2}},
	{"error", []int{3}},
	{"unavailable", []int{4}},
	{"!up", []int{1, 2, 3, 4}},
	{"notup", []int{1, 2, 3, 4}},
	{"allnotdown", []int{0, 2, 3, 4, 5, 8}},
	{"all!down", []int{0, 2, 3, 4, 5, 8}},
	{"!unavailable", []int{0, 1, 2, 3, 5, 8}},
	// Addresses, compared as addresses rather than as text.
	{"10.0.0.7", []int{5}},
	{"10.0.0.2", []int{0}},
	{"::ffff:10.0.0.2", []int{0}},
	{"fe80::3", []int{3}},
	{"FE80:0::3", []int{3}},
	// The host-list form of pdsh, clush and Slurm.
	{"n[0-3]", []int{0, 1, 2, 3}},
	{"n[0-3,8]", []int{0, 1, 2, 3, 8}},
	{"n[5,0]", []int{5, 0}},
	{"n[0]", []int{0}},
	{"n[4-7]", []int{4, 5}},
	{"n[00-02]", []int{0, 1, 2}},
	{"n[0-1],5,n[8]", []int{0, 1, 5, 8}},
	// Order and duplicates are kept: bpsh runs once per entry.
	{"3,1,3", []int{3, 1, 3}},
	{"5,0-1,up", []int{5, 0, 1, 0, 5, 8}},
	{"all,master", []int{0, 1, 2, 3, 4, 5, 8, Master}},
}

// invalidSpecs are rejected against testNodes; elem is the element the
// error must name.
var invalidSpecs = []struct {
	spec string
	elem string
}{
	{"", ""},
	{"   ", "   "},
	// Numbers not in the table or badly written.
	{"7", "7"},
	{"n7", "n7"},
	{"9", "9"},
	{"0,7,1", "7"},
	{"2147483647", "2147483647"},
	{"2147483648", "2147483648"},
	{"99999999999999999999", "99999999999999999999"},
	{"+3", "+3"},
	{"n+3", "n+3"},
	{"n", "n"},
	{".", "."},
	{"n.3", "n.3"},
	{".n3", ".n3"},
	{"nn3", "nn3"},
	{"N3", "N3"},
	{"3n", "3n"},
	{"0x3", "0x3"},
	{"3.0", "3.0"},
	{"\uff13", "\uff13"}, // fullwidth 3
	{"3\x00", "3\x00"},
	// Negative numbers other than the master.
	{"-3", "-3"},
	{"-0", "-0"},
	{"-2", "-2"},
	{"n-1", "n-1"},
	{"-01", "-01"},
	// Bad ranges.
	{"3-1", "3-1"},
	{"6-7", "6-7"},
	{"9-20", "9-20"},
	{"9-", "9-"},
	{"1-2-3", "1-2-3"},
	{"-", "-"},
	{"1--2", "1--2"},
	{"-1-3", "-1-3"},
	{"master-3", "master-3"},
	{"1-n", "1-n"},
	{"1-+2", "1-+2"},
	{"0-2147483648", "0-2147483648"},
	// Bad host lists.
	{"n[7]", "n[7]"},
	{"n[0,7]", "n[0,7]"},
	{"n[6-7]", "n[6-7]"},
	{"n[3-1]", "n[3-1]"},
	{"n[4-]", "n[4-]"},
	{"n[-3]", "n[-3]"},
	{"n[n3]", "n[n3]"},
	{"n[.3]", "n[.3]"},
	{"n[]", "n[]"},
	{"n[0,]", "n[0,]"},
	{"n[0-3", "n[0-3"},
	{"n0-3]", "n0-3]"},
	{"n[[0]]", "n[[0]]"},
	{"[0-3]", "[0-3]"},
	{"x[0-3]", "x[0-3]"},
	{"n[0-3]x", "n[0-3]x"},
	{"n[0-3],7", "7"},
	// Empty elements and inner whitespace.
	{"1,,2", ""},
	{"1,", ""},
	{",1", ""},
	{",", ""},
	{"1, 2", " 2"},
	{"1 ,2", "1 "},
	{"0 - 3", "0 - 3"},
	// Words: case matters, prefixes go all-then-not only.
	{"Master", "Master"},
	{"masterx", "masterx"},
	{"ALL", "ALL"},
	{"UP", "UP"},
	{"allall", "allall"},
	{"notallup", "notallup"},
	{"!allup", "!allup"},
	{"!!up", "!!up"},
	{"not!up", "not!up"},
	{"notnotup", "notnotup"},
	{"allnot", "allnot"},
	{"!", "!"},
	{"not", "not"},
	{"upx", "upx"},
	{"reboot", "reboot"},
	{"1,2,bogus", "bogus"},
	// Addresses that no node has, or that are not addresses.
	{"10.0.0.99", "10.0.0.99"},
	{"10.0.0.7/32", "10.0.0.7/32"},
	{"010.0.0.7", "010.0.0.7"},
	{"fe80::3%eth0", "fe80::3%eth0"},
	{"1, 10.0.0.2", " 10.0.0.2"},
}

func TestParse(t *testing.T) {
	for _, tc := range validSpecs {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := Parse(tc.spec, testNodes)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q) = %v, %v, want %v, nil", tc.spec, got, err, tc.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidSpecs {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := Parse(tc.spec, testNodes)
			want := `Invalid node specification "` + tc.elem + `"`
			if err == nil || err.Error() != want {
				t.Fatalf("Parse(%q) = %v, %v, want error %s", tc.spec, got, err, want)
			}
			if got != nil {
				t.Errorf("Parse(%q) = %v, want nil with the error", tc.spec, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(Parse(%q), ErrInvalid) = false, want true", tc.spec)
			}
			var se *SpecError
			if !errors.As(err, &se) || se.Elem != tc.elem {
				t.Errorf("Parse(%q) SpecError = %+v, want Elem %q", tc.spec, se, tc.elem)
			}
		})
	}
}

// TestParseTables covers node tables that are odd rather than specs that
// are: empty, with the master in them, with a number twice, at the int32
// limit.
func TestParseTables(t *testing.T) {
	master := Node{Num: Master, State: "up", Addr: "10.0.0.1"}
	tests := []struct {
		name  string
		nodes []Node
		spec  string
		want  []int // nil means an error is wanted
	}{
		{"empty all", nil, "all", []int{}},
		{"empty state", nil, "up", []int{}},
		{"empty negated state", nil, "!up", []int{}},
		{"empty master", nil, "master", []int{Master}},
		{"empty number", nil, "0", nil},
		{"empty open range", nil, "0-", nil},
		{"empty range", nil, "0-5", nil},
		{"no match", []Node{{Num: 0, State: "down"}}, "up", []int{}},
		{"no match twice", []Node{{Num: 0, State: "down"}}, "up,allup", []int{}},
		{"master not a slave", []Node{master, {Num: 0, State: "up"}}, "all", []int{0}},
		{"master not in state", []Node{master, {Num: 0, State: "down"}}, "up", []int{}},
		{"master not in range", []Node{master, {Num: 0, State: "up"}}, "0-", []int{0}},
		{"master by address", []Node{master}, "10.0.0.1", []int{Master}},
		{"other negative ignored", []Node{{Num: -2, State: "up", Addr: "10.0.0.9"}}, "10.0.0.9", nil},
		{"duplicate all", []Node{{Num: 0, State: "up"}, {Num: 0, State: "down"}}, "all", []int{0}},
		{"duplicate first wins", []Node{{Num: 0, State: "up"}, {Num: 0, State: "down"}}, "down", []int{}},
		{"shared address lowest", []Node{{Num: 4, Addr: "10.0.0.5"}, {Num: 2, Addr: "10.0.0.5"}}, "10.0.0.5", []int{2}},
		{"mapped address in table", []Node{{Num: 1, Addr: "::ffff:10.0.0.3"}}, "10.0.0.3", []int{1}},
		{"bad address in table", []Node{{Num: 1, Addr: "node1"}}, "node1", nil},
		{"zone with dash", []Node{{Num: 2, Addr: "fe80::1%eth-0"}}, "fe80::1%eth-0", []int{2}},
		{"int32 max", []Node{{Num: math.MaxInt32}}, "2147483647", []int{math.MaxInt32}},
		{"int32 max open", []Node{{Num: 1}, {Num: math.MaxInt32}}, "n2-", []int{math.MaxInt32}},
		{"int32 max range", []Node{{Num: math.MaxInt32}}, "2147483640-2147483647", []int{math.MaxInt32}},
		{"past int32", []Node{{Num: math.MaxInt32 + 1}}, "2147483648", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.spec, tc.nodes)
			if tc.want == nil {
				if err == nil {
					t.Errorf("Parse(%q, %v) = %v, nil, want an error", tc.spec, tc.nodes, got)
				}
				return
			}
			if err != nil || got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q, %v) = %#v, %v, want %#v, nil", tc.spec, tc.nodes, got, err, tc.want)
			}
		})
	}
}

// TestParseKeepsTable checks that Parse sorts a copy: the caller's table
// is often the live one other goroutines print from.
func TestParseKeepsTable(t *testing.T) {
	nodes := slices.Clone(testNodes)
	if _, err := Parse("all,up,0-", nodes); err != nil {
		t.Fatalf("Parse(all,up,0-) = %v, want nil", err)
	}
	if !slices.Equal(nodes, testNodes) {
		t.Errorf("Parse changed the table to %v, want %v", nodes, testNodes)
	}
}

// A long element is cut in the error, with its length.
func TestParseCutsLongElement(t *testing.T) {
	spec := strings.Repeat("q", 5<<20)
	_, err := Parse(spec, testNodes)
	if err == nil {
		t.Fatal("Parse(5 MB of q) = nil error")
	}
	if msg := err.Error(); len(msg) > 200 || !strings.HasSuffix(msg, `... (5242880 bytes)"`) {
		t.Errorf("Parse(5 MB of q) error of %d bytes: %.300q, want it cut with the length", len(msg), msg)
	}
}

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		num  int
		ok   bool
	}{
		{"5", 5, true}, {"n5", 5, true}, {".5", 5, true}, {"n1", 1, true},
		{"10.0.0.7", 5, true}, {"::ffff:10.0.0.2", 0, true},
		{"n7", 7, false}, {"all", 0, false}, {"up", 0, false}, {"0-3", 0, false},
		{"n[0]", 0, false}, {"0,1", 0, false}, {"master", 0, false}, {"-1", 0, false}, {"10.9.9.9", 0, false}, {"", 0, false},
	} {
		if n, ok := Host(tc.name, fuzzNodes); ok != tc.ok || ok && n != tc.num {
			t.Errorf("Host(%q) = %d, %v; want %d, %v", tc.name, n, ok, tc.num, tc.ok)
		}
	}
}
