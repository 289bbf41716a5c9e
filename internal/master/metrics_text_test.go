package master

import (
	"bufio"
	"math"
	"strings"
	"testing"
)

// unescapeLabel undoes the format's escapes (\\, \", \n) and reports
// whether the value was well formed: no raw quote or newline, no other
// escape.
func unescapeLabel(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", false
			}
		case '"', '\n':
			return "", false
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

// FuzzLabelValue: whatever a label's value holds (a reason comes from an
// administrator), the sample is one line and the value reads back as it
// was.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"bad DIMM", `a"b`, `c:\temp`, "two\nlines", `\n`, "", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var out strings.Builder
		w := bufio.NewWriter(&out)
		(&expo{w: w}).sample("bproc_node_held", 1, "node", "3", "reason", v)
		w.Flush()
		line := out.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("sample for %q is not one line: %q", v, line)
		}
		inner, ok := strings.CutPrefix(line, `bproc_node_held{node="3",reason="`)
		inner, ok2 := strings.CutSuffix(inner, "\"} 1\n")
		if !ok || !ok2 {
			t.Fatalf("sample for %q: %q", v, line)
		}
		if got, ok := unescapeLabel(inner); !ok || got != v {
			t.Errorf("label value %q written as %q, reads back %q (%v)", v, inner, got, ok)
		}
	})
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 0.25: "0.25", 1e21: "1e+21", math.Inf(1): "+Inf", math.Inf(-1): "-Inf"} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatValue(math.NaN()); got != "NaN" {
		t.Errorf("formatValue(NaN) = %q", got)
	}
}

// A histogram's buckets are cumulative when written, and +Inf counts all.
func TestHistogramText(t *testing.T) {
	h := newHistogram(0.1, 1)
	for _, v := range []float64{0.05, 0.5, 0.5, 7} {
		h.observe(v)
	}
	var out strings.Builder
	w := bufio.NewWriter(&out)
	(&expo{w: w}).histogram("x_seconds", "X.", h.clone())
	w.Flush()
	want := "# HELP x_seconds X.\n# TYPE x_seconds histogram\n" +
		"x_seconds_bucket{le=\"0.1\"} 1\nx_seconds_bucket{le=\"1\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n" +
		"x_seconds_sum 8.05\nx_seconds_count 4\n"
	if out.String() != want {
		t.Errorf("histogram text:\n%s\nwant:\n%s", out.String(), want)
	}
}
