package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestPMI2Slurm: a PMI-2 client no one here wrote, Slurm's libpmi2
// (Debian's libpmi2-0-dev; Debian's MPICH 4.0.2 speaks PMI-1 only): 2
// nodes x 2 ranks put, fence and get each other's keys through bpsh
// --pmi. Its fullinit names the PMI_ID srcid, where MPICH says pmirank,
// and bpsh used to refuse it.
func TestPMI2Slurm(t *testing.T) {
	if _, err := os.Stat("/usr/include/slurm/pmi2.h"); err != nil {
		t.Skip("no Slurm libpmi2: apt-get install libpmi2-0-dev")
	}
	c := startCluster(t, 2)
	bin := filepath.Join(publicTempDir(t), "pmi2ring")
	src := filepath.Join(sourceRoot(t), "internal/integration/testdata/pmi2ring.c")
	if b, err := exec.Command("gcc", "-O1", "-Wall", "-Werror", "-o", bin, src, "-lpmi2").CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	r := c.runIn("/", "bpsh", "--pmi", "--per-node", "2", "0-1", bin)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	sort.Strings(lines)
	want := "rank 0 of 4: key1=value10\nrank 1 of 4: key2=value20\nrank 2 of 4: key3=value30\nrank 3 of 4: key0=value0"
	if got := strings.Join(lines, "\n"); r.code != 0 || got != want {
		t.Errorf("bpsh --pmi --per-node 2 0-1 pmi2ring: exit %d, stdout %q, stderr %q; want exit 0 and %q", r.code, r.stdout, r.stderr, want)
	}
	c.waitNoProcs()
}
