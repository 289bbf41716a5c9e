package procfs

import (
	"os"
	"testing"
)

// The node's fork reads these at every fork: they allocate nothing.

func BenchmarkRead(b *testing.B) {
	pid := os.Getpid()
	for name, read := range map[string]func() error{
		"Stat":   func() error { _, err := ReadStat(pid); return err },
		"Status": func() error { _, err := ReadStatus(pid); return err },
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse parses the files of this process as read once.
func BenchmarkParse(b *testing.B) {
	for name, parse := range map[string]func([]byte) error{
		"stat":   func(t []byte) error { _, err := ParseStat(t); return err },
		"status": func(t []byte) error { _, err := ParseStatus(t, false); return err },
	} {
		text, err := os.ReadFile("/proc/self/" + name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := parse(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNoAllocs: reading stat or status (without groups) allocates
// nothing, as the fork's path wants.
func TestNoAllocs(t *testing.T) {
	if raceOn {
		t.Skip("the race detector's build allocates where a plain one does not")
	}
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
