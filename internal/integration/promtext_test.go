package integration

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// scrape is a /metrics page parsed strictly as Prometheus's text format
// (0.0.4): samples by their series, "name{k="v",...}" with the labels
// sorted, and each family's type.
type scrape struct {
	samples map[string]float64
	types   map[string]string
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseExposition parses text as the format's grammar says, and more
// strictly than Prometheus does where the format says "should": each
// family's TYPE comes before its samples and once, a family's samples
// are together, no series twice, histograms complete and cumulative.
func parseExposition(text string) (*scrape, error) {
	s := &scrape{samples: map[string]float64{}, types: map[string]string{}}
	if text == "" || !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("empty, or no newline at the end")
	}
	helped := map[string]bool{}
	done := map[string]bool{} // families whose samples ended
	current := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(f string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(f, a...))
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a comment
			}
			name := f[2]
			if !metricName.MatchString(name) {
				return nil, fail("bad metric name")
			}
			if done[name] || (current != "" && current != name && s.types[name] != "") {
				return nil, fail("family %s given again", name)
			}
			switch f[1] {
			case "HELP":
				if helped[name] || len(f) < 4 {
					return nil, fail("HELP twice or empty")
				}
				helped[name] = true
			case "TYPE":
				if s.types[name] != "" || len(f) != 4 {
					return nil, fail("TYPE twice or malformed")
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					return nil, fail("unknown type %q", f[3])
				}
				s.types[name] = f[3]
			}
			if current != "" && current != name {
				done[current] = true
			}
			current = name
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		family := name
		if s.types[family] == "" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && s.types[base] == "histogram" {
					family = base
				}
			}
		}
		if s.types[family] == "" {
			return nil, fail("sample before its family's TYPE")
		}
		if family != current {
			return nil, fail("sample of %s inside family %s", family, current)
		}
		if _, ok := labels["le"]; ok != (name == family+"_bucket" && s.types[family] == "histogram") {
			return nil, fail("le label where it does not belong, or a bucket without it")
		}
		key := seriesKey(name, labels)
		if _, dup := s.samples[key]; dup {
			return nil, fail("series given twice")
		}
		s.samples[key] = value
	}
	for name, typ := range s.types {
		if typ == "histogram" {
			if err := s.checkHistogram(name); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// parseSample reads name{k="v",...} value [timestamp].
func parseSample(line string) (string, map[string]string, float64, error) {
	labels := map[string]string{}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", nil, 0, fmt.Errorf("no value")
	}
	name, rest := line[:end], line[end:]
	if !metricName.MatchString(name) {
		return "", nil, 0, fmt.Errorf("bad metric name %q", name)
	}
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 || !labelName.MatchString(rest[:eq]) {
				return "", nil, 0, fmt.Errorf("bad label")
			}
			k := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				switch c := rest[j]; c {
				case '\\':
					if j+1 >= len(rest) {
						return "", nil, 0, fmt.Errorf("escape at the end")
					}
					j++
					switch rest[j] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return "", nil, 0, fmt.Errorf("bad escape \\%c", rest[j])
					}
				case '"':
					rest, closed = rest[j+1:], true
				case '\n':
					return "", nil, 0, fmt.Errorf("raw newline in a label value")
				default:
					v.WriteByte(c)
				}
				if closed {
					break
				}
			}
			if !closed {
				return "", nil, 0, fmt.Errorf("unterminated label value")
			}
			if _, dup := labels[k]; dup {
				return "", nil, 0, fmt.Errorf("label %s twice", k)
			}
			labels[k] = v.String()
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return "", nil, 0, fmt.Errorf("want , or } after a label")
			}
		}
	}
	f := strings.Split(rest, " ")
	if len(f) < 2 || len(f) > 3 || f[0] != "" {
		return "", nil, 0, fmt.Errorf("want one space, a value and at most a timestamp")
	}
	v, err := parseValue(f[1])
	if err != nil {
		return "", nil, 0, err
	}
	if len(f) == 3 {
		if _, err := strconv.ParseInt(f[2], 10, 64); err != nil {
			return "", nil, 0, fmt.Errorf("bad timestamp %q", f[2])
		}
	}
	return name, labels, v, nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "_xXpP") || strings.EqualFold(s, "inf") {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return v, nil
}

func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	if len(keys) > 0 {
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", k, labels[k])
		}
		b.WriteByte('}')
	}
	return b.String()
}

// checkHistogram: buckets ascending by le and cumulative, +Inf among them
// equal to _count, and _sum there (for the series without labels other
// than le, which is what the master writes).
func (s *scrape) checkHistogram(name string) error {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range s.samples {
		if rest, ok := strings.CutPrefix(k, name+`_bucket{le="`); ok {
			le, err := parseValue(strings.TrimSuffix(rest, `"}`))
			if err != nil {
				return fmt.Errorf("%s: bucket %s: %v", name, k, err)
			}
			bs = append(bs, bucket{le, v})
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	count, okc := s.samples[name+"_count"]
	_, oks := s.samples[name+"_sum"]
	if len(bs) == 0 || !okc || !oks || !math.IsInf(bs[len(bs)-1].le, 1) || bs[len(bs)-1].n != count {
		return fmt.Errorf("%s: buckets %v, count %v (%v), sum there %v: want +Inf's bucket equal to the count", name, bs, count, okc, oks)
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].n < bs[i-1].n {
			return fmt.Errorf("%s: buckets not cumulative: %v", name, bs)
		}
	}
	return nil
}

// get is one series' value, or -1 when it is absent.
func (s *scrape) get(series string) float64 {
	if v, ok := s.samples[series]; ok {
		return v
	}
	return -1
}

// TestParseExposition: the checker refuses what the format does not allow,
// so that the master's page passing it means something.
func TestParseExposition(t *testing.T) {
	good := "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n" +
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"
	s, err := parseExposition(good)
	if err != nil {
		t.Fatal(err)
	}
	if v := s.get(`a_total{x="q\"\\\n"}`); v != 1 {
		t.Errorf("a_total = %v, want 1 (escapes undone)", v)
	}
	for _, bad := range []string{
		"a 1\n",               // no TYPE
		"# TYPE a gauge\na 1", // no final newline
		"# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",               // a series twice
		"# TYPE a gauge\na{x=\"\\t\"} 1\n",                           // a bad escape
		"# TYPE a gauge\na{x=1} 1\n",                                 // unquoted
		"# TYPE a gauge\na  1\n",                                     // two spaces
		"# TYPE a gauge\na one\n",                                    // not a number
		"# TYPE a gauge\n# TYPE b gauge\na 1\n",                      // a sample outside its family
		"# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n", // a family again
		"# TYPE a wobbly\na 1\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // not cumulative
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",                          // no +Inf
	} {
		if _, err := parseExposition(bad); err == nil {
			t.Errorf("parseExposition(%q) = nil error", bad)
		}
	}
}
