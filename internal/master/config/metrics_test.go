package config

import (
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9464", "[::1]:9464", ":9464", "localhost:0", "10.0.0.1:65535"} {
		c, err := Parse("t", []byte("metrics "+addr+"\n"))
		if err != nil || c.Metrics != addr {
			t.Errorf("metrics %s: %q, %v", addr, c.Metrics, err)
		}
	}
	for _, tc := range []struct{ text, msg string }{
		{"metrics 9464", `"9464" is not HOST:PORT`},
		{"metrics host.example:9464", `"host.example" is not an IP address`},
		{"metrics 127.0.0.1:99999", `port "99999" is not a number`},
		{"metrics 127.0.0.1:http", `port "http" is not a number`},
		{"metrics [fe80::1%eth0]:1", `is not an IP address`},
		{"metrics", "want metrics ADDR"},
		{"metrics :1 :2", "want metrics ADDR"},
		{"metrics :1\nmetrics :2", "metrics"},
	} {
		_, err := Parse("t", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("Parse(%q) = %v, want one line with %q", tc.text, err, tc.msg)
		}
	}
	if c := Default(); c.Metrics != "" {
		t.Errorf("Default().Metrics = %q, want none", c.Metrics)
	}
}

// FuzzCheckMetricsAddr: an address accepted is one net.Listen takes as
// it is; every refusal is one line.
func FuzzCheckMetricsAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9464", "[::1]:0", ":1", "localhost:9", "a:b", "[::1", "1.2.3.4:-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckMetricsAddr(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("CheckMetricsAddr(%q): multi-line error %q", s, err)
			}
			return
		}
		if strings.ContainsAny(s, " \t\n") {
			t.Errorf("CheckMetricsAddr(%q) accepted white space", s)
		}
	})
}
