#!/usr/bin/env python3
"""Writes bproc-dashboard.json, the Grafana dashboard of bpmaster's
/metrics (README, "Watching the cluster"). Kept as code so that the
panels stay one per line; render.py draws the same panels from scrapes.

    python3 docs/grafana/gen_dashboard.py > docs/grafana/bproc-dashboard.json
"""
import json

DS = {"type": "prometheus", "uid": "${datasource}"}


def q(expr, legend="", instant=False, fmt=None):
    t = {"expr": expr, "legendFormat": legend, "datasource": DS}
    if instant:
        t["instant"], t["range"] = True, False
    if fmt:
        t["format"] = fmt
    return t


def quantiles(metric, qs=(0.5, 0.95, 0.99), window="$__rate_interval"):
    return [q('histogram_quantile(%s, sum by (le) (rate(%s_bucket[%s])))' % (x, metric, window), "p%d" % round(x * 100)) for x in qs]


def panel(kind, title, x, y, w, h, targets, unit="short", stack=False, desc=""):
    p = {"type": kind, "title": title, "description": desc, "datasource": DS,
         "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"fillOpacity": 30 if stack else 0,
                                                 "stacking": {"mode": "normal" if stack else "none"}}
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", "graphMode": "area"}
    return p


R = "[$__rate_interval]"
panels = [
    panel("stat", "Nodes up", 0, 0, 4, 4, [q('bproc_nodes{state="up"}')]),
    panel("stat", "Nodes down", 4, 0, 4, 4, [q('bproc_nodes{state="down"}')]),
    panel("stat", "Nodes held", 8, 0, 4, 4, [q('sum(bproc_node_held)')], desc="error or unavailable by bpctl"),
    panel("stat", "Remote processes", 12, 0, 4, 4, [q('sum(bproc_processes)')]),
    panel("stat", "Launch p95", 16, 0, 4, 4, quantiles("bproc_launch_duration_seconds", (0.95,)), unit="s"),
    panel("stat", "Event streams", 20, 0, 4, 4, [q('bproc_connections{kind="events"}')]),
    panel("timeseries", "Nodes by state", 0, 4, 12, 8, [q('bproc_nodes', "{{state}}")], stack=True),
    panel("timeseries", "Remote processes per node", 12, 4, 12, 8, [q('bproc_processes', "node {{node}}")]),
    panel("timeseries", "Launch duration (run request to running)", 0, 12, 12, 8,
          quantiles("bproc_launch_duration_seconds"), unit="s"),
    panel("timeseries", "Process starts and ends", 12, 12, 12, 8,
          [q('sum(rate(bproc_processes_started_total%s))' % R, "started"),
           q('sum by (how) (rate(bproc_processes_ended_total%s))' % R, "ended: {{how}}")], unit="ops"),
    panel("timeseries", "Load (1 min)", 0, 20, 8, 8, [q('bproc_node_load1', "node {{node}}")]),
    panel("timeseries", "Memory available", 8, 20, 8, 8, [q('bproc_node_memory_available_bytes', "node {{node}}")], unit="bytes"),
    panel("timeseries", "Bytes served by the view", 16, 20, 8, 8,
          [q('rate(bproc_node_files_sent_bytes_total%s)' % R, "node {{node}}")], unit="Bps"),
    panel("timeseries", "Connections to the master", 0, 28, 8, 8, [q('bproc_connections', "{{kind}}")]),
    panel("timeseries", "Moves", 8, 28, 8, 8, [q('sum by (kind) (rate(bproc_moves_total%s))' % R, "{{kind}}")], unit="ops"),
    panel("timeseries", "Node boot duration", 16, 28, 8, 8, quantiles("bproc_node_boot_duration_seconds", (0.5, 0.95), "1h"), unit="s",
          desc="Boots are rare: over the last hour."),
    panel("table", "Held nodes", 0, 36, 24, 6,
          [q('bproc_node_held', instant=True, fmt="table"), q('bproc_node_held_since_seconds * 1000', instant=True, fmt="table")],
          desc="bpctl -s error|unavailable --reason"),
]
for i, p in enumerate(panels):
    p["id"] = i + 1

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}],
    "title": "bproc cluster", "uid": "bproc-cluster", "editable": True, "schemaVersion": 39,
    "tags": ["bproc"], "time": {"from": "now-1h", "to": "now"}, "refresh": "30s",
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
    "panels": panels,
}
print(json.dumps(dashboard, indent=2))
