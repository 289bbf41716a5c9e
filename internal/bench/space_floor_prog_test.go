package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestSpaceFloorProg checks testdata/spacefloor.c, BenchmarkSpaceFloor's
// supervisor, on a small loop that also has a child killed by SIGKILL
// (no exit notified): the command's exit status comes back, every fork,
// exec, wait and exit was notified and answered, and with ghost and relay each
// fork's child was found at its steered PID with the right parent (-c),
// each extra process was killed (the killed child's at the end), and
// nothing of the program is left running.
func TestSpaceFloorProg(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: PID namespaces and a seccomp listener")
	}
	prog := spaceFloorProg(t)
	const loops = 50
	script := fmt.Sprintf(`for i in $(seq %d); do /bin/true; done; sleep 100 & kill -9 $!; wait; exit 3`, loops)
	for _, mode := range []string{"none", "continue", "ghost", "relay"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			cpuFile := filepath.Join(t.TempDir(), "cpu")
			c := exec.CommandContext(ctx, prog, "-c", "-u", cpuFile, mode, "/bin/sh", "-c", script)
			c.Stderr = &stderr
			t.Cleanup(func() { checkNoneLeft(t, prog) })
			err := c.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("spacefloor %s: %v, want exit status 3; it said:\n%s", mode, err, stderr.String())
			}
			if cpu, err := floorCPU(cpuFile, 0, 1); err != nil {
				t.Error(err)
			} else if cpu[0] > 60 {
				t.Errorf("spacefloor -u: %g CPU seconds, for a run under 60 s", cpu[0])
			}
			sup := counts(stderr.String(), "supervisor")
			out := counts(stderr.String(), "outside")
			if mode == "none" {
				if sup != nil || out != nil {
					t.Fatalf("spacefloor none counted notifications:\n%s", stderr.String())
				}
				return
			}
			// The loop's /bin/true, seq and sleep: a fork and an exec
			// each; every process but the killed one exits.
			want := map[string]int{"fork": loops + 2, "exec": loops + 2, "exit": loops + 1, "wait": loops + 2}
			for k, n := range want {
				if sup[k] < n {
					t.Errorf("%s notifications: %d, want at least %d:\n%s", k, sup[k], n, stderr.String())
				}
			}
			if sup["notifications"] != sup["fork"]+sup["exec"]+sup["wait"]+sup["exit"]+sup["other"] {
				t.Errorf("the notifications do not add up:\n%s", stderr.String())
			}
			if mode == "continue" {
				return
			}
			if sup["kept"] != sup["fork"] || sup["missed"] != 0 || sup["wrong"] != 0 {
				t.Errorf("not every child at its steered PID with its parent:\n%s", stderr.String())
			}
			if out["made"] != sup["fork"] || out["killed"] != out["made"]-1 || out["left"] != 1 {
				t.Errorf("extra processes: want one per fork, each killed at its child's exit but the killed sleep's, at the end:\n%s", stderr.String())
			}
		})
	}
}

// counts parses spacefloor's line "spacefloor: WHO k=v ..." from text,
// nil if there is none.
func counts(text, who string) map[string]int {
	m := regexp.MustCompile(`(?m)^spacefloor: ` + who + ` (.*)$`).FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	out := make(map[string]int)
	for _, kv := range regexp.MustCompile(`(\w+)=(\d+)`).FindAllStringSubmatch(m[1], -1) {
		n, _ := strconv.Atoi(kv[2])
		out[kv[1]] = n
	}
	return out
}

// checkNoneLeft fails t if a process still runs prog (the namespace's
// init, an extra process: they share the program's memory, so their exe
// is prog), and kills it.
func checkNoneLeft(t *testing.T, prog string) {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if exe, err := os.Readlink(d + "/exe"); err == nil && exe == prog {
			pid, _ := strconv.Atoi(filepath.Base(d))
			t.Errorf("process %d of %s left running", pid, prog)
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
}
