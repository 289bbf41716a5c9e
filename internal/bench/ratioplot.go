package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
)

// The ratio plot's layout, in SVG user units (pixels).
const (
	ratioW      = 900
	ratioLeft   = 20
	ratioRight  = 40
	ratioTop    = 70
	ratioRowH   = 56
	ratioBottom = 40
)

// PlotRatios draws the ratio rows (AddRatio) as an SVG: a bar per row,
// its length the ratio of bproc's median to its floor's or peer's, with
// the line where the two are equal (1) and the row's goal marked. It
// writes nothing and returns false when there are no ratio rows. SVG,
// written here as text: nothing to install, and it reads in a browser
// and in the README.
func (r *Report) PlotRatios(path string) (bool, error) {
	r.mu.Lock()
	rows := r.ratioRows()
	machine := r.Machine.String()
	r.mu.Unlock()
	if len(rows) == 0 {
		return false, nil
	}
	top := 1.0
	for _, row := range rows {
		for _, v := range []float64{float64(row.Ratio), row.Goal.Value} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top = max(top, v)
			}
		}
	}
	top = niceCeil(top * 1.1)
	plotW := float64(ratioW - ratioLeft - ratioRight)
	x := func(v float64) float64 { return ratioLeft + plotW*v/top }
	h := ratioTop + ratioRowH*len(rows) + ratioBottom

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		ratioW, h, ratioW, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", ratioW, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="13" font-weight="bold">bproc beside its floor or peer, measured in the same run</text>`+"\n", ratioLeft)
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#555">%s</text>`+"\n", ratioLeft, html.EscapeString(machine))
	fmt.Fprintf(&b, `<text x="%d" y="56" fill="#555">bar: ratio of the medians (1, dashed: as fast as the floor or peer); black tick: the goal; orange: not met</text>`+"\n", ratioLeft)
	for i, row := range rows {
		y := float64(ratioTop + ratioRowH*i)
		label := fmt.Sprintf("%s vs %s", row.What, row.Peer.What)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", ratioLeft, y+12, html.EscapeString(label))
		ratio := float64(row.Ratio)
		if math.IsNaN(ratio) {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#a00">not measured</text>`+"\n", ratioLeft, y+32)
			continue
		}
		fill := "#1f4e9c" // met
		switch row.Verdict {
		case "not met":
			fill = "#d96c1e"
		case "-":
			fill = "#888888" // no goal: shown for what it costs
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="18" fill="%s"/>`+"\n", ratioLeft, y+18, x(ratio)-ratioLeft, fill)
		labelX := x(ratio)
		if row.Goal.Op != "" {
			labelX = max(labelX, x(row.Goal.Value)) // clear of the goal's tick
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s (%s vs %s)</text>`+"\n", labelX+6, y+31,
			html.EscapeString(withUnit(ratio, "x")), html.EscapeString(withUnit(row.Summary.Median, row.Unit)),
			html.EscapeString(withUnit(row.Peer.Summary.Median, row.Unit)))
		if row.Goal.Op != "" {
			gx := x(row.Goal.Value)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black" stroke-width="3"/>`+"\n", gx, gx, y+14, y+40)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">goal %s</text>`+"\n", max(gx, ratioLeft+40), y+50, html.EscapeString(row.Goal.String()))
		}
	}
	one := x(1)
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#888" stroke-dasharray="4 3"/>`+"\n", one, one, ratioTop, h-ratioBottom+6)
	for _, v := range ticks(top) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#555" text-anchor="middle">%sx</text>`+"\n", x(v), h-ratioBottom+22, num(v))
	}
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return false, fmt.Errorf("plot ratios: %w", err)
	}
	return true, nil
}

// ticks are five evenly spaced values from 0 to top.
func ticks(top float64) []float64 {
	out := make([]float64, 0, 6)
	for i := range 6 {
		out = append(out, top*float64(i)/5)
	}
	return out
}
