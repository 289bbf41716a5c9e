package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// Peer is what a ratio row is measured against, in the same run: the
// floor (what the machine does with no bproc at all) or the peer a user
// would otherwise use (ssh).
type Peer struct {
	What    string  `json:"what"`
	Summary Summary `json:"summary"`
}

// AddRatio adds a row held to its peer: bproc's samples and the peer's,
// measured in one run, and the ratio of their medians (above 1: bproc
// takes longer), which is what the goal judges. Ratios hold across
// machines where absolute times do not.
func (r *Report) AddRatio(what, unit string, samples []float64, peer string, peerSamples []float64, goal Goal) Row {
	s, ps := Summarize(samples), Summarize(peerSamples)
	ratio := math.NaN()
	if ps.Median > 0 {
		ratio = s.Median / ps.Median
	}
	row := Row{What: what, Unit: unit, Summary: s, Goal: goal, Verdict: goal.Verdict(ratio),
		Peer: &Peer{What: peer, Summary: ps}, Ratio: Figure(ratio)}
	return r.put(row)
}

// ratioRows are the rows that have a peer, in order. The caller holds mu.
func (r *Report) ratioRows() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Peer != nil {
			out = append(out, row)
		}
	}
	return out
}

// printRatios writes the table of rows held to a peer: each beside its
// floor or peer, with the ratio and its goal. The caller holds mu.
func (r *Report) printRatios(w io.Writer) error {
	rows := r.ratioRows()
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bproc\tmedian\tfloor or peer, same run\tmedian\tratio\tgoal\tverdict\t")
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.What, withUnit(row.Summary.Median, row.Unit),
			row.Peer.What, withUnit(row.Peer.Summary.Median, row.Unit), withUnit(float64(row.Ratio), "x"), row.Goal, row.Verdict)
	}
	return tw.Flush()
}

// Figure is a number of the report that may be missing (NaN), which
// encoding/json refuses: it is written as null.
type Figure float64

func (f Figure) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}
