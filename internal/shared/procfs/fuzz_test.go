package procfs

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseStat: any text gives fields or an error that says what was
// wrong, never a panic; a well-formed text of any command name (spaces,
// parentheses, newlines) gives its fields.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte(stat52("sh", "S", 4)), "a) b (c", 7)
	f.Add([]byte("12 (sh) S 1 12 7 0 -1"), ") R 1 2 3 ", 1)
	f.Add([]byte("1 ()) R 0 0 0"), "", 0)
	f.Add([]byte(")"), "\n)", 1<<31)
	f.Add([]byte(stat52("x", "Z", 1)[:100]), " ", 3)
	f.Fuzz(func(t *testing.T, b []byte, comm string, ppid int) {
		if _, err := ParseStat(b); err != nil && err.Error() == "" {
			t.Fatalf("ParseStat(%q): an empty error", b)
		}
		if ppid < 0 {
			ppid = -ppid
		}
		if ppid < 0 {
			return
		}
		in := stat52(comm, "T", ppid)
		st, err := ParseStat([]byte(in))
		if err != nil || st.State != 'T' || st.PPid != ppid || st.Session != 6 || st.EnvEnd != 51 {
			t.Errorf("ParseStat(%q) = %+v, %v; want state T ppid %d", in, st, err, ppid)
		}
	})
}

// FuzzParseStatus: any text gives fields or an error that says what was
// wrong, never a panic; a well-formed text gives the masks it holds.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(status), true, uint64(1<<17))
	f.Add([]byte(status[:200]), false, uint64(0)) // cut short
	f.Add([]byte("Tgid:\t1\nPPid:\nUid:\t\t\t\t\n"), true, ^uint64(0))
	f.Add([]byte("Groups:\t1 x\nSigCgt:"), true, uint64(2))
	f.Add([]byte(strings.ReplaceAll(status, "\t", " ")), true, uint64(3))
	f.Fuzz(func(t *testing.T, b []byte, groups bool, mask uint64) {
		st, err := ParseStatus(b, groups)
		if err != nil && err.Error() == "" {
			t.Fatalf("ParseStatus(%q): an empty error", b)
		}
		if err == nil && groups != (st.Groups != nil) {
			t.Fatalf("ParseStatus(%q, %v): groups %#v", b, groups, st.Groups)
		}
		in := strings.Replace(status, "ShdPnd:\t0000000000020000", "ShdPnd:\t"+strconv.FormatUint(mask, 16), 1)
		if st, err := ParseStatus([]byte(in), groups); err != nil || st.ShdPnd != mask || st.SigCgt != 0x180014002 {
			t.Errorf("ParseStatus(%q) = %+v, %v; want ShdPnd %#x", in, st, err, mask)
		}
	})
}

// FuzzParseChildren: any text gives PIDs or an error, never a panic.
func FuzzParseChildren(f *testing.F) {
	f.Add([]byte("12 13 "))
	f.Add([]byte("1 99999999999999999999"))
	f.Add([]byte("\n\t 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		set := map[int]bool{}
		if err := ParseChildren(b, set); err != nil && err.Error() == "" {
			t.Fatalf("ParseChildren(%q): an empty error", b)
		}
		for p := range set {
			if p <= 0 {
				t.Fatalf("ParseChildren(%q): PID %d", b, p)
			}
		}
	})
}
