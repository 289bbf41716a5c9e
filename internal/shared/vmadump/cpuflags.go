// The CPU flags tell whether a process can go on on another machine's
// CPU: a process keeps the code its C library chose for the CPU it
// started on (glibc picks memcpy, strlen and its lazy-binding trampoline
// by CPUID once, at start), and on a CPU without those instructions it
// dies of SIGILL at its next call. The master moves a process only to a
// node whose CPU has what glibc may have chosen, less what the process's
// GLIBC_TUNABLES turned off.

package vmadump

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// glibcChoices are the CPU features (as /proc/cpuinfo names them) glibc
// 2.36 chooses code by on x86-64, with glibc's names for them in
// glibc.cpu.hwcaps. A slice, not a map: static data, which costs nothing
// at start-up of the applets that never move a process (a map is built by
// the package's initialiser in every run of the binary).
var glibcChoices = []struct{ flag, glibc string }{
	{"pni", "SSE3"}, {"ssse3", "SSSE3"}, {"sse4_1", "SSE4_1"}, {"sse4_2", "SSE4_2"},
	{"popcnt", "POPCNT"}, {"movbe", "MOVBE"}, {"abm", "LZCNT"}, {"f16c", "F16C"},
	{"avx", "AVX"}, {"avx2", "AVX2"}, {"fma", "FMA"}, {"bmi1", "BMI1"}, {"bmi2", "BMI2"},
	{"xsave", "XSAVE"}, {"xsavec", "XSAVEC"}, {"rtm", "RTM"},
	{"avx512f", "AVX512F"}, {"avx512bw", "AVX512BW"}, {"avx512cd", "AVX512CD"},
	{"avx512dq", "AVX512DQ"}, {"avx512vl", "AVX512VL"},
}

// glibcName is glibc's name of a CPU flag it chooses code by.
func glibcName(flag string) (string, bool) {
	for _, c := range glibcChoices {
		if c.flag == flag {
			return c.glibc, true
		}
	}
	return "", false
}

// Read is this machine's CPU flags (the first processor's).
func ReadCPUFlags() ([]string, error) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil, fmt.Errorf("cpu flags: %w", err)
	}
	return ParseCPUFlags(b), nil
}

// Parse finds the flags line of a /proc/cpuinfo text.
func ParseCPUFlags(cpuinfo []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}

// Turnedoff is what a process's environment (/proc/PID/environ: NUL
// separated) turned off of glibc's choices, as cpuinfo names: the
// "-NAME" entries of glibc.cpu.hwcaps in GLIBC_TUNABLES.
func CPUFlagsTurnedOff(environ []byte) map[string]bool {
	off := map[string]bool{}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("GLIBC_TUNABLES="))
		if !ok {
			continue
		}
		for _, t := range strings.Split(string(v), ":") {
			caps, ok := strings.CutPrefix(t, "glibc.cpu.hwcaps=")
			if !ok {
				continue
			}
			for _, c := range strings.Split(caps, ",") {
				name, ok := strings.CutPrefix(strings.TrimSpace(c), "-")
				if !ok {
					continue
				}
				for _, c := range glibcChoices {
					if strings.EqualFold(c.glibc, name) {
						off[c.flag] = true
					}
				}
			}
		}
	}
	return off
}

// Missing is what the process may use that the target CPU lacks: glibc's
// choices among the flags of the CPU it was started on (from), less those
// its environment turned off, that target does not have. Sorted.
func MissingCPUFlags(from, target []string, environ []byte) []string {
	if len(from) == 0 || len(target) == 0 {
		return nil // a side that did not say: no grounds to refuse
	}
	off := CPUFlagsTurnedOff(environ)
	var out []string
	for _, f := range from {
		if _, chosen := glibcName(f); chosen && !off[f] && !slices.Contains(target, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CPUFlagsRefusal says in one line why a process may not move to node,
// which lacks missing, and what to do. The master puts ENOEXEC's text
// (localapi.ErrExecFormat, libbproc's errno) before it.
func CPUFlagsRefusal(node int, missing []string) string {
	names := make([]string, len(missing))
	for i, f := range missing {
		g, _ := glibcName(f)
		names[i] = "-" + g
	}
	return fmt.Sprintf("node %d's CPU lacks %s, which the C library may use where the process started; start it with GLIBC_TUNABLES=glibc.cpu.hwcaps=%s to move it there",
		node, strings.Join(missing, " "), strings.Join(names, ","))
}
