package bpctl

import (
	"strings"
	"testing"
)

// TestFlagsAreParsed: every option bpctl's --help and manual page list is
// one its parser takes, and every option it takes is listed.
func TestFlagsAreParsed(t *testing.T) {
	listed := map[string]bool{}
	for _, f := range flags {
		for _, name := range []string{f.short, f.long} {
			if name == "" {
				continue
			}
			listed[name] = true
			args := []string{"-S", "0", name}
			switch {
			case f.kind == "reason":
				args = []string{"-S", "0", "-s", "error", name, "x"}
			case f.arg == "MAC":
				args = append(args, "52:54:00:00:00:01")
			case f.arg == "STATE":
				args = append(args, "up")
			case f.arg == "MODE":
				args = append(args, "0110")
			case f.arg == "N":
				args = append(args, "3")
			case f.arg != "":
				args = append(args, "x")
			}
			_, err := parseArgs(args)
			if err != nil && (strings.Contains(err.Error(), "unknown option") || f.kind != "chroot") {
				t.Errorf("%s listed but not parsed: %v", name, err)
			}
		}
	}
	for name := range options() {
		if !listed[name] {
			t.Errorf("%s parsed but not listed in flags", name)
		}
	}
	for _, name := range []string{"--socket", "-h", "--help"} {
		if !listed[name] {
			t.Errorf("%s parsed but not listed in flags", name)
		}
	}
	m := Manual()
	if len(m.Flags) != len(flags) || !strings.Contains(usage(), "--add-node=MAC") {
		t.Errorf("manual has %d options, want %d; usage:\n%s", len(m.Flags), len(flags), usage())
	}
}
