package bpcp

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		node int
		path string
	}{
		{"file.txt", local, "file.txt"},
		{"/etc/hosts", local, "/etc/hosts"},
		{"3:/tmp/x", 3, "/tmp/x"},
		{"n12:out", 12, "out"},
		{".2:", 2, "."},
		{"./a:b", local, "./a:b"},
		{"dir/x:y", local, "dir/x:y"},
	} {
		e, err := parseEndpoint(tc.in)
		if err != nil || e.node != tc.node || e.path != tc.path {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want node %d path %q", tc.in, e, err, tc.node, tc.path)
		}
	}
	for _, bad := range []string{"", "x:/tmp", "-1:/a", "+3:/a", "n:/a", "99999999999999999999:/a"} {
		if _, err := parseEndpoint(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseEndpoint(%q) = %v, want a one-line error", bad, err)
		}
	}
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"3:/tmp/x", "a:b", "n1:", ".4:x:y", "/a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseEndpoint(s)
		if err != nil {
			return
		}
		if e.path == "" || (e.node != local && e.node < 0) {
			t.Errorf("parseEndpoint(%q) = %+v", s, e)
		}
	})
}
