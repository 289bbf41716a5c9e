#!/usr/bin/env python3
"""Draws the panels of bproc-dashboard.json as an SVG from scrapes of a
real cluster (collect.py), for the README: Grafana itself is not
installed where bproc is built. Each panel's PromQL is evaluated here for
the forms the dashboard uses (a selector, rate, sum, sum by,
histogram_quantile, * N), over the scrapes, with $__rate_interval as 1m.

    python3 docs/grafana/render.py docs/grafana/bproc-dashboard.json scrapes.txt.gz docs/grafana/dashboard.svg

Standard library only.
"""
import gzip
import html
import json
import math
import re
import sys
import time

PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a"]
STATE_COLORS = {"up": "#73bf69", "boot": "#8ab8ff", "down": "#f2495c", "error": "#ff780a", "unavailable": "#f2cc0c"}

# --- the scrapes -----------------------------------------------------------

LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(s):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def parse_page(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            raise ValueError("not a sample: %r" % line)
        labels = frozenset((k, unescape(v)) for k, v in LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def load_scrapes(path):
    text = gzip.open(path, "rt").read()
    scrapes = []
    for chunk in text.split("# scrape ")[1:]:
        head, _, body = chunk.partition("\n")
        scrapes.append((float(head), parse_page(body)))
    return scrapes

# --- PromQL, the forms the dashboard uses ----------------------------------


def split_args(s):
    depth, cur, out = 0, "", []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    out.append(cur.strip())
    return out


def evaluate(expr, scrapes, i):
    """The instant vector of expr at scrape i: {labels: value}."""
    expr = expr.strip().replace("$__rate_interval", "1m")
    m = re.match(r'^(.*\S)\s*\*\s*([0-9.]+)$', expr)
    if m:
        return {k: v * float(m.group(2)) for k, v in evaluate(m.group(1), scrapes, i).items()}
    m = re.match(r'^sum\s+by\s*\(([^)]*)\)\s*\((.*)\)$', expr)
    if m:
        by = [x.strip() for x in m.group(1).split(",")]
        out = {}
        for labels, v in evaluate(m.group(2), scrapes, i).items():
            key = frozenset((k, val) for k, val in labels if k in by)
            out[key] = out.get(key, 0) + v
        return out
    m = re.match(r'^sum\((.*)\)$', expr)
    if m:
        vals = evaluate(m.group(1), scrapes, i).values()
        return {frozenset(): sum(vals)} if vals else {}
    m = re.match(r'^rate\((.*)\[(\d+)([smh])\]\)$', expr)
    if m:
        t_now, span = scrapes[i][0], int(m.group(2)) * {"s": 1, "m": 60, "h": 3600}[m.group(3)]
        window = [(t, select(m.group(1), page)) for t, page in scrapes[:i + 1] if t > t_now - span]
        out = {}
        if len(window) < 2:
            return out
        (t0, first), (t1, last) = window[0], window[-1]
        for labels, v in last.items():
            if labels in first:
                out[labels] = max(0.0, v - first[labels]) / (t1 - t0)
        return out
    m = re.match(r'^histogram_quantile\((.*)\)$', expr)
    if m:
        qs, inner = split_args(m.group(1))
        return quantile(float(qs), evaluate(inner, scrapes, i))
    return select(expr, scrapes[i][1])


def select(sel, page):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$', sel.strip())
    if not m:
        raise ValueError("cannot evaluate %r" % sel)
    want = set((k, unescape(v)) for k, v in LABEL.findall(m.group(2) or ""))
    return {labels: v for (name, labels), v in page.items() if name == m.group(1) and want <= labels}


def quantile(q, buckets):
    """Prometheus's histogram_quantile over buckets grouped by their other labels."""
    groups = {}
    for labels, v in buckets.items():
        d = dict(labels)
        le = float(d.pop("le"))
        groups.setdefault(frozenset(d.items()), []).append((le, v))
    out = {}
    for key, bs in groups.items():
        bs.sort()
        total = bs[-1][1]
        if total <= 0:
            out[key] = float("nan")
            continue
        rank, lo, prev = q * total, 0.0, 0.0
        for le, count in bs:
            if count >= rank:
                if math.isinf(le):
                    out[key] = lo
                elif count == prev:
                    out[key] = le
                else:
                    out[key] = lo + (le - lo) * (rank - prev) / (count - prev)
                break
            lo, prev = le, count
    return out

# --- drawing ---------------------------------------------------------------

W, COL, ROW, PAD = 1200, 50, 26, 4


def fmt(v, unit):
    if v is None or math.isnan(v):
        return "-"
    if unit == "s":
        return "%.0f ms" % (v * 1000) if v < 1 else "%.2f s" % v
    if unit in ("bytes", "Bps"):
        suffix = "/s" if unit == "Bps" else ""
        for u in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(v) < 1024:
                return ("%.0f %s%s" if u == "B" else "%.1f %s%s") % (v, u, suffix)
            v /= 1024
    if unit == "ops":
        return "%.2g/s" % v if v else "0/s"
    return ("%d" % v) if v == int(v) else "%.2f" % v


def nice_max(v):
    if v <= 0 or math.isnan(v):
        return 1
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def legend_name(fmt_, labels):
    d = dict(labels)
    return re.sub(r'\{\{\s*(\w+)\s*\}\}', lambda m: d.get(m.group(1), ""), fmt_) or ",".join("%s=%s" % kv for kv in sorted(d.items()))


def series_of(panel, scrapes):
    """[(name, [value or nan per scrape])] of the panel's targets."""
    out = {}
    order = []
    for t in panel["targets"]:
        for i in range(len(scrapes)):
            for labels, v in evaluate(t["expr"], scrapes, i).items():
                name = legend_name(t.get("legendFormat", ""), labels)
                if name not in out:
                    out[name] = [float("nan")] * len(scrapes)
                    order.append(name)
                out[name][i] = v
    return [(n, out[n]) for n in sorted(order, key=natural)]


def natural(s):
    return [int(x) if x.isdigit() else x for x in re.split(r'(\d+)', s)]


def draw_timeseries(svg, panel, scrapes, x, y, w, h):
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    stack = panel["fieldConfig"]["defaults"].get("custom", {}).get("stacking", {}).get("mode") == "normal"
    series = series_of(panel, scrapes)
    names = [n for n, _ in series]
    legend_rows = max(1, math.ceil(sum(len(n) * 6.5 + 28 for n in names) / (w - 20)))
    px, py, pw, ph = x + 58, y + 30, w - 70, h - 52 - 14 * legend_rows
    ts = [t for t, _ in scrapes]
    t0, t1 = ts[0], ts[-1]
    if stack:
        acc = [0.0] * len(ts)
        stacked = []
        for n, vals in series:
            top = [a + (0 if math.isnan(v) else v) for a, v in zip(acc, vals)]
            stacked.append((n, acc, top))
            acc = top
        vmax = max(acc) if acc else 1
    else:
        vmax = max([v for _, vals in series for v in vals if not math.isnan(v)] or [1])
    top = nice_max(vmax * 1.05)
    X = lambda t: px + pw * (t - t0) / (t1 - t0)
    Y = lambda v: py + ph - ph * v / top
    for k in range(5):
        v = top * k / 4
        svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#2c3235"/>' % (px, Y(v), px + pw, Y(v)))
        svg.append('<text x="%.1f" y="%.1f" class="ax" text-anchor="end">%s</text>' % (px - 4, Y(v) + 3, html.escape(fmt(v, unit))))
    minute = math.ceil(t0 / 60) * 60
    while minute <= t1:
        svg.append('<text x="%.1f" y="%.1f" class="ax" text-anchor="middle">%s</text>' % (X(minute), py + ph + 12, time.strftime("%H:%M", time.gmtime(minute))))
        minute += 60
    for k, (n, vals) in enumerate(series):
        color = STATE_COLORS.get(n, PALETTE[k % len(PALETTE)]) if stack or n in STATE_COLORS else PALETTE[k % len(PALETTE)]
        if stack:
            _, lo, hi = stacked[k]
            pts = ["%.1f,%.1f" % (X(t), Y(v)) for t, v in zip(ts, hi)] + ["%.1f,%.1f" % (X(t), Y(v)) for t, v in reversed(list(zip(ts, lo)))]
            svg.append('<polygon points="%s" fill="%s" fill-opacity="0.35" stroke="none"/>' % (" ".join(pts), color))
            vals = hi
        path, pen = [], False
        for t, v in zip(ts, vals):
            if math.isnan(v):
                pen = False
                continue
            path.append(("L" if pen else "M") + "%.1f %.1f" % (X(t), Y(v)))
            pen = True
        if path:
            svg.append('<path d="%s" fill="none" stroke="%s" stroke-width="1.5"/>' % (" ".join(path), color))
        series[k] = (n, color)
    lx, ly = x + 10, py + ph + 28
    for n, color in series:
        width = len(n) * 6.5 + 28
        if lx + width > x + w - 10:
            lx, ly = x + 10, ly + 14
        svg.append('<rect x="%.1f" y="%.1f" width="12" height="3" fill="%s"/>' % (lx, ly - 4, color))
        svg.append('<text x="%.1f" y="%.1f" class="lg">%s</text>' % (lx + 16, ly, html.escape(n)))
        lx += width


def draw_stat(svg, panel, scrapes, x, y, w, h):
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    series = series_of(panel, scrapes)
    vals = series[0][1] if series else [float("nan")]
    last = next((v for v in reversed(vals) if not math.isnan(v)), float("nan"))
    good = [v for v in vals if not math.isnan(v)]
    if good:
        top = nice_max(max(good) * 1.1)
        pts = ["%.1f,%.1f" % (x + w * k / (len(vals) - 1), y + h - 4 - (h - 40) * (0 if math.isnan(v) else v) / top) for k, v in enumerate(vals)]
        svg.append('<polygon points="%.1f,%.1f %s %.1f,%.1f" fill="#73bf69" fill-opacity="0.12"/>' % (x, y + h - 4, " ".join(pts), x + w, y + h - 4))
    color = "#f2495c" if ("down" in panel["title"] or "held" in panel["title"]) and last > 0 else "#73bf69"
    svg.append('<text x="%.1f" y="%.1f" class="big" fill="%s" text-anchor="middle">%s</text>' % (x + w / 2, y + h / 2 + 16, color, html.escape(fmt(last, unit))))


def draw_table(svg, panel, scrapes, x, y, w, h):
    i = len(scrapes) - 1
    held = evaluate(panel["targets"][0]["expr"], scrapes, i)
    since = {dict(l).get("node"): v for l, v in evaluate(panel["targets"][1]["expr"], scrapes, i).items()}
    cols = [("node", 80), ("state", 140), ("reason", 500), ("since", 300)]
    cx, ty = x + 12, y + 48
    for name, cw in cols:
        svg.append('<text x="%.1f" y="%.1f" class="th">%s</text>' % (cx, ty, name.capitalize()))
        cx += cw
    svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#2c3235"/>' % (x + 8, ty + 6, x + w - 8, ty + 6))
    for labels in sorted(held, key=lambda l: natural(dict(l).get("node", ""))):
        d = dict(labels)
        ty += 20
        ms = since.get(d.get("node"))
        row = [d.get("node", ""), d.get("state", ""), d.get("reason", ""),
               time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000)) if ms else "-"]
        cx = x + 12
        for (name, cw), val in zip(cols, row):
            svg.append('<text x="%.1f" y="%.1f" class="td">%s</text>' % (cx, ty, html.escape(val)))
            cx += cw


def main():
    dash, scrapes = json.load(open(sys.argv[1])), load_scrapes(sys.argv[2])
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    H = bottom * ROW + 50
    start, end = (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(scrapes[k][0])) for k in (0, -1))
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Inter, Helvetica, Arial, sans-serif">' % (W, H, W, H),
           '<style>.t{fill:#ccccdc;font-size:13px;font-weight:500}.ax{fill:#8e8e8e;font-size:10px}.lg{fill:#ccccdc;font-size:11px}'
           '.big{font-size:34px;font-weight:500}.th{fill:#6e9fff;font-size:12px;font-weight:500}.td{fill:#ccccdc;font-size:12px}</style>',
           '<rect width="100%" height="100%" fill="#111217"/>',
           '<text x="12" y="28" fill="#ccccdc" font-size="18" font-weight="500">%s</text>' % html.escape(dash["title"]),
           '<text x="%d" y="28" class="ax" text-anchor="end">%d scrapes of a running 4-node cluster, %s to %s UTC; drawn by docs/grafana/render.py</text>' % (W - 12, len(scrapes), start, end)]
    for p in dash["panels"]:
        g = p["gridPos"]
        x, y, w, h = g["x"] * COL + PAD, 44 + g["y"] * ROW + PAD, g["w"] * COL - 2 * PAD, g["h"] * ROW - 2 * PAD
        svg.append('<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="#181b1f" stroke="#24292e"/>' % (x, y, w, h))
        svg.append('<text x="%d" y="%d" class="t">%s</text>' % (x + 10, y + 19, html.escape(p["title"])))
        {"timeseries": draw_timeseries, "stat": draw_stat, "table": draw_table}[p["type"]](svg, p, scrapes, x, y, w, h)
    svg.append("</svg>")
    open(sys.argv[3], "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
