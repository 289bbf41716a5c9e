package vmadump

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse4_2 avx2 avx512f xsavec\nbugs\t\t: spectre\n\nprocessor\t: 1\nflags\t\t: fpu\n"
	if got := ParseCPUFlags([]byte(info)); !slices.Equal(got, []string{"fpu", "sse4_2", "avx2", "avx512f", "xsavec"}) {
		t.Errorf("Parse = %q", got)
	}
	if got := ParseCPUFlags([]byte("no flags here\n")); got != nil {
		t.Errorf("Parse without flags = %q, want nil", got)
	}
	own, err := ReadCPUFlags()
	if err != nil || !slices.Contains(own, "fpu") {
		t.Errorf("Read = %q, %v; want this machine's flags", own, err)
	}
}

func TestMissing(t *testing.T) {
	master := []string{"fpu", "sse4_2", "avx2", "avx512f", "avx512vl", "xsavec", "rtm", "gfni"}
	node := []string{"fpu", "sse4_2", "avx2"}
	env := []byte("PATH=/bin\x00GLIBC_TUNABLES=glibc.malloc.check=0:glibc.cpu.hwcaps=-AVX512F,-avx512vl,-XSAVEC\x00HOME=/\x00")
	if got := MissingCPUFlags(master, node, nil); !slices.Equal(got, []string{"avx512f", "avx512vl", "rtm", "xsavec"}) {
		t.Errorf("Missing without tunables = %q", got) // gfni: glibc chooses nothing by it
	}
	if got := MissingCPUFlags(master, node, env); !slices.Equal(got, []string{"rtm"}) {
		t.Errorf("Missing with three turned off = %q, want rtm", got)
	}
	if got := MissingCPUFlags(master, master, nil); got != nil {
		t.Errorf("Missing on the same CPU = %q", got)
	}
	if got := MissingCPUFlags(master, nil, nil); got != nil {
		t.Errorf("Missing to a node that did not say = %q, want none", got)
	}
	msg := CPUFlagsRefusal(1, []string{"rtm", "xsavec"})
	if !strings.HasPrefix(msg, "node 1's CPU lacks rtm xsavec") || !strings.Contains(msg, "glibc.cpu.hwcaps=-RTM,-XSAVEC ") || strings.Contains(msg, "\n") {
		t.Errorf("Refusal = %q", msg)
	}
	// The suggestion does what it says.
	if got := MissingCPUFlags(master, node, []byte("GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-RTM,-XSAVEC")); got != nil {
		t.Errorf("Missing with the suggested tunables = %q, want none", got)
	}
}

func FuzzTurnedoff(f *testing.F) {
	f.Add([]byte("GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-XSAVEC\x00"))
	f.Add([]byte("GLIBC_TUNABLES=:::glibc.cpu.hwcaps=,,-,=\x00\x00"))
	f.Fuzz(func(t *testing.T, env []byte) {
		for flag := range CPUFlagsTurnedOff(env) {
			if _, ok := glibcName(flag); !ok {
				t.Fatalf("Turnedoff named %q, not one of glibc's choices", flag)
			}
		}
	})
}
