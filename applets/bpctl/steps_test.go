package bpctl

import (
	"slices"
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

func TestParseArgsOrder(t *testing.T) {
	p, err := parseArgs([]string{"-S", "0-3", "-u", "alice", "-S4", "--state=unavailable", "-m", "0110", "-R", "--socket", "/x"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range p.steps {
		got = append(got, s.kind+"="+s.arg)
	}
	want := "select=0-3 user=alice select=4 state=unavailable mode=0110 action=reboot"
	if strings.Join(got, " ") != want || p.socket != "/x" {
		t.Errorf("steps %q socket %q, want %q /x", strings.Join(got, " "), p.socket, want)
	}
}

func TestParseArgsBad(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-S"}, "-S: missing value"},
		{[]string{"-x"}, "unknown option -x"},
		{[]string{"3"}, `unexpected argument "3"`},
		{[]string{"-S", "1", "-m", "0755"}, "only execute bits"},
		{[]string{"-S", "1", "-m", "9"}, "not an octal mode"},
		{[]string{"-S", "1", "-s", "sleepy"}, `"sleepy": not a state`},
		{[]string{"-S", "1", "-s", "down"}, "the master sets that state"},
		{[]string{"-S", "1", "-r", "/x"}, "no chroot"},
		{[]string{"--reboot=now"}, "takes no value"},
		{[]string{"-S", ""}, "empty value"},
	} {
		_, err := parseArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseArgs(%q) = %v, want one line with %q", tc.args, err, tc.msg)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("-S 0-3 -u alice -s up -m 0111 -R")
	f.Add("--slave=all --group=users -H")
	f.Add("-S 3 -s unavailable --reason bad -S 4 -s error --reason=x")
	f.Fuzz(func(t *testing.T, line string) {
		p, err := parseArgs(strings.Fields(line))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, s := range p.steps {
			if err := s.check(); err != nil {
				t.Errorf("accepted step %+v fails its check: %v", s, err)
			}
		}
	})
}

// TestPlanBadStepChangesNothing: a step that cannot be resolved fails the
// whole command line before any change is asked for.
func TestPlanBadStepChangesNothing(t *testing.T) {
	table := []localapi.NodeStatus{{Num: 0, State: "up"}, {Num: 1, State: "up"}}
	for _, args := range [][]string{
		{"-S", "0", "-m", "0100", "-S", "99", "-s", "up"},
		{"-S", "0", "-m", "0100", "-u", "no-such-user-bproc"},
		{"-S", "0", "-m", "0100", "-g", "no-such-group-bproc"},
		{"--add-node", "52:54:00:00:00:01", "-m", "0100"},
	} {
		p, err := parseArgs(args)
		if err != nil {
			t.Fatalf("parseArgs(%q): %v", args, err)
		}
		if got, err := plan(table, p.steps); err == nil {
			t.Errorf("plan(%q) = %d changes, want an error", args, len(got))
		}
	}
	p, _ := parseArgs([]string{"-S", "0", "-m", "0100", "-S", "1", "-u", "0", "-M", "-s", "up"})
	got, err := plan(table, p.steps)
	if err != nil || len(got) != 3 || !slices.Equal(got[0].ctl.Nodes, []int{0}) || !slices.Equal(got[1].ctl.Nodes, []int{1}) || !got[2].onMaster {
		t.Errorf("plan of good steps = %+v, %v", got, err)
	}
}
