package master

import (
	"bufio"
	"math"
	"strconv"
	"strings"
)

// expo writes the Prometheus text exposition format (version 0.0.4):
// "# HELP" and "# TYPE" lines, then a line per sample. It is written by
// hand: client_golang would add 2.9 MB to the binary and 4.7 ms of
// package initialisation to every applet's start (see metrics.go).
type expo struct {
	w *bufio.Writer
}

// family opens a metric family; its samples follow.
func (e *expo) family(name, typ, help string) {
	e.w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	e.w.WriteString("# TYPE " + name + " " + typ + "\n")
}

// sample writes name{k1="v1",...} v; labels are name, value pairs.
func (e *expo) sample(name string, v float64, labels ...string) {
	e.w.WriteString(name)
	if len(labels) > 0 {
		e.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.w.WriteByte(',')
			}
			e.w.WriteString(labels[i] + `="` + escapeLabel(labels[i+1]) + `"`)
		}
		e.w.WriteByte('}')
	}
	e.w.WriteByte(' ')
	e.w.WriteString(formatValue(v))
	e.w.WriteByte('\n')
}

// histogram writes h as its cumulative buckets, sum and count.
func (e *expo) histogram(name, help string, h histogram) {
	e.family(name, "histogram", help)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		e.sample(name+"_bucket", float64(cum), "le", formatValue(b))
	}
	e.sample(name+"_bucket", float64(h.count), "le", "+Inf")
	e.sample(name+"_sum", h.sum)
	e.sample(name+"_count", float64(h.count))
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeLabel escapes a label value as the format wants: backslash,
// double quote and newline. (Reasons hold no control characters, but a
// node's address or a future label might.)
func escapeLabel(s string) string { return escape(s, true) }

// escapeHelp escapes HELP text: backslash and newline.
func escapeHelp(s string) string { return escape(s, false) }

// escape is written out, not a strings.Replacer made by a package-level
// initialiser, which every run of the binary (bpsh's too) would pay for.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// histogram counts observations in buckets of upper bounds (exclusive of
// the implicit +Inf); the zero value is unusable, see newHistogram.
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

func newHistogram(bounds ...float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
			return
		}
	}
}

// clone is a copy to write without the lock.
func (h histogram) clone() histogram {
	h.counts = append([]uint64(nil), h.counts...)
	return h
}
