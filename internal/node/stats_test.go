package node

import (
	"testing"
)

func TestReadThisMachine(t *testing.T) {
	s, err := readStats("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if s.MemTotal == 0 || s.MemUsed == 0 || s.MemUsed > s.MemTotal || s.Uptime <= 0 || s.CPUs < 1 {
		t.Errorf("readStats(/proc) = %+v: implausible", s)
	}
}

func TestParse(t *testing.T) {
	l, err := parseLoadavg([]byte("0.52 1.58 10.59 1/467 12345\n"))
	if err != nil || l != [3]float64{0.52, 1.58, 10.59} {
		t.Errorf("parseLoadavg = %v, %v", l, err)
	}
	total, used, err := parseMeminfo([]byte("MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    250 kB\n"))
	if err != nil || total != 1000*1024 || used != 750*1024 {
		t.Errorf("parseMeminfo = %d %d %v", total, used, err)
	}
	for _, bad := range []string{"", "1 2", "a b c"} {
		if _, err := parseLoadavg([]byte(bad)); err == nil {
			t.Errorf("parseLoadavg(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"", "MemTotal: 5 kB\n", "MemTotal: x kB\nMemAvailable: 1 kB\n", "MemTotal:\nMemAvailable: 1 kB\n"} {
		if _, _, err := parseMeminfo([]byte(bad)); err == nil {
			t.Errorf("parseMeminfo(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("MemTotal: 10 kB\nMemAvailable: 5 kB\n"))
	f.Add([]byte("0.1 0.2 0.3 1/2 3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseLoadavg(b)
		if total, used, err := parseMeminfo(b); err == nil && used > total {
			t.Errorf("used %d > total %d", used, total)
		}
	})
}
