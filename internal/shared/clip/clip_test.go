package clip

import (
	"fmt"
	"strings"
	"testing"
)

func TestCut(t *testing.T) {
	long := strings.Repeat("x", 5<<20)
	for _, c := range []struct {
		format string
		arg    any
		want   string
	}{
		{"%q", S("short"), `"short"`},
		{"%s", S("short"), `short`},
		{"%q", S(long), `"` + strings.Repeat("x", Max) + `..." (5242880 bytes)`},
		{"%s", S(long), strings.Repeat("x", Max) + `... (5242880 bytes)`},
		// A rune is never cut in two: the cut falls before it.
		{"%s", S(strings.Repeat("a", Max-1) + "é" + long), strings.Repeat("a", Max-1) + "... (5242961 bytes)"},
	} {
		if got := fmt.Sprintf(c.format, c.arg); got != c.want {
			t.Errorf("Sprintf(%s, %.20q) = %.200q, want %.200q", c.format, fmt.Sprint(c.arg), got, c.want)
		}
	}
	msg := fmt.Sprintf("%q is not a port, nor %s, nor %d", Args([]any{long, "short", 3})...)
	if want := `"` + strings.Repeat("x", Max) + `..." (5242880 bytes) is not a port, nor short, nor 3`; msg != want {
		t.Errorf("Args: got %.200q, want %q", msg, want)
	}
}
