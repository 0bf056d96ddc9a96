#!/usr/bin/python3
"""load.py - the clients of `make fleet`: a steady mixed load through the
load balancer, run by scripts/fleet inside the clients' network namespace.

    load.py --api http://LB --types JSON [--workers 8] [--rate 2.0]

Each worker repeats, at RATE iterations a second, what a real client of
presignd does: POST /upload-url, PUT the bytes to S3 through the presigned
URL with exactly the headers the answer lists, POST /download-url, GET
through that URL and compare the bytes, GET /files (every third time),
GET / (every fifth: which build answered), DELETE /files/{key}. Half of
the workers keep their connections alive (one requests.Session for the
API, one for S3), the other half open a new connection for every request.

Commands on stdin, one a line:
    phase NAME          count what starts from now on under NAME
    revoked KEYID T     the access key KEYID stopped working at unix time T
                        (a presigned URL signed with it and used after T is
                        counted as "used after revocation")
    report              print the figures of every phase (one JSON line)
    quit                stop after the requests in flight, report, exit

A request is counted in the phase it started in. A failure is any answer
other than the one expected, a connection error, a timeout, or bytes that
differ; each is kept with its kind, start and end time.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
import traceback
import urllib.parse

import requests

TIMEOUT = (3, 15)


def akid_of(url):
    """The access key id a presigned URL was signed with."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    cred = (q.get("X-Amz-Credential") or [""])[0]
    return cred.split("/", 1)[0]


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


class Phase:
    def __init__(self, name, start):
        self.name = name
        self.start = start
        self.end = None
        self.requests = 0
        self.by_kind = {}
        self.api = 0
        self.s3 = 0
        self.keepalive = 0
        self.newconn = 0
        self.failed = 0
        self.failure_kinds = {}
        self.failures = []
        self.akids = {}
        self.versions = {}
        self.revoked_use = 0
        self.lat_api = []
        self.lat_s3 = []

    def report(self):
        return {
            "name": self.name, "start": self.start, "end": self.end,
            "requests": self.requests, "api": self.api, "s3": self.s3,
            "keepalive": self.keepalive, "newconn": self.newconn,
            "by_kind": self.by_kind, "failed": self.failed,
            "failure_kinds": self.failure_kinds, "failures": self.failures[:200],
            "akids": self.akids, "versions": self.versions,
            "revoked_use": self.revoked_use,
            "latency_ms": {
                "api_p50": 1000 * percentile(self.lat_api, 50),
                "api_p99": 1000 * percentile(self.lat_api, 99),
                "api_max": 1000 * max(self.lat_api or [0]),
                "s3_p50": 1000 * percentile(self.lat_s3, 50),
                "s3_p99": 1000 * percentile(self.lat_s3, 99),
            },
        }


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.phases = [Phase("start", time.time())]
        self.revoked = {}

    def set_phase(self, name):
        with self.lock:
            now = time.time()
            self.phases[-1].end = now
            self.phases.append(Phase(name, now))

    def phase_at(self, t):
        for ph in reversed(self.phases):
            if ph.start <= t:
                return ph
        return self.phases[0]

    def record(self, kind, t0, t1, keepalive, failure=None, detail=None):
        with self.lock:
            ph = self.phase_at(t0)
            ph.requests += 1
            ph.by_kind[kind] = ph.by_kind.get(kind, 0) + 1
            is_s3 = kind.endswith(" s3")
            if is_s3:
                ph.s3 += 1
                ph.lat_s3.append(t1 - t0)
            else:
                ph.api += 1
                ph.lat_api.append(t1 - t0)
            if keepalive:
                ph.keepalive += 1
            else:
                ph.newconn += 1
            if failure:
                ph.failed += 1
                ph.failure_kinds[failure] = ph.failure_kinds.get(failure, 0) + 1
                if len(ph.failures) < 1000:
                    ph.failures.append({"kind": failure, "detail": (detail or "")[:300],
                                        "t0": t0, "t1": t1})

    def signed(self, t, akid):
        with self.lock:
            ph = self.phase_at(t)
            a = ph.akids.setdefault(akid, {"n": 0, "first": t, "last": t})
            a["n"] += 1
            a["last"] = max(a["last"], t)

    def used(self, t, akid):
        with self.lock:
            r = self.revoked.get(akid)
            if r is not None and t >= r:
                self.phase_at(t).revoked_use += 1

    def version(self, t, v):
        with self.lock:
            ph = self.phase_at(t)
            ph.versions[v] = ph.versions.get(v, 0) + 1

    def report(self):
        with self.lock:
            return {"phases": [p.report() for p in self.phases], "time": time.time()}


class Worker(threading.Thread):
    def __init__(self, idx, args, stats, types, stop):
        super().__init__(daemon=True, name="client-%d" % idx)
        self.idx = idx
        self.api_base = args.api.rstrip("/")
        self.keepalive = idx % 2 == 0
        self.period = 1.0 / args.rate
        self.stats = stats
        self.types = types
        self.stop = stop
        self.rng = random.Random(args.seed * 1000 + idx)
        self.api_session = requests.Session() if self.keepalive else None
        self.s3_session = requests.Session() if self.keepalive else None

    def call(self, kind, method, url, session, expect, check=None, **kw):
        """One request, counted once: returns the response, or None when it
        failed (wrong status, connection error, or CHECK(response)
        returning what is wrong with it)."""
        t0 = time.time()
        keepalive = session is not None
        headers = dict(kw.pop("headers", None) or {})
        if not keepalive:
            headers["Connection"] = "close"
        try:
            if keepalive:
                r = session.request(method, url, headers=headers, timeout=TIMEOUT, **kw)
            else:
                r = requests.request(method, url, headers=headers, timeout=TIMEOUT, **kw)
            t1 = time.time()
        except requests.RequestException as e:
            self.stats.record(kind, t0, time.time(), keepalive,
                              "%s: %s" % (kind, type(e).__name__), str(e))
            return None
        if r.status_code != expect:
            code = ""
            try:
                code = r.json().get("error_code", "")
            except ValueError:
                if "<Code>" in r.text:
                    code = r.text.split("<Code>", 1)[1].split("</Code>", 1)[0]
            self.stats.record(kind, t0, t1, keepalive,
                              "%s: HTTP %d %s" % (kind, r.status_code, code),
                              r.text[:300])
            return None
        wrong = None
        if check is not None:
            try:
                wrong = check(r)
            except ValueError as e:         # not JSON
                wrong = "unreadable answer (%s)" % e
        if wrong:
            self.stats.record(kind, t0, t1, keepalive, "%s: %s" % (kind, wrong), r.text[:300])
            return None
        self.stats.record(kind, t0, t1, keepalive)
        r.t0, r.t1 = t0, t1
        return r

    def api(self, kind, method, path, expect=200, **kw):
        return self.call(kind, method, self.api_base + path, self.api_session, expect, **kw)

    def iteration(self, i):
        ext, ctype = self.types[self.rng.randrange(len(self.types))]
        name = "fleet-w%d-%d%s" % (self.idx, i, ext)
        body = os.urandom(self.rng.randint(1, 16384))

        def has_url(r):
            doc = r.json()
            if not doc.get("presigned_url") or not doc.get("file_key"):
                return "answer without presigned_url or file_key"
            return None

        r = self.api("POST /upload-url", "POST", "/upload-url", check=has_url,
                     json={"filename": name, "content_type": ctype, "size": len(body)})
        if r is None:
            return
        up = r.json()
        url, key = up["presigned_url"], up["file_key"]
        self.stats.signed(r.t1, akid_of(url))
        self.stats.used(time.time(), akid_of(url))
        if self.call("PUT s3", up.get("method", "PUT"), url, self.s3_session, 200,
                     data=body, headers=up.get("headers") or {}) is None:
            return

        r = self.api("POST /download-url", "POST", "/download-url", check=has_url,
                     json={"file_key": key})
        if r is None:
            return
        dl = r.json()
        url = dl["presigned_url"]
        self.stats.signed(r.t1, akid_of(url))
        self.stats.used(time.time(), akid_of(url))

        def same_bytes(g):
            if g.content != body:
                return "bytes differ (%d bytes, expected %d)" % (len(g.content), len(body))
            return None
        if self.call("GET s3", dl.get("method", "GET"), url, self.s3_session, 200,
                     check=same_bytes, headers=dl.get("headers") or {}) is None:
            return

        if i % 3 == 0:
            self.api("GET /files", "GET", "/files",
                     check=lambda r: None if "files" in r.json() else "answer without files",
                     params={"prefix": "uploads/", "max_keys": "20"})
        if i % 5 == 0:
            r = self.api("GET /", "GET", "/",
                         check=lambda r: None if "version" in r.json() else "no version")
            if r is not None:
                self.stats.version(r.t0, r.json()["version"])

        self.api("DELETE /files", "DELETE", "/files/" + urllib.parse.quote(key, safe="/"))

    def run(self):
        # Spread the workers' starts over one period.
        time.sleep(self.period * self.idx / 8.0)
        nxt = time.monotonic()
        i = 0
        while not self.stop.is_set():
            try:
                self.iteration(i)
            except Exception as e:  # a client bug must show, not kill the thread
                t = time.time()
                self.stats.record("client", t, t, self.keepalive,
                                  "client: %s" % type(e).__name__,
                                  traceback.format_exc()[-300:])
            i += 1
            nxt += self.period
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.monotonic()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", required=True)
    ap.add_argument("--types", required=True,
                    help="JSON object: extension -> content type")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rate", type=float, default=2.0,
                    help="iterations a second per worker")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    types = sorted(json.loads(args.types).items())

    stats = Stats()
    stop = threading.Event()
    workers = [Worker(i, args, stats, types, stop) for i in range(args.workers)]
    for w in workers:
        w.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "phase":
            stats.set_phase(words[1])
        elif words[0] == "revoked":
            with stats.lock:
                stats.revoked[words[1]] = float(words[2])
        elif words[0] == "report":
            print(json.dumps(stats.report()), flush=True)
        elif words[0] == "quit":
            break
    stop.set()
    for w in workers:
        w.join(30)
    stats.phases[-1].end = time.time()
    print(json.dumps(stats.report()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
