"""GET /metrics: one set of totals in shared memory, whichever worker answers.

The counters add up across workers, survive reloads (ok and failed) and
worker respawns, the text is valid Prometheus exposition format 0.0.4 (a
strict parser below, tested on its own), and nothing secret is in it. The
in-flight gauge sums one counter per worker slot and forgets the requests
of a worker that died.
"""
import json
import math
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

import harness

UPLOAD = {"filename": "report.pdf", "content_type": "application/pdf", "size": 1024}
UPLOAD_SAMPLE = ('presignd_http_requests_total', (('method', 'POST'), ('route', '/upload-url'),
                                                  ('status', '200')))

# --------------------------------------------------------------------------
# A strict parser of the text exposition format 0.0.4.

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(AssertionError):
    pass


def _value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ExpositionError(f"{where}: bad value {text!r}")
    return float(text)


def _labels(s, i, where):
    """Parse {a="x",b="y"} starting at s[i] == '{'; returns (dict, next index)."""
    assert s[i] == "{"
    i += 1
    labels = {}
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL_NAME_RE.match(s, i)
        if not m:
            raise ExpositionError(f"{where}: bad label name at {s[i:]!r}")
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ExpositionError(f"{where}: expected =\" after label {name}")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ExpositionError(f"{where}: unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt == "\\":
                    val.append("\\")
                elif nxt == '"':
                    val.append('"')
                elif nxt == "n":
                    val.append("\n")
                else:
                    raise ExpositionError(f"{where}: bad escape \\{nxt} in label value")
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ExpositionError(f"{where}: raw newline in label value")
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ExpositionError(f"{where}: duplicate label {name}")
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}":
            pass
        else:
            raise ExpositionError(f"{where}: expected , or }} after label {name}")


def _family_of(name, families):
    """The declared family a sample name belongs to (histogram suffixes)."""
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if families.get(base, {}).get("type") in ("histogram", "summary"):
                return base
    return None


def parse_exposition(text):
    """{family: {"type", "help", "samples": {(name, labels tuple): value}}}.

    Raises ExpositionError on anything the 0.0.4 text format does not allow,
    plus what presignd promises beyond it: every family has HELP and TYPE,
    counters end in _total, histogram buckets are cumulative with +Inf equal
    to _count.
    """
    if not text.endswith("\n"):
        raise ExpositionError("the text must end with a newline")
    families = {}
    done = set()       # families whose samples are finished (must be contiguous)
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME_RE.fullmatch(name):
                    raise ExpositionError(f"{where}: bad metric name {name!r}")
                fam = families.setdefault(name, {"type": None, "help": None, "samples": {}})
                if fam["samples"] or name in done:
                    raise ExpositionError(f"{where}: {parts[1]} for {name} after its samples")
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise ExpositionError(f"{where}: second HELP for {name}")
                    helptext = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", helptext.replace("\\\\", "")):
                        raise ExpositionError(f"{where}: bad escape in HELP")
                    fam["help"] = helptext
                else:
                    if fam["type"] is not None:
                        raise ExpositionError(f"{where}: second TYPE for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ExpositionError(f"{where}: bad TYPE line {line!r}")
                    fam["type"] = parts[3]
                if current is not None and current != name:
                    done.add(current)
                current = name
            continue
        m = NAME_RE.match(line)
        if not m:
            raise ExpositionError(f"{where}: bad sample line {line!r}")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ExpositionError(f"{where}: expected a space before the value")
        fields = rest.split()
        if len(fields) not in (1, 2) or rest != " " + " ".join(fields):
            raise ExpositionError(f"{where}: bad value part {rest!r}")
        value = _value(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ExpositionError(f"{where}: bad timestamp")
        fam_name = _family_of(name, families)
        if fam_name is None:
            raise ExpositionError(f"{where}: sample {name} without HELP/TYPE")
        if fam_name in done:
            raise ExpositionError(f"{where}: samples of {fam_name} are not contiguous")
        if current is not None and current != fam_name:
            done.add(current)
        current = fam_name
        key = (name, tuple(sorted(labels.items())))
        fam = families[fam_name]
        if key in fam["samples"]:
            raise ExpositionError(f"{where}: duplicate sample {key}")
        fam["samples"][key] = value

    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None:
            raise ExpositionError(f"{name}: missing TYPE or HELP")
        if fam["type"] == "counter":
            if not name.endswith("_total"):
                raise ExpositionError(f"counter {name} does not end in _total")
            for key, v in fam["samples"].items():
                if key[0] != name or v < 0 or math.isnan(v):
                    raise ExpositionError(f"bad counter sample {key} {v}")
        if fam["type"] == "histogram":
            _check_histogram(name, fam["samples"])
    return families


def _check_histogram(name, samples):
    series = {}
    for (sname, labels), v in samples.items():
        d = dict(labels)
        if sname == name + "_bucket":
            if "le" not in d:
                raise ExpositionError(f"{name}: bucket without le")
            le = _value(d.pop("le"), name)
            series.setdefault(tuple(sorted(d.items())), {"buckets": []})["buckets"].append((le, v))
        elif sname in (name + "_sum", name + "_count"):
            if "le" in d:
                raise ExpositionError(f"{name}: le on {sname}")
            series.setdefault(labels, {"buckets": []})[sname[len(name) + 1:]] = v
        else:
            raise ExpositionError(f"{name}: unexpected sample {sname}")
    for labels, s in series.items():
        b = sorted(s["buckets"])
        if not b or b[-1][0] != math.inf:
            raise ExpositionError(f"{name}{labels}: no +Inf bucket")
        counts = [c for _le, c in b]
        if counts != sorted(counts):
            raise ExpositionError(f"{name}{labels}: buckets not cumulative {b}")
        if "count" not in s or "sum" not in s:
            raise ExpositionError(f"{name}{labels}: missing _sum or _count")
        if b[-1][1] != s["count"]:
            raise ExpositionError(f"{name}{labels}: +Inf {b[-1][1]} != _count {s['count']}")
        if s["sum"] < 0:
            raise ExpositionError(f"{name}{labels}: negative _sum")


def value(families, family, name=None, **labels):
    key = (name or family, tuple(sorted(labels.items())))
    return families.get(family, {"samples": {}})["samples"].get(key, 0.0)


def family_sum(families, family, **match):
    total = 0.0
    for (_name, labels), v in families[family]["samples"].items():
        d = dict(labels)
        if all(d.get(k) == want for k, want in match.items()):
            total += v
    return total


# --------------------------------------------------------------------------
# The parser itself: it must refuse what is wrong, or the tests prove nothing.

GOOD = """# HELP a_total A counter.
# TYPE a_total counter
a_total{x="q\\"\\\\\\n"} 3
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2
h_sum 0.3
h_count 2
"""


def test_parser_accepts_valid_text():
    f = parse_exposition(GOOD)
    assert value(f, "a_total", x='q"\\\n') == 3
    assert value(f, "h", "h_count") == 2


@pytest.mark.parametrize("bad", [
    GOOD.replace('x="q', 'x="\\q'),                               # bad escape
    GOOD.replace("a_total{x", "1a_total{x"),                      # bad name
    GOOD.replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="+Inf"} 0'),  # not cumulative
    GOOD.replace("h_count 2", "h_count 3"),                       # +Inf != count
    GOOD.replace('h_bucket{le="+Inf"} 2\n', ""),                  # no +Inf
    GOOD.replace("# TYPE a_total counter\n", ""),                 # no TYPE
    GOOD.replace("# HELP h A histogram.\n", ""),                  # no HELP
    GOOD.replace("a_total{x", "a_total {x"),                      # space before labels
    GOOD.replace("} 3", "}3"),                                    # no space before value
    GOOD.replace("} 3", "} three"),                               # bad value
    GOOD + 'a_total{x="other"} 1\n',                              # not contiguous
    GOOD.replace("counter", "bogus"),                             # unknown type
    GOOD.replace('a_total{x="q\\"\\\\\\n"} 3', 'a_total{x="q",x="r"} 3'),  # dup label
    GOOD.rstrip("\n"),                                            # no final newline
    GOOD + "# HELP b c\n# TYPE b counter\nb 1\n",                  # counter w/o _total
])
def test_parser_refuses_invalid_text(bad):
    with pytest.raises(ExpositionError):
        parse_exposition(bad)


# --------------------------------------------------------------------------
# The daemon.

def scrape(d):
    """One /metrics read on a fresh connection (so any worker may answer)."""
    r = requests.get(d.url + "/metrics", headers={"Connection": "close"}, timeout=10)
    assert r.status_code == 200, r.text
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain"), ctype
    assert "version=0.0.4" in ctype, ctype
    return parse_exposition(r.text), r.text


def upload_count(families):
    return value(families, "presignd_http_requests_total",
                 route="/upload-url", method="POST", status="200")


def wait_metric(d, pred, timeout=10.0):
    """Scrape until pred(families) holds; returns the last families."""
    deadline = time.monotonic() + timeout
    while True:
        fam, _ = scrape(d)
        if pred(fam) or time.monotonic() > deadline:
            return fam
        time.sleep(0.1)


def send_uploads(d, n, threads=6):
    """N POST /upload-url, each on its own connection, from several threads."""
    errors = []
    lock = threading.Lock()
    todo = [n]

    def run():
        while True:
            with lock:
                if todo[0] == 0:
                    return
                todo[0] -= 1
            try:
                r = requests.post(d.url + "/upload-url", json=UPLOAD,
                                  headers={"Connection": "close"}, timeout=10)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                errors.append(repr(e))

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:5]


def serving_pids(log_text, worker_pids):
    """Worker pids named by access log lines (JSON) for /upload-url."""
    seen = set()
    for line in log_text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "upload-url" not in json.dumps(rec):
            continue
        for k in ("worker_pid", "pid", "worker"):
            if isinstance(rec.get(k), int) and rec[k] in worker_pids:
                seen.add(rec[k])
    return seen


def test_requests_add_up_across_workers(presignd):
    d = presignd(workers=3)
    before, _ = scrape(d)
    assert upload_count(before) == 0
    assert value(before, "presignd_workers") == 3
    workers = set(d.worker_pids())
    assert len(workers) == 3

    # Keep sending until at least two workers have answered (the kernel
    # decides who accepts), then check the shared total is exact.
    sent = 0
    for _ in range(10):
        send_uploads(d, 50)
        sent += 50
        if len(serving_pids(d.log(), workers)) >= 2:
            break
    assert len(serving_pids(d.log(), workers)) >= 2, \
        "every request went to one worker, or the access log names no worker pid"

    fam = wait_metric(d, lambda f: upload_count(f) >= sent)
    assert upload_count(fam) == sent
    assert value(fam, "presignd_presigned_urls_total", kind="upload") == sent
    assert value(fam, "presignd_http_request_duration_seconds",
                 "presignd_http_request_duration_seconds_count", route="/upload-url") == sent

    # Every scrape agrees, whichever worker it lands on.
    counts = {upload_count(scrape(d)[0]) for _ in range(12)}
    assert counts == {sent}

    # Each scrape counts itself: /metrics requests add up too.
    f1, _ = scrape(d)
    f2, _ = scrape(d)
    m1 = value(f1, "presignd_http_requests_total", route="/metrics", method="GET", status="200")
    m2 = value(f2, "presignd_http_requests_total", route="/metrics", method="GET", status="200")
    assert m2 >= m1 + 1


def test_statuses_and_routes_are_labelled(presignd):
    d = presignd(workers=2)
    h = {"Connection": "close"}
    assert requests.get(d.url + "/no-such-route", headers=h, timeout=10).status_code == 404
    assert requests.get(d.url + "/upload-url", headers=h, timeout=10).status_code == 405
    assert requests.post(d.url + "/upload-url", data="{nope", headers=dict(
        h, **{"Content-Type": "application/json"}), timeout=10).status_code == 400
    r = requests.post(d.url + "/upload-url", json={"filename": "x.exe", "size": 1}, headers=h,
                      timeout=10)
    assert r.status_code == 400
    assert requests.get(d.url + "/redoc", headers=h, timeout=10).status_code == 200
    assert requests.post(d.url + "/upload-complete", json={}, headers=h,
                         timeout=10).status_code == 400
    fam = wait_metric(d, lambda f: family_sum(f, "presignd_http_requests_total",
                                              route="/upload-url") >= 3)
    assert family_sum(fam, "presignd_http_requests_total", status="404") >= 1
    assert value(fam, "presignd_http_requests_total",
                 route="/upload-url", method="GET", status="405") == 1
    assert value(fam, "presignd_http_requests_total",
                 route="/upload-url", method="POST", status="400") == 2
    fam = wait_metric(d, lambda f: family_sum(f, "presignd_http_requests_total",
                                              route="/upload-complete") >= 1)
    assert value(fam, "presignd_http_requests_total",
                 route="/redoc", method="GET", status="200") == 1
    assert value(fam, "presignd_http_requests_total",
                 route="/upload-complete", method="POST", status="400") == 1
    # A raw path never becomes a label value.
    assert "no-such-route" not in scrape(d)[1]


def test_metrics_survive_reloads(presignd):
    d = presignd(workers=2)
    send_uploads(d, 20)
    fam = wait_metric(d, lambda f: upload_count(f) >= 20)
    assert upload_count(fam) == 20
    ok0 = value(fam, "presignd_reloads_total", result="ok")
    failed0 = value(fam, "presignd_reloads_total", result="failed")
    gen0 = value(fam, "presignd_generation")
    start0 = value(fam, "presignd_start_time_seconds")
    assert start0 > 1.6e9

    d.reload(expect_ok=True)
    fam = wait_metric(d, lambda f: value(f, "presignd_reloads_total", result="ok") >= ok0 + 1)
    assert value(fam, "presignd_reloads_total", result="ok") == ok0 + 1
    assert value(fam, "presignd_reloads_total", result="failed") == failed0
    assert value(fam, "presignd_generation") == gen0 + 1
    assert upload_count(fam) == 20            # nothing lost with the old workers
    assert value(fam, "presignd_start_time_seconds") == start0

    send_uploads(d, 5)
    fam = wait_metric(d, lambda f: upload_count(f) >= 25)
    assert upload_count(fam) == 25

    # A refused configuration: counted as failed, nothing else changes.
    d.write_config({"server": {"workers": 0}})
    d.reload(expect_ok=False)
    fam = wait_metric(d, lambda f: value(f, "presignd_reloads_total", result="failed")
                      >= failed0 + 1)
    assert value(fam, "presignd_reloads_total", result="failed") == failed0 + 1
    assert value(fam, "presignd_reloads_total", result="ok") == ok0 + 1
    assert value(fam, "presignd_generation") == gen0 + 1
    assert upload_count(fam) == 25
    assert value(fam, "presignd_workers") == 2


def test_worker_restart_is_counted(presignd):
    d = presignd(workers=3)
    send_uploads(d, 10)
    fam = wait_metric(d, lambda f: upload_count(f) >= 10)
    assert value(fam, "presignd_worker_restarts_total") == 0
    old = d.worker_pids()
    victim = old[0]
    os.kill(victim, signal.SIGKILL)

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = d.worker_pids()
        if victim not in now and len(now) == 3:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker {victim} was not replaced: {d.worker_pids()}")
    fam = wait_metric(d, lambda f: value(f, "presignd_worker_restarts_total") >= 1
                      and value(f, "presignd_workers") == 3)
    assert value(fam, "presignd_worker_restarts_total") == 1
    assert value(fam, "presignd_workers") == 3
    assert upload_count(fam) == 10            # the dead worker's counts stay


def test_families_and_gauges(presignd):
    d = presignd(workers=2)
    fam, text = scrape(d)
    expected = {
        "presignd_http_requests_total": "counter",
        "presignd_http_request_duration_seconds": "histogram",
        "presignd_s3_requests_total": "counter",
        "presignd_s3_request_duration_seconds": "histogram",
        "presignd_s3_retries_total": "counter",
        "presignd_presigned_urls_total": "counter",
        "presignd_reloads_total": "counter",
        "presignd_worker_restarts_total": "counter",
        "presignd_credentials_expiry_seconds": "gauge",
        "presignd_workers": "gauge",
        "presignd_generation": "gauge",
        "presignd_build_info": "gauge",
        "presignd_start_time_seconds": "gauge",
    }
    for name, typ in expected.items():
        assert name in fam, name
        assert fam[name]["type"] == typ, name
    # Static keys from the config: they never expire.
    assert value(fam, "presignd_credentials_expiry_seconds") == math.inf
    # build_info carries the version `presignd -V` prints.
    version = subprocess.run([os.environ["PRESIGND_BIN"], "-V"], capture_output=True, text=True,
                             timeout=10).stdout
    (labels, v), = [(dict(k[1]), v) for k, v in fam["presignd_build_info"]["samples"].items()]
    assert v == 1
    assert labels["version"] and labels["version"] in version

    # /download-url does a HEAD: the S3 families get samples.
    r = requests.post(d.url + "/download-url", json={"file_key": "uploads/nothing-here.pdf"},
                      timeout=10)
    assert r.status_code == 404
    fam = wait_metric(d, lambda f: family_sum(f, "presignd_s3_requests_total") >= 1)
    assert value(fam, "presignd_s3_requests_total",
                 operation="head_object", outcome="not_found") == 1
    assert value(fam, "presignd_s3_request_duration_seconds",
                 "presignd_s3_request_duration_seconds_count", operation="head_object") == 1


def test_no_secrets_in_metrics(presignd, s3):
    d = presignd(workers=2)
    send_uploads(d, 3, threads=1)
    r = requests.post(d.url + "/download-url", json={"file_key": "uploads/x.pdf"}, timeout=10)
    assert r.status_code in (200, 404)
    _, text = scrape(d)
    for secret in (s3.access_key, s3.secret_key, "X-Amz-Signature", "X-Amz-Security-Token",
                   "X-Amz-Credential", "Signature="):
        assert secret not in text, secret


# --------------------------------------------------------------------------
# The in-flight gauge: one counter per worker slot in shared memory, summed
# when /metrics is rendered; the master clears the slot of a worker that dies.

IN_FLIGHT = "presignd_http_requests_in_flight"


def in_flight(d):
    """The gauge, as one /metrics request on a fresh connection reads it."""
    fam, _ = scrape(d)
    assert fam[IN_FLIGHT]["type"] == "gauge", fam.get(IN_FLIGHT)
    return value(fam, IN_FLIGHT)


def wait_in_flight(d, want, what):
    """Scrape until the gauge reads WANT (10 s at most); fail saying WHAT
    was awaited and what the gauge read last."""
    got = value(wait_metric(d, lambda f: value(f, IN_FLIGHT) == want), IN_FLIGHT)
    assert got == want, "after 10 s waiting for %s, the gauge reads %s, not %s" % (
        what, got, want)


def worker_of_connections(d, client_ports):
    """{client port: pid of the worker holding that connection to the
    daemon}, from /proc: the inodes of the daemon's ends of the connections
    (/proc/net/tcp), found among each worker's descriptors."""
    inode_port = {}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            port = int(remote.rsplit(":", 1)[1], 16)
            if int(local.rsplit(":", 1)[1], 16) == d.port and port in client_ports \
                    and inode != "0":
                inode_port["socket:[%s]" % inode] = port
    holder = {}
    for pid in d.worker_pids():
        fd_dir = "/proc/%d/fd" % pid
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link in inode_port:
                holder[inode_port[link]] = pid
    return holder


def count_by_worker(holder):
    held = {}
    for pid in holder.values():
        held[pid] = held.get(pid, 0) + 1
    return held


class HangingRequest:
    """A POST /download-url on its own connection, its answer read by a
    thread: with S3 a blackhole it hangs until S3 hangs up or its worker
    dies."""

    BODY = json.dumps({"file_key": "uploads/x.pdf"}).encode()

    def __init__(self, d):
        self.sock = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        self.port = self.sock.getsockname()[1]
        self.sock.sendall(harness.raw_request("POST", "/download-url",
                                              ["Content-Type: application/json"],
                                              self.BODY))
        self.reply = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        self.reply = harness.read_response(self.sock, timeout=90)

    def done(self):
        return not self.thread.is_alive()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)     # ends a read under way
        except OSError:
            pass
        self.thread.join(5)
        self.sock.close()


def test_in_flight_gauge_forgets_a_dead_workers_requests(presignd, blackhole):
    """N requests hang on S3 (a blackhole) across 2 workers; the gauge reads
    N + 1. SIGKILL the worker holding most of them: the gauge drops by
    exactly the number it held (its slot cleared by the master) while the
    other worker's requests still count. When those end too (S3 hangs up:
    503), the gauge is back to its idle value.

    Were the dead worker's slot not cleared, nobody would ever decrement
    it: the gauge would stay at N + 1 after the kill (and at k + 1 at the
    end, k the killed worker's share), so the wait after the kill fails
    after 10 s; a replacement reusing the slot would start from that stale
    count, with the same result. (Checked by stopping the worker with
    SIGSTOP instead: alive, it is not reaped and its slot stays counted,
    and the test fails there.)"""
    n = 6
    d = presignd({"s3": {"endpoint": blackhole.endpoint, "max_attempts": 1,
                         # Far longer than the test: only the blackhole's
                         # stop() ends the S3 calls.
                         "request_timeout_ms": 60000}}, workers=2)
    workers = harness.wait_for(lambda: len(d.worker_pids()) == 2 and d.worker_pids(), 10,
                               what="2 workers")
    # Idle, the gauge counts one request: the /metrics request reading it
    # (counted from its arrival until its answer is written, like any other).
    assert in_flight(d) == 1

    # Enough hanging requests that both workers hold some (which worker
    # accepts a connection is the kernel's choice; each new one gets the
    # first free worker, so usually they alternate).
    hanging = []
    try:
        held = {}
        while len(hanging) < n or (len(held) < 2 and len(hanging) < 40):
            hanging.append(HangingRequest(d))
            wait_in_flight(d, len(hanging) + 1, "request %d to be in flight" % len(hanging))
            holder = worker_of_connections(d, {h.port for h in hanging})
            held = count_by_worker(holder)
        total = len(hanging)
        assert len(holder) == total, (holder, total)
        assert set(held) <= set(workers), (held, workers)
        assert not any(h.done() for h in hanging), [h.reply for h in hanging if h.done()]
        print("\nin flight: %d requests held by workers %s" % (total, held))

        victim = max(held, key=held.get)
        killed = held[victim]
        survivors_held = total - killed
        victim_ports = {port for port, pid in holder.items() if pid == victim}
        os.kill(victim, signal.SIGKILL)

        # The master reaps it and clears its slot: exactly the survivors'
        # requests remain, plus the /metrics request itself.
        wait_in_flight(d, survivors_held + 1,
                       "the gauge to drop by the %d requests of the killed worker %d"
                       % (killed, victim))
        harness.wait_for(lambda: victim not in d.worker_pids() and len(d.worker_pids()) == 2,
                         10, what="the killed worker to be replaced")
        # It stays there: the replacement starts from zero, and the other
        # worker's requests are still counted (its slot was left alone).
        assert [in_flight(d) for _ in range(5)] == [survivors_held + 1] * 5
        # The killed worker's clients were cut off; the others still wait.
        harness.wait_for(lambda: all(h.done() for h in hanging if h.port in victim_ports), 10,
                         what="the killed worker's connections to close")
        for h in hanging:
            if h.port in victim_ports:
                assert h.reply.status is None and h.reply.closed, h.reply
            else:
                assert not h.done(), h.reply

        # S3 hangs up: the requests still in flight end with a 503.
        blackhole.stop()
        harness.wait_for(lambda: all(h.done() for h in hanging), 30,
                         what="the hanging requests to end once S3 hung up")
        for h in hanging:
            if h.port not in victim_ports:
                assert harness.error_shape_problem(h.reply, 503, "s3_unavailable") is None
        # Back to idle: only the /metrics request itself.
        wait_in_flight(d, 1, "the gauge to return to its idle value")
    finally:
        for h in hanging:
            h.close()
