package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The plot's size and margins, in pixels.
const (
	plotW, plotH                  = 900, 420
	marginL, marginR, marginT, mB = 70, 20, 50, 50
)

// seriesColors are told apart also in grey: dark, middle, light.
var seriesColors = []color.RGBA{{0x1f, 0x4e, 0x9c, 0xff}, {0xd9, 0x6c, 0x1e, 0xff}, {0x9a, 0xc8, 0x6a, 0xff}, {0x88, 0x88, 0x88, 0xff}}

// Plot draws the rows that have a series as grouped bars, one group per
// X, the median's height, and writes a PNG to path. The series are named
// "TITLE: NAME", all with the same TITLE. It writes nothing and returns
// false when no row has a series.
func (r *Report) Plot(path string) (bool, error) {
	r.mu.Lock()
	var rows []Row
	for _, row := range r.Rows {
		if row.Series != "" && !math.IsNaN(row.Summary.Median) {
			rows = append(rows, row)
		}
	}
	r.mu.Unlock()
	if len(rows) == 0 {
		return false, nil
	}
	var series []string
	var xs []float64
	top := 0.0
	for _, row := range rows {
		if !slices.Contains(series, row.Series) {
			series = append(series, row.Series)
		}
		if !slices.Contains(xs, row.X) {
			xs = append(xs, row.X)
		}
		top = max(top, row.Summary.Median)
	}
	slices.Sort(xs)
	title, _, _ := strings.Cut(series[0], ": ")
	unit := rows[0].Unit

	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	ink := image.NewUniform(color.Black)
	text := func(x, y int, s string) {
		d := font.Drawer{Dst: img, Src: ink, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	textWidth := func(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }
	fill := func(x0, y0, x1, y1 int, c color.Color) {
		draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
	}

	x0, x1, y0, y1 := marginL, plotW-marginR, plotH-mB, marginT
	scale := float64(y0-y1) / (top * 1.1)
	// Axes and a few grid lines with their values.
	fill(x0, y1, x0+1, y0+1, color.Black)
	fill(x0, y0, x1, y0+1, color.Black)
	step := niceCeil(top * 1.1 / 5)
	for v := step; v <= top*1.1; v += step {
		y := y0 - int(v*scale)
		fill(x0+1, y, x1, y+1, color.Gray{0xdd})
		label := fmt.Sprintf("%g %s", math.Round(v*1000)/1000, unit)
		text(x0-6-textWidth(label), y+4, label)
	}
	text(x0, 20, title)

	group := float64(x1-x0) / float64(len(xs))
	bar := int(group * 0.8 / float64(len(series)))
	for gi, x := range xs {
		left := x0 + int(float64(gi)*group+group*0.1)
		label := fmt.Sprintf("%g", x)
		text(left+(bar*len(series)-textWidth(label))/2, y0+18, label)
		for si, name := range series {
			for _, row := range rows {
				if row.Series != name || row.X != x {
					continue
				}
				h := int(row.Summary.Median * scale)
				bx := left + si*bar
				fill(bx, y0-h, bx+bar-2, y0, seriesColors[si%len(seriesColors)])
				v := withUnit(row.Summary.Median, row.Unit)
				if textWidth(v) <= bar+8 {
					text(bx+(bar-2-textWidth(v))/2, y0-h-4, v)
				}
			}
		}
	}
	text(x0+(x1-x0)/2-20, plotH-12, "nodes")
	// The legend, on the title's line, right-aligned: above every bar.
	lx := x1
	for si := len(series) - 1; si >= 0; si-- {
		_, short, _ := strings.Cut(series[si], ": ")
		lx -= textWidth(short) + 36
		fill(lx, 11, lx+12, 21, seriesColors[si%len(seriesColors)])
		text(lx+18, 20, short)
	}

	f, err := os.Create(path)
	if err != nil {
		return false, fmt.Errorf("plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return false, fmt.Errorf("plot %s: %w", path, err)
	}
	return true, f.Close()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten: a plot's
// top and its grid step.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
