package bpstat

import (
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

func TestPrependNodes(t *testing.T) {
	ps := "  PID TTY          TIME CMD\n  100 pts/0    00:00:00 bash\n  205 pts/0    00:00:00 sleep\n"
	var out strings.Builder
	if err := prependNodes(strings.NewReader(ps), &out, []localapi.Proc{{PID: 205, Node: 3}}); err != nil {
		t.Fatal(err)
	}
	want := "NODE    PID TTY          TIME CMD\n        100 pts/0    00:00:00 bash\n3       205 pts/0    00:00:00 sleep\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if err := prependNodes(strings.NewReader("no header here\n"), &out, nil); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("input without a PID header: %v, want a one-line error", err)
	}
}

func TestSizeAndUptime(t *testing.T) {
	for in, want := range map[uint64]string{512: "512B", 1536: "1.5K", 25276510208: "24G", 340 << 20: "340M"} {
		if got := size(in); got != want {
			t.Errorf("size(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{59: "0m", 6776: "1h52m", 3*86400 + 4*3600: "3d04h"} {
		if got := uptime(in); got != want {
			t.Errorf("uptime(%v) = %q, want %q", in, got, want)
		}
	}
}
