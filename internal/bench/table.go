package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"
)

// Goal is the bound a row is held to; the zero Goal is none (a row shown
// for comparison, such as the floor).
type Goal struct {
	Op    string  `json:"op,omitempty"` // "<=" or ">="
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
}

// AtMost is the goal of a cost: a time, a size.
func AtMost(v float64, unit string) Goal { return Goal{Op: "<=", Value: v, Unit: unit} }

// AtLeast is the goal of a gain: a speed-up.
func AtLeast(v float64, unit string) Goal { return Goal{Op: ">=", Value: v, Unit: unit} }

func (g Goal) String() string {
	switch g.Op {
	case "<=":
		return "<= " + num(g.Value) + " " + g.Unit
	case ">=":
		return ">= " + num(g.Value) + " " + g.Unit
	}
	return "-"
}

// Verdict judges v, a row's median. A NaN (nothing measured) never meets
// a goal.
func (g Goal) Verdict(v float64) string {
	switch {
	case g.Op == "":
		return "-"
	case math.IsNaN(v):
		return "not met"
	case g.Op == "<=" && v <= g.Value, g.Op == ">=" && v >= g.Value:
		return "met"
	}
	return "not met"
}

// Row is one line of the table: a thing measured, in Unit, and its goal.
type Row struct {
	What    string  `json:"what"`
	Unit    string  `json:"unit"`
	Summary Summary `json:"summary"`
	Goal    Goal    `json:"goal"`
	Verdict string  `json:"verdict"`

	// Series and X place the row in the run's plot: one line of bars
	// per series, X its position (the node count).
	Series string  `json:"series,omitempty"`
	X      float64 `json:"x,omitempty"`

	// Peer and Ratio make it a ratio row (AddRatio): the goal judges
	// Ratio, its median over the peer's, not the median itself.
	Peer  *Peer  `json:"peer,omitempty"`
	Ratio Figure `json:"ratio,omitempty"`
}

// Report is one `make bench`: the machine, the rows in the order the
// benchmarks added them, and notes on what could not be measured.
type Report struct {
	Name    string    `json:"name"`
	Time    time.Time `json:"time"`
	Commit  string    `json:"commit,omitempty"` // git describe --always --dirty
	Machine Machine   `json:"machine"`
	Rows    []Row     `json:"rows"`
	Notes   []string  `json:"notes,omitempty"`

	mu sync.Mutex // guards Rows and Notes while benchmarks add to them
}

// Add puts a row in the report, in place of an earlier one of the same
// name, so that -benchtime 3x (which calls a benchmark again) leaves the
// last measurement rather than three rows.
func (r *Report) Add(what, unit string, samples []float64, goal Goal) Row {
	return r.AddPoint(what, unit, samples, goal, "", 0)
}

// AddPoint is Add for a row that is also a bar of the plot: series at x.
func (r *Report) AddPoint(what, unit string, samples []float64, goal Goal, series string, x float64) Row {
	s := Summarize(samples)
	row := Row{What: what, Unit: unit, Summary: s, Goal: goal, Verdict: goal.Verdict(s.Median), Series: series, X: x}
	return r.put(row)
}

// Note records why something is missing from the table.
func (r *Report) Note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Empty says no benchmark added anything: `go test ./...` compiled the
// package and ran its unit tests only.
func (r *Report) Empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.Rows) == 0 && len(r.Notes) == 0
}

// Print writes the table, the machine line and the notes.
func (r *Report) Print(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tmedian\tp10\tp90\tgoal\tverdict\t")
	for _, row := range r.Rows {
		if row.Peer != nil {
			continue // in the ratio table below
		}
		s := row.Summary
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.What,
			withUnit(s.Median, row.Unit), withUnit(s.P10, row.Unit), withUnit(s.P90, row.Unit),
			row.Goal, row.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.printRatios(w); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "machine: %s\n", r.Machine); err != nil {
		return err
	}
	if r.Commit != "" {
		if _, err := fmt.Fprintf(w, "commit: %s\n", r.Commit); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

// Save writes the report to dir/NAME.json, making dir if need be, and
// returns the file's path.
func (r *Report) Save(dir string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("save report: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // goals read "<=", not "\u003c="
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return "", fmt.Errorf("save report %s: %w", r.Name, err)
	}
	path := filepath.Join(dir, r.Name+".json")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("save report: %w", err)
	}
	return path, nil
}

// withUnit shows a value to three significant figures or so: enough to
// compare runs, not so many that noise reads as signal.
func withUnit(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	if unit == "" {
		return num(v)
	}
	return num(v) + " " + unit
}

func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// put adds row to the report, in place of an earlier row of the same
// name (a row measured again).
func (r *Report) put(row Row) Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Rows {
		if r.Rows[i].What == row.What {
			r.Rows[i] = row
			return row
		}
	}
	r.Rows = append(r.Rows, row)
	return row
}
