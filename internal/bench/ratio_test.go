package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A ratio row is judged by its ratio, printed beside its peer, saved with
// both, and drawn; one whose peer was not measured says so everywhere.
func TestRatioRows(t *testing.T) {
	r := &Report{Name: "t"}
	r.Add("plain row", "ms", []float64{1, 2, 3}, Goal{})
	fast := r.AddRatio("bpsh 0 true", "ms", []float64{5, 6, 7}, "ssh 127.0.0.1 true", []float64{10, 12, 14}, AtMost(0.6, "x"))
	slow := r.AddRatio("bpsh -a true, 4 nodes", "s", []float64{3, 3}, "4 /bin/true at once", []float64{1, 1}, AtMost(2, "x"))
	lost := r.AddRatio("cold <run> & co", "s", []float64{1}, "warm", nil, AtMost(2, "x"))
	if fast.Ratio != 0.5 || fast.Verdict != "met" {
		t.Errorf("fast: ratio %v, verdict %q; want 0.5, met", fast.Ratio, fast.Verdict)
	}
	if slow.Ratio != 3 || slow.Verdict != "not met" {
		t.Errorf("slow: ratio %v, verdict %q; want 3, not met", slow.Ratio, slow.Verdict)
	}
	if !math.IsNaN(float64(lost.Ratio)) || lost.Verdict != "not met" {
		t.Errorf("lost: ratio %v, verdict %q; want NaN, not met", lost.Ratio, lost.Verdict)
	}

	var out bytes.Buffer
	if err := r.Print(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"floor or peer, same run", "ssh 127.0.0.1 true", "0.500 x", "<= 0.600 x", "3 x", "not met"} {
		if !strings.Contains(text, want) {
			t.Errorf("printed table lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "bpsh 0 true") != 1 {
		t.Errorf("a ratio row should be printed once, in the ratio table:\n%s", text)
	}

	dir := t.TempDir()
	path, err := r.Save(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Rows []struct {
			What  string   `json:"what"`
			Ratio *float64 `json:"ratio"`
			Peer  *struct {
				What string `json:"what"`
			} `json:"peer"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("saved report does not read back: %v", err)
	}
	if len(back.Rows) != 4 || back.Rows[1].Ratio == nil || *back.Rows[1].Ratio != 0.5 || back.Rows[1].Peer.What != "ssh 127.0.0.1 true" || back.Rows[3].Ratio != nil {
		t.Errorf("saved rows: %s", b)
	}

	svg := filepath.Join(dir, "r.svg")
	if ok, err := r.PlotRatios(svg); err != nil || !ok {
		t.Fatalf("PlotRatios = %v, %v", ok, err)
	}
	b, err = os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("plot is not well-formed XML: %v\n%s", err, b)
		}
	}
	for _, want := range []string{"bpsh 0 true vs ssh 127.0.0.1 true", "cold &lt;run&gt; &amp; co", "not measured", "goal &lt;= 0.600 x"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("plot lacks %q", want)
		}
	}

	empty := &Report{}
	if ok, err := empty.PlotRatios(filepath.Join(dir, "none.svg")); ok || err != nil {
		t.Errorf("PlotRatios with no ratio rows = %v, %v; want false, nil", ok, err)
	}
}

// A row measured again takes the place of the first, plain or ratio,
// and the others keep their order.
func TestRowAgain(t *testing.T) {
	r := &Report{Name: "t"}
	r.Add("a", "ms", []float64{1}, Goal{})
	r.AddRatio("b", "ms", []float64{1}, "peer", []float64{2}, AtMost(1, "x"))
	r.Add("c", "ms", []float64{1}, Goal{})
	r.Add("a", "ms", []float64{7}, Goal{})
	r.AddRatio("b", "ms", []float64{4}, "peer", []float64{2}, AtMost(1, "x"))
	var got []string
	for _, row := range r.Rows {
		got = append(got, row.What)
	}
	if strings.Join(got, " ") != "a b c" || r.Rows[0].Summary.Median != 7 || r.Rows[1].Ratio != 2 {
		t.Errorf("rows %v (a's median %v, b's ratio %v), want a b c, 7, 2", got, r.Rows[0].Summary.Median, r.Rows[1].Ratio)
	}
}
