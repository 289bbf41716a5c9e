package bench

import (
	"encoding/json"
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name               string
		in                 []float64
		median, p10, p90   float64
		mean, lowest, most float64
	}{
		{"one", []float64{7}, 7, 7, 7, 7, 7, 7},
		{"even count: mean of the middle two", []float64{4, 1, 3, 2}, 2.5, 1.3, 3.7, 2.5, 1, 4},
		{"eleven: exact ranks", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 5, 1, 9, 5, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.in)
			got := []float64{s.Median, s.P10, s.P90, s.Mean, s.Min, s.Max}
			want := []float64{tt.median, tt.p10, tt.p90, tt.mean, tt.lowest, tt.most}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-9 {
					t.Fatalf("Summarize(%v) = %+v, want median %v p10 %v p90 %v mean %v min %v max %v",
						tt.in, s, tt.median, tt.p10, tt.p90, tt.mean, tt.lowest, tt.most)
				}
			}
			if s.N != len(tt.in) {
				t.Errorf("Summarize(%v).N = %d, want %d", tt.in, s.N, len(tt.in))
			}
		})
	}
	if s := Summarize(nil); !math.IsNaN(s.Median) || s.N != 0 {
		t.Errorf("Summarize(nil) = %+v, want NaNs and N 0", s)
	}
}

func TestGoal(t *testing.T) {
	tests := []struct {
		goal Goal
		v    float64
		want string
	}{
		{AtMost(2, "ms"), 1.9, "met"},
		{AtMost(2, "ms"), 2, "met"},
		{AtMost(2, "ms"), 2.1, "not met"},
		{AtLeast(20, "x"), 25, "met"},
		{AtLeast(20, "x"), 19.9, "not met"},
		{AtMost(64, "kB"), math.NaN(), "not met"},
		{Goal{}, 3, "-"},
	}
	for _, tt := range tests {
		if got := tt.goal.Verdict(tt.v); got != tt.want {
			t.Errorf("%s.Verdict(%v) = %q, want %q", tt.goal, tt.v, got, tt.want)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	for _, tc := range []struct {
		samples []float64
		want    string
	}{
		{nil, `{"n":0,"median":null,"p10":null,"p90":null,"mean":null,"min":null,"max":null}`},
		{[]float64{2}, `{"n":1,"median":2,"p10":2,"p90":2,"mean":2,"min":2,"max":2}`},
	} {
		b, err := json.Marshal(Summarize(tc.samples))
		if string(b) != tc.want || err != nil {
			t.Errorf("json.Marshal(Summarize(%v)) = %s, %v; want %s", tc.samples, b, err, tc.want)
		}
	}
}
