package procfs

import (
	"os"
	"testing"
)

// The node's fork reads these at every fork: they allocate nothing.

func BenchmarkReadStat(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadStat(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadStatus(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadStatus(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStat(b *testing.B) {
	text, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStat(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatus(b *testing.B) {
	text, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStatus(text, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNoAllocs: reading stat or status (without groups) allocates
// nothing, as the fork's path wants.
func TestNoAllocs(t *testing.T) {
	pid := os.Getpid()
	for name, f := range map[string]func(){
		"ReadStat":   func() { ReadStat(pid) },
		"ReadStatus": func() { ReadStatus(pid) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations a call, want 0", name, n)
		}
	}
}
