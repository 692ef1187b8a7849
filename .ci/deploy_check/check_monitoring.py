"""Checks deploy/monitoring: the alert rules' shape, the Grafana dashboard, and that every
metric, label and label value the rules and the dashboard use is one Roster exports.

Usage: check_monitoring.py REPO_ROOT OUT
  Writes OUT/dashboard-rules.yaml (each dashboard query as a recording rule, Grafana
  variables replaced) for `promtool check rules`, which checks the PromQL itself.
"""

import copy
import json
import os
import re
import sys

import yaml

# Roster's metrics (README.md, "Operate" -> "Metrics"): name -> {label: allowed values or None}.
SCRAPE_LABELS = {"job": None, "instance": None, "namespace": None, "pod": None}
HISTOGRAMS = {"roster_http_request_duration_seconds", "roster_db_pool_acquire_seconds"}
METRICS = {
    "roster_build_info": {"version": None, "commit": None},
    "roster_http_requests_total": {"method": None, "route": None, "status": None},
    "roster_http_request_duration_seconds": {"method": None, "route": None, "status": None},
    "roster_db_pool_connections": {"state": {"idle", "in_use"}},
    "roster_db_pool_max_connections": {},
    "roster_db_pool_acquire_seconds": {},
    "roster_db_pool_acquire_timeouts_total": {},
    "roster_bookings_total": {"outcome": {"confirmed", "waitlisted", "refused", "cancelled", "promoted"}},
    "roster_jobs": {"kind": None, "state": {"queued", "running", "dead"}},
    "roster_jobs_oldest_age_seconds": {"kind": None, "state": {"queued", "running", "dead"}},
    "roster_job_runs_total": {"kind": None, "result": {"ok", "retry", "dead"}},
    "roster_deliveries": {"channel": {"email", "push"}, "state": {"queued", "sending", "sent", "failed", "dead"}},
    "roster_live_streams": {},
    "roster_ready": {},
    "roster_rate_limited_total": {"scope": None},
    "roster_overload_rejections_total": {"reason": None},
}
PROMETHEUS_METRICS = {"up": {}}
# The alerts the rules must have (what each watches is in alerts.yaml).
REQUIRED_ALERTS = {
    "RosterHighErrorRate", "RosterHighLatency", "RosterJobQueueStuck", "RosterDeadJobs",
    "RosterDeadDeliveries", "RosterDbPoolSaturated", "RosterDbPoolAcquireTimeouts",
    "RosterReadinessFlapping", "RosterTargetDown",
}
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "rate", "irate", "increase", "delta", "idelta",
    "changes", "resets", "deriv", "predict_linear", "histogram_quantile", "absent",
    "absent_over_time", "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max",
    "label_replace", "label_join", "vector", "scalar", "time", "timestamp", "sort", "sort_desc",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "quantile_over_time", "exp", "ln", "log2", "log10", "sqrt", "le",
    "inf", "nan",
}

problems = []


def problem(msg):
    problems.append(msg)


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def parse_matchers(expr, start):
    """Matchers of the selector whose `{` is at expr[start]: ([(label, op, value)], end)."""
    i, out = start + 1, []
    while True:
        m = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?').match(expr, i)
        if not m:
            end = expr.index("}", i)
            return out, end
        out.append((m.group(1), m.group(2), m.group(3)))
        i = m.end()


def check_expr(expr, where):
    """Every metric, label and enumerated label value in expr is Roster's. Returns metrics used."""
    used = set()
    bare = strip_strings(expr)
    # Metric names: identifiers not followed by "(" that are no PromQL word, duration or label.
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare):
        name = m.group(1)
        if name in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        # A label name inside by (...) / on (...) / {...} / ignoring(...) is not a metric.
        before = bare[: m.start()]
        if re.search(r"(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$", before) or re.search(r"\{[^}]*$", before):
            continue
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
                base = name[: -len(suffix)]
        if base not in METRICS and base not in PROMETHEUS_METRICS:
            problem(f"{where}: unknown metric {name!r}")
            continue
        used.add(base)
    # Label matchers, checked against the metric's labels.
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr):
        name = m.group(1)
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
                base = name[: -len(suffix)]
        labels = METRICS.get(base, PROMETHEUS_METRICS.get(base))
        if labels is None:
            continue
        allowed = dict(SCRAPE_LABELS, **labels)
        if name.endswith("_bucket"):
            allowed["le"] = None
        matchers, _ = parse_matchers(expr, m.end() - 1)
        for label, op, value in matchers:
            if label not in allowed:
                problem(f"{where}: {name} has no label {label!r}")
                continue
            values = allowed[label]
            if values is None or "$" in value:
                continue
            if op in ("=", "!=") and value not in values:
                problem(f"{where}: {name}{{{label}{op}{value!r}}}: {label} is one of {sorted(values)}")
            if op in ("=~", "!~") and not any(re.fullmatch(value, v) for v in values):
                problem(f"{where}: {name}{{{label}{op}{value!r}}} matches none of {sorted(values)}")
    # Grouping labels must exist on some metric.
    every_label = set(SCRAPE_LABELS) | {"le"} | {label for ls in METRICS.values() for label in ls}
    for m in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", bare):
        for label in filter(None, (x.strip() for x in m.group(1).split(","))):
            if label not in every_label:
                problem(f"{where}: no metric has the label {label!r} it groups by")
    return used


def check_rules(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    names, used = set(), set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            where = f"{os.path.basename(path)}: {name}"
            used |= check_expr(rule["expr"], where)
            if "alert" in rule:
                names.add(name)
                if "for" not in rule:
                    problem(f"{where}: no `for:`")
                if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                    problem(f"{where}: severity label must be critical or warning")
                for a in ("summary", "description", "runbook"):
                    if not rule.get("annotations", {}).get(a):
                        problem(f"{where}: no {a} annotation")
    missing = REQUIRED_ALERTS - names
    if missing:
        problem(f"{os.path.basename(path)}: missing alerts {sorted(missing)}")
    return names, used


def grafana_to_promql(expr):
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace("$__range", "1h").replace("$job", ".*").replace("$instance", ".*"))


def check_dashboard(path, out):
    with open(path, encoding="utf-8") as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            problem(f"{os.path.basename(path)}: not JSON: {e}")
            return set(), 0
    where = os.path.basename(path)
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problem(f"{where}: schemaVersion {dash.get('schemaVersion')!r} (want 36 or later)")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem(f"{where}: no Prometheus data source variable named datasource")
    panels, stack = [], list(dash.get("panels", []))
    while stack:
        p = stack.pop(0)
        panels.append(p)
        stack += p.get("panels", [])
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problem(f"{where}: panel ids repeat")
    cells = {}
    for p in panels:
        g = p.get("gridPos", {})
        for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
            for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                if (x, y) in cells:
                    problem(f"{where}: panels {cells[(x, y)]} and {p.get('id')} overlap")
                    break
                cells[(x, y)] = p.get("id")
            else:
                continue
            break
        if not g.get("w") or not g.get("h") or g.get("x", 0) + g.get("w", 0) > 24:
            problem(f"{where}: panel {p.get('id')} has no place on the 24-column grid")
    used, rules, n = set(), [], 0
    for p in panels:
        if p.get("type") == "row":
            continue
        title = p.get("title") or f"panel {p.get('id')}"
        if not p.get("title"):
            problem(f"{where}: a panel without a title")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problem(f"{where}: {title}: data source is not ${{datasource}}")
        if not p.get("targets"):
            problem(f"{where}: {title}: no queries")
        for t in p.get("targets", []):
            n += 1
            used |= check_expr(t["expr"], f"{where}: {title}")
            rules.append({"record": f"dashboard:query_{n}", "expr": grafana_to_promql(t["expr"])})
    with open(os.path.join(out, "dashboard-rules.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    missing = set(METRICS) - used
    if missing:
        problem(f"{where}: no panel shows {sorted(missing)}")
    return used, n


def source_metrics(root):
    """Metric names that Roster's Rust source records (for a warning only)."""
    found = set()
    for top in ("server/src", "app/src"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith(".rs"):
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        found |= set(re.findall(r'(?:counter|gauge|histogram)!\(\s*"(roster_[a-z0-9_]+)"', f.read()))
    return found


def broken_dashboard(path, out):
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    b = copy.deepcopy(dash)
    for p in b["panels"]:
        for t in p.get("targets", []):
            t["expr"] = t["expr"].replace("roster_http_requests_total", "roster_http_request_total")
    target = os.path.join(out, "broken-dashboard.json")
    with open(target, "w", encoding="utf-8") as f:
        json.dump(b, f)
    return target


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    mon = os.path.join(root, "deploy/monitoring")
    names, rule_metrics = check_rules(os.path.join(mon, "alerts.yaml"))
    dash_metrics, queries = check_dashboard(os.path.join(mon, "grafana-dashboard.json"), out)
    if problems:
        for p in problems:
            print(f"FAIL {p}")
        return 1
    print(f"ok   alerts.yaml: {len(names)} alerts, each with for:, severity, summary, description and runbook; "
          f"the {len(REQUIRED_ALERTS)} required ones present")
    print(f"ok   alerts.yaml: uses {len(rule_metrics)} metrics, all Roster's (names, labels, label values)")
    print(f"ok   grafana-dashboard.json: parses, schemaVersion 36+, a Prometheus data source variable, panels on the grid without overlap, "
          f"{queries} queries over all {len(METRICS)} Roster metrics, no unknown metric, label or value")
    in_source = source_metrics(root)
    if in_source:
        for name in sorted(set(METRICS) - in_source):
            print(f"warn {name} is in the metrics contract but Roster's source does not record it (yet)")
        for name in sorted(in_source - set(METRICS) - {m + s for m in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}):
            print(f"warn Roster's source records {name}, which the rules and dashboard do not know")

    # Broken copies must fail.
    checks = [
        ("a dashboard query with the typo roster_http_request_total", lambda: check_dashboard(broken_dashboard(os.path.join(mon, "grafana-dashboard.json"), out), out)),
        ("a rule on roster_job_run_total (typo)", lambda: check_expr('sum(increase(roster_job_run_total{result="dead"}[5m])) > 0', "broken rule")),
        ("a rule on state=\"inuse\" (no such state)", lambda: check_expr('roster_db_pool_connections{state="inuse"} > 1', "broken rule")),
        ("a rule grouping by a label no metric has", lambda: check_expr("sum by (kindd) (roster_jobs) > 1", "broken rule")),
        ("a rule with the label outcom", lambda: check_expr('rate(roster_bookings_total{outcom="confirmed"}[5m]) > 1', "broken rule")),
    ]
    failed = 0
    for what, run in checks:
        before = len(problems)
        run()
        if len(problems) > before:
            print(f"ok   broken copy refused ({what}): {problems[before]}")
        else:
            print(f"FAIL broken copy accepted ({what})")
            failed += 1
    # The checker itself rewrote dashboard-rules.yaml from the broken dashboard: write it again.
    del problems[:]
    check_dashboard(os.path.join(mon, "grafana-dashboard.json"), out)
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
