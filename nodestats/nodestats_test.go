package nodestats

import (
	"testing"
)

func TestReadThisMachine(t *testing.T) {
	s, err := Read("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if s.MemTotal == 0 || s.MemUsed == 0 || s.MemUsed > s.MemTotal || s.Uptime <= 0 || s.CPUs < 1 {
		t.Errorf("Read(/proc) = %+v: implausible", s)
	}
}

func TestParse(t *testing.T) {
	l, err := ParseLoadavg([]byte("0.52 1.58 10.59 1/467 12345\n"))
	if err != nil || l != [3]float64{0.52, 1.58, 10.59} {
		t.Errorf("ParseLoadavg = %v, %v", l, err)
	}
	total, used, err := ParseMeminfo([]byte("MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    250 kB\n"))
	if err != nil || total != 1000*1024 || used != 750*1024 {
		t.Errorf("ParseMeminfo = %d %d %v", total, used, err)
	}
	for _, bad := range []string{"", "1 2", "a b c"} {
		if _, err := ParseLoadavg([]byte(bad)); err == nil {
			t.Errorf("ParseLoadavg(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"", "MemTotal: 5 kB\n", "MemTotal: x kB\nMemAvailable: 1 kB\n", "MemTotal:\nMemAvailable: 1 kB\n"} {
		if _, _, err := ParseMeminfo([]byte(bad)); err == nil {
			t.Errorf("ParseMeminfo(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("MemTotal: 10 kB\nMemAvailable: 5 kB\n"))
	f.Add([]byte("0.1 0.2 0.3 1/2 3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseLoadavg(b)
		if total, used, err := ParseMeminfo(b); err == nil && used > total {
			t.Errorf("used %d > total %d", used, total)
		}
	})
}
