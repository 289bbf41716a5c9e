package ghost

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSiblingStackStatic bounds, from the compiler's own figures, the
// deepest path a sibling can take on its slice, also the paths no test
// drives (a reconnect from deep in relay), and an exec'd ghost's on the
// stack settle gives it. stub.c's SLICE is 1 kB with no
// guard page below it: a path past it writes into the neighbouring
// ghost's stack. Built as go generate builds the stub, with gcc's
// -fstack-usage and -fcallgraph-info=su; each call counts 8 bytes of
// return address.
func TestSiblingStackStatic(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	src, err := filepath.Abs("stub.c")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gcc", "-Os", "-ffreestanding", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
		"-fno-unwind-tables", "-fno-pie", "-ffunction-sections", "-fdata-sections",
		"-fstack-usage", "-fcallgraph-info=su", "-c", src, "-o", filepath.Join(dir, "stub.o"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	frames := map[string]int{}
	su, err := os.Open(filepath.Join(dir, "stub.su"))
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	for sc := bufio.NewScanner(su); sc.Scan(); {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("stub.su: %q: %v", sc.Text(), err)
		}
		frames[f[0][strings.LastIndex(f[0], ":")+1:]] = n
	}
	ci, err := os.ReadFile(filepath.Join(dir, "stub.ci"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]string{}
	short := func(title string) string { return title[strings.LastIndex(title, ":")+1:] }
	for _, m := range regexp.MustCompile(`edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"`).FindAllSubmatch(ci, -1) {
		from, to := short(string(m[1])), short(string(m[2]))
		calls[from] = append(calls[from], to)
	}
	var deepest func(fn string, on map[string]bool) (int, []string)
	deepest = func(fn string, on map[string]bool) (int, []string) {
		on[fn] = true
		defer delete(on, fn)
		best, path := 0, []string(nil)
		for _, c := range calls[fn] {
			if on[c] {
				continue // recursion: none in the stub, and it would not end
			}
			if d, p := deepest(c, on); d > best {
				best, path = d, p
			}
		}
		return frames[fn] + 8 + best, append([]string{fn}, path...)
	}
	if frames["sibling"] == 0 {
		t.Fatalf("no frame for sibling in stub.su: %v", frames)
	}
	depth, path := deepest("sibling", map[string]bool{})
	// The slice also holds the spec at its top (64 bytes) and the pid
	// word at its base (4); keep 64 bytes spare for what gcc's figures
	// leave out.
	const slice, spec, pidWord, spare = 1024, 64, 4, 64
	if depth > slice-spec-pidWord-spare {
		t.Errorf("a sibling's deepest path takes %d bytes (%s): more than %d of its %d-byte slice", depth,
			strings.Join(path, " > "), slice-spec-pidWord-spare, slice)
	}
	t.Logf("deepest: %d bytes, %s", depth, strings.Join(path, " > "))

	// A settled ghost (an exec'd one: settle) runs from settled on at
	// least ROOM bytes below its struct moved, the text below them.
	if frames["settled"] == 0 {
		t.Fatalf("no frame for settled in stub.su: %v", frames)
	}
	depth, path = deepest("settled", map[string]bool{})
	if depth > settleRoom-spare {
		t.Errorf("a settled ghost's deepest path takes %d bytes (%s): more than %d of its %d", depth,
			strings.Join(path, " > "), settleRoom-spare, settleRoom)
	}
	t.Logf("deepest settled: %d bytes, %s", depth, strings.Join(path, " > "))
}
