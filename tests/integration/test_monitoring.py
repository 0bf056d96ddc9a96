"""The monitoring files: monitoring/prometheus.yml, alerts.yml and
grafana-dashboard.json.

promtool (Debian's prometheus package) checks the scrape config and the
rules and runs the rule unit tests of alerts_test.yml; the dashboard's
queries are checked as PromQL by promtool too. Then every series the rules
and the dashboard name is looked up in a real GET /metrics of presignd that
has served requests and called S3: a renamed metric breaks this test, not
the 3 a.m. page.
"""
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import requests
import yaml

import harness

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "monitoring"

# Label values that are fixed enumerations of presignd's metrics.
ENUMS = {
    "operation": {"head_object", "head_bucket", "list_objects", "delete_object", "imds"},
    "outcome": {"ok", "not_found", "client_error", "server_error", "unreachable"},
    "kind": {"upload", "download"},
    "result": {"ok", "failed"},
}
# Labels Prometheus adds at scrape time (or relabelling does).
TARGET_LABELS = {"job", "instance", "env", "availability_zone", "deployment"}
# Series that are Prometheus's own, not presignd's.
PROMETHEUS_SERIES = {"up"}

PROMQL_FUNCTIONS = {
    "sum", "rate", "increase", "histogram_quantile", "max", "min", "avg", "by", "without",
    "time", "changes", "count", "label_values", "on", "ignoring", "and", "or", "unless",
    "le", "humanize", "humanizePercentage", "humanizeDuration", "bool",
}


def promtool():
    path = shutil.which("promtool")
    if not path:
        harness.require(False, "promtool is not installed (apt-get install prometheus)")
    return path


def run_promtool(*args, cwd=MON):
    out = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}{out.stderr}"
    return out.stdout + out.stderr


def alert_rules():
    doc = yaml.safe_load((MON / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard():
    return json.loads((MON / "grafana-dashboard.json").read_text())


def dashboard_exprs():
    d = dashboard()
    exprs = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))
    for a in d["annotations"]["list"]:
        if "expr" in a:
            exprs.append((a["name"], a["expr"]))
    return exprs


def grafana_to_promql(expr):
    """Grafana's variables, replaced by what they stand for at query time."""
    return (expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
            .replace("$__interval", "1m").replace('"$instance"', '".*"'))


# ---------------------------------------------------------------------------
# promtool


def test_prometheus_config_is_valid():
    out = run_promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in out
    cfg = yaml.safe_load((MON / "prometheus.yml").read_text())
    assert cfg["rule_files"] == ["alerts.yml"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    static = jobs["presignd"]
    assert static.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in static["static_configs"] for t in sc["targets"]]
    assert targets and all(t.endswith(":8000") for t in targets), targets


def test_alert_rules_are_valid():
    out = run_promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in out


def test_alert_rules_unit_tests_pass():
    out = run_promtool("test", "rules", "alerts_test.yml")
    assert "SUCCESS" in out


def test_every_alert_is_tested_firing():
    tests = yaml.safe_load((MON / "alerts_test.yml").read_text())
    assert tests["rule_files"] == ["alerts.yml"]
    fired = {c["alertname"] for t in tests["tests"] for c in t.get("alert_rule_test", [])
             if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in tests["tests"] for c in t.get("alert_rule_test", [])
             if c.get("exp_alerts") == []}
    names = {r["alert"] for r in alert_rules()}
    assert names == fired, f"alerts never shown firing: {names - fired}"
    assert names == quiet, f"alerts never shown quiet: {names - quiet}"


def test_required_alerts_exist():
    rules = {r["alert"]: r for r in alert_rules()}
    want = {
        "PresigndHigh5xxRate": ['presignd_http_requests_total{status=~"5.."}'],
        "PresigndS3ErrorRate": ['presignd_s3_requests_total{outcome=~"server_error|unreachable"}'],
        "PresigndReloadFailed": ['increase(presignd_reloads_total{result="failed"}'],
        "PresigndWorkerRestarts": ["increase(presignd_worker_restarts_total"],
        "PresigndCredentialsExpiring": ["presignd_credentials_expiry_seconds < 900"],
        "PresigndInstanceDown": ["up{", "== 0"],
    }
    for name, fragments in want.items():
        assert name in rules, name
        for frag in fragments:
            assert frag in rules[name]["expr"], (name, frag)
        r = rules[name]
        assert r["labels"]["severity"] in ("page", "ticket"), name
        assert r["annotations"]["summary"] and r["annotations"]["description"], name


def test_dashboard_queries_are_valid_promql(tmp_path):
    """promtool parses every dashboard query, wrapped as a recording rule."""
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": grafana_to_promql(e)}
        for i, (_, e) in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    run_promtool("check", "rules", str(path), cwd=tmp_path)


def test_dashboard_structure():
    d = dashboard()
    assert d["uid"] and d["title"] == "presignd"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in d["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"], p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]
    variables = {v["name"] for v in d["templating"]["list"]}
    assert {"datasource", "instance"} <= variables
    joined = " ".join(e for _, e in dashboard_exprs())
    # The panels the dashboard promises.
    for needle in ("presignd_http_requests_total", "histogram_quantile(0.5",
                   "histogram_quantile(0.99", "presignd_http_request_duration_seconds_bucket",
                   "presignd_s3_requests_total", "presignd_s3_request_duration_seconds_bucket",
                   "presignd_presigned_urls_total", "presignd_reloads_total",
                   "presignd_worker_restarts_total", "presignd_credentials_expiry_seconds",
                   "presignd_workers"):
        assert needle in joined, needle


# ---------------------------------------------------------------------------
# names used vs. names served

SELECTOR_RE = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
MATCHER_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def used_series():
    """{series name: [(label, op, value), ...]} from rules and dashboard."""
    exprs = [r["expr"] for r in alert_rules()] + [e for _, e in dashboard_exprs()]
    used = {}
    for expr in exprs:
        # Drop "by (...)", "without (...)" and string literals' contents
        # outside selectors: only series selectors remain interesting.
        cleaned = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
        cleaned = re.sub(r"\[[^\]]*\]", " ", cleaned)
        for m in SELECTOR_RE.finditer(cleaned):
            name, matchers = m.group(1), m.group(2) or ""
            if name in PROMQL_FUNCTIONS or re.fullmatch(r"[0-9.e]+", name):
                continue
            # A function call: name followed by "(".
            rest = cleaned[m.end():].lstrip()
            if not matchers and rest.startswith("("):
                continue
            used.setdefault(name, []).extend(MATCHER_RE.findall(matchers))
    return used


def parse_exposition(text):
    """{family: type}, {sample name: set of label names}, {(sample, label): values}."""
    types, labels, values = {}, {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
        assert m, f"unparsable sample line: {line!r}"
        name = m.group(1)
        labels.setdefault(name, set())
        for lname, _, lvalue in MATCHER_RE.findall(m.group(3) or ""):
            labels[name].add(lname)
            values.setdefault((name, lname), set()).add(lvalue)
    return types, labels, values


def family_of(series, types):
    if series in types:
        return series
    for suffix in ("_bucket", "_sum", "_count"):
        base = series[: -len(suffix)] if series.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return None


def test_used_series_parser_finds_names():
    used = used_series()
    assert "up" in used
    assert "presignd_http_request_duration_seconds_bucket" in used
    assert ("status", "=~", "5..") in used["presignd_http_requests_total"]
    for name in used:
        assert name not in PROMQL_FUNCTIONS
    assert not [n for n in used if n.startswith("presignd") is False and n not in PROMETHEUS_SERIES], used


def test_every_used_series_exists_in_real_metrics(presignd, s3):
    d = presignd()
    key = None
    # Traffic that touches every family that can move without faults:
    # presigning (both kinds), each S3 operation, an error route.
    r = d.get("/health")
    assert r.status_code == 200, r.text
    r = d.post("/upload-url", json={"filename": f"mon-{uuid.uuid4().hex}.txt",
                                    "content_type": "text/plain", "size": len(b"metrics\n")})
    assert r.status_code == 200, r.text
    up = r.json()
    key = up["file_key"]
    headers = dict(up.get("headers") or {"Content-Type": "text/plain"})
    put = requests.request(up.get("method", "PUT"), up["presigned_url"], data=b"metrics\n",
                           headers=headers, timeout=30)
    assert put.status_code == 200, put.text
    r = d.post("/download-url", json={"file_key": key})
    assert r.status_code == 200, r.text
    r = d.post("/download-url", json={"file_key": f"uploads/{uuid.uuid4()}-missing.txt"})
    assert r.status_code == 404, r.text
    r = d.get("/files", params={"prefix": "uploads/", "max_keys": 10})
    assert r.status_code == 200, r.text
    r = d.delete(f"/files/{key}")
    assert r.status_code == 200, r.text
    assert d.get("/no-such-route").status_code == 404

    r = d.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    types, labels, values = parse_exposition(r.text)

    problems = []
    for series, matchers in sorted(used_series().items()):
        if series in PROMETHEUS_SERIES:
            continue
        fam = family_of(series, types)
        if fam is None:
            problems.append(f"{series}: not in GET /metrics")
            continue
        if series not in labels:
            problems.append(f"{series}: family {fam} has no {series} samples")
            continue
        for lname, op, lvalue in matchers:
            if lname in TARGET_LABELS:
                continue
            if lname not in labels[series]:
                problems.append(f"{series}: no label {lname!r} in GET /metrics")
                continue
            if lname in ENUMS:
                wanted = set(lvalue.split("|")) if op in ("=~", "!~") else {lvalue}
                unknown = wanted - ENUMS[lname]
                if unknown:
                    problems.append(f"{series}{{{lname}{op}{lvalue!r}}}: unknown values {unknown}")
    assert not problems, "\n".join(problems)

    # The requests above moved what they should: the comparison was made
    # against live series, not an empty page.
    def total(sample, **want):
        s = 0.0
        for line in r.text.splitlines():
            if line.startswith(sample + "{") or line.startswith(sample + " "):
                if all(f'{k}="{v}"' in line for k, v in want.items()):
                    s += float(line.rsplit(None, 1)[1])
        return s

    assert total("presignd_presigned_urls_total", kind="upload") >= 1
    assert total("presignd_presigned_urls_total", kind="download") >= 1
    assert total("presignd_s3_requests_total", operation="head_bucket", outcome="ok") >= 1
    assert total("presignd_s3_requests_total", operation="head_object", outcome="not_found") >= 1
    assert total("presignd_s3_requests_total", operation="list_objects", outcome="ok") >= 1
    assert total("presignd_s3_requests_total", operation="delete_object", outcome="ok") >= 1
    assert total("presignd_http_request_duration_seconds_count", route="/upload-url") >= 1
    assert total("presignd_workers") >= 1
