package vmadump

import (
	"bytes"
	"debug/elf"
	"os"
	"strings"
	"testing"
)

// ownVDSO is this process's vDSO text.
func ownVDSO(t *testing.T) []byte {
	t.Helper()
	maps, err := readMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	text, err := readVDSOText(mem, vdsoBlock(maps))
	if err != nil || text == nil {
		t.Skipf("no vDSO to read: %v", err)
	}
	return text
}

func TestSyscallVDSO(t *testing.T) {
	text := ownVDSO(t)
	out, err := syscallVDSO(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(text) {
		t.Fatalf("copy is %d bytes, the vDSO %d", len(out), len(text))
	}
	f, err := elf.NewFile(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := f.DynamicSymbols()
	seen := map[string]bool{}
	changed := 0
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 {
			continue
		}
		name := strings.TrimPrefix(s.Name, "__vdso_")
		want := stubFor(name)
		if got := out[s.Value : s.Value+stubLen]; !bytes.Equal(got, want) {
			t.Errorf("%s starts % x, want % x", s.Name, got, want)
		}
		seen[name] = true
		changed += stubLen
	}
	for _, name := range []string{"clock_gettime", "gettimeofday", "time", "getcpu"} {
		if !seen[name] {
			t.Errorf("this kernel's vDSO has no %s", name)
		}
	}
	diff := 0
	for i := range text {
		if text[i] != out[i] {
			diff++
		}
	}
	if diff > changed {
		t.Errorf("%d bytes changed, more than the %d of the functions' entries", diff, changed)
	}
	if _, err := syscallVDSO([]byte("not an ELF file")); err == nil {
		t.Errorf("syscallVDSO of garbage: no error")
	}
}
