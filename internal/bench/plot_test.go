package bench

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestPlot draws a report's series and reads the PNG back: its size, and
// the tallest bar's colour where that bar stands.
func TestPlot(t *testing.T) {
	var r Report
	r.Add("no series", "s", []float64{9}, Goal{})
	for _, n := range []float64{8, 256} {
		r.AddPoint("a", "s", []float64{n / 256}, Goal{}, "true on N nodes: bpsh", n)
		r.AddPoint("b", "s", []float64{n / 128}, Goal{}, "true on N nodes: pdsh", n)
	}
	path := filepath.Join(t.TempDir(), "r.png")
	ok, err := r.Plot(path)
	if !ok || err != nil {
		t.Fatalf("Plot = %v, %v; want true, nil", ok, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Errorf("plot is %v, want %dx%d", b, plotW, plotH)
	}
	// pdsh at 256 (2 s) is the tallest bar: just above the x axis, in the
	// second group's second bar, its colour.
	group := float64(plotW-marginR-marginL) / 2
	bar := int(group * 0.8 / 2)
	x := marginL + int(group+group*0.1) + bar + bar/2
	cr, cg, cb, _ := img.At(x, plotH-mB-5).RGBA()
	want := seriesColors[1]
	if uint8(cr>>8) != want.R || uint8(cg>>8) != want.G || uint8(cb>>8) != want.B {
		t.Errorf("colour at the tallest bar = %x %x %x, want %v", cr>>8, cg>>8, cb>>8, want)
	}

	var empty Report
	empty.Add("no series", "s", []float64{1}, Goal{})
	if ok, err := empty.Plot(filepath.Join(t.TempDir(), "none.png")); ok || err != nil {
		t.Errorf("Plot of no series = %v, %v; want false, nil", ok, err)
	}
}
