package master

import (
	"os"
	"testing"
)

func TestParseLocalRecord(t *testing.T) {
	for in, ok := range map[string]bool{
		"1234 5678\n": true, "1234 5678": true,
		"": false, "1234": false, "1 5678\n": false, "x 5678\n": false,
		"1234 -1\n": false, "1234 5678 9\n": false, "-5 10\n": false,
	} {
		rec, err := parseLocalRecord([]byte(in))
		if (err == nil) != ok {
			t.Errorf("parseLocalRecord(%q) = %+v, %v; want ok %v", in, rec, err, ok)
		}
	}
}

// The start time of this process, read as a next master reads a node's.
func TestProcStart(t *testing.T) {
	a, err := procStart(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("procStart(self) = %d, %v", a, err)
	}
	if _, err := procStart(-1); err == nil {
		t.Errorf("procStart(-1): no error")
	}
}

func FuzzParseLocalRecord(f *testing.F) {
	for _, s := range []string{"1234 5678\n", "", "x y", "2 18446744073709551615", "9 9 9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := parseLocalRecord(b)
		if err == nil && rec.pid <= 1 {
			t.Errorf("parseLocalRecord(%q): PID %d accepted", b, rec.pid)
		}
	})
}
