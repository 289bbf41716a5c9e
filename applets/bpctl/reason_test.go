package bpctl

import (
	"strings"
	"testing"
)

func TestReason(t *testing.T) {
	p, err := parseArgs([]string{"-S", "3", "-s", "unavailable", "--reason", "bad DIMM", "-S", "4", "-s", "error", "--reason=fan"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.steps) != 4 || p.steps[1].reason != "bad DIMM" || p.steps[3].reason != "fan" {
		t.Fatalf("steps %+v, want reasons on the two -s steps", p.steps)
	}
	c, _ := p.steps[1].ctl()
	if c.State != "unavailable" || c.Reason != "bad DIMM" {
		t.Errorf("ctl = %+v, want unavailable with its reason", c)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--reason", "x"}, "--reason: goes after -s error or -s unavailable"},
		{[]string{"-S", "1", "-s", "up", "--reason", "x"}, "not after -s"},
		{[]string{"-S", "1", "-m", "0111", "--reason", "x"}, "not after -m"},
		{[]string{"-S", "1", "-s", "error", "--reason", "x", "--reason", "y"}, "has a reason already"},
		{[]string{"-S", "1", "-s", "error", "--reason", ""}, "reason: empty"},
		{[]string{"-S", "1", "-s", "error", "--reason", "two\nlines"}, "control character"},
		{[]string{"-S", "1", "-s", "error", "--reason", strings.Repeat("x", 201)}, "more than 200"},
		{[]string{"-S", "1", "-s", "error", "--reason"}, "--reason: missing value"},
	} {
		_, err := parseArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseArgs(%q) = %v, want one line with %q", tc.args, err, tc.msg)
		}
	}
}
