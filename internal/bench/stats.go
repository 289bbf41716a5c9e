package bench

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// Summary is what the report keeps of a set of samples. Medians and
// percentiles rather than means: a fork+exec benchmark has a long tail (a
// page-cache miss, the other core busy with the previous run's exit) that
// would drag a mean around from run to run.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P10    float64 `json:"p10"`
	P90    float64 `json:"p90"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize sums up samples; an empty set gives NaNs, not zeros, so that
// it cannot pass for a measurement.
func Summarize(samples []float64) Summary {
	if len(samples) == 0 {
		nan := math.NaN()
		return Summary{Median: nan, P10: nan, P90: nan, Mean: nan, Min: nan, Max: nan}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return Summary{
		N:      len(s),
		Median: quantile(s, 0.5),
		P10:    quantile(s, 0.1),
		P90:    quantile(s, 0.9),
		Mean:   sum / float64(len(s)),
		Min:    s[0],
		Max:    s[len(s)-1],
	}
}

// quantile interpolates linearly between the two nearest ranks of sorted
// (R's type 7, numpy's default), so that the median of an even count is
// the mean of the middle two, as people expect.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// Millis turns durations into the unit the startup rows are read in.
func Millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// MarshalJSON writes a figure that was not measured (NaN, which
// encoding/json refuses) as null, so that a report with a failed row is
// still saved.
func (s Summary) MarshalJSON() ([]byte, error) {
	num := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		N      int      `json:"n"`
		Median *float64 `json:"median"`
		P10    *float64 `json:"p10"`
		P90    *float64 `json:"p90"`
		Mean   *float64 `json:"mean"`
		Min    *float64 `json:"min"`
		Max    *float64 `json:"max"`
	}{s.N, num(s.Median), num(s.P10), num(s.P90), num(s.Mean), num(s.Min), num(s.Max)})
}
