"""test_slow_clients.py - clients that take a connection and never finish a
request (slowloris), and the two limits against them: server.header_timeout
(a request's line and headers must be complete within it from the accept,
or from the first byte of the next request on a kept-alive connection,
however slowly they trickle) and server.max_connections (per worker: at the
limit a worker stops accepting until one of its connections closes).

The first test takes the figures of the slow-client defence (README, "On
the open internet"): 5,000 connections trickling a byte a second, each closed by presignd within
header_timeout + 1 s, while a normal client is served (>= 99.9 %, p99
under 50 ms) and a reload completes (under 2 s). It prints the figures.
The others pin the edges: an idle kept-alive connection and a slow body are
not the header deadline's business; the connection limit holds new
connections in the backlog until a slot frees.
"""

import collections
import errno
import json
import math
import os
import re
import resource
import selectors
import socket
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest

import harness
from harness import raw_request, read_response, wait_closed, wait_for

HEADER_TIMEOUT = 3          # seconds; short, so that the tests are quick
SLACK = 1.0                 # what "closed within header_timeout" may take beyond it

UPLOAD = b'{"filename": "slow.pdf", "size": 1024}'


def binary():
    return os.environ.get("PRESIGND_BIN") or str(harness.ROOT / "build" / "presignd")


def percentile(values, p):
    """The P-th percentile (0..100) of VALUES, nearest rank."""
    s = sorted(values)
    if not s:
        return float("nan")
    return s[max(0, min(len(s), math.ceil(p / 100.0 * len(s))) - 1)]


@pytest.fixture
def nofile():
    """Raise this process's descriptor limit to N (soft, up to the hard
    limit) for the test; the old limit is put back after it."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)

    def want(n):
        soft, hard = old
        harness.require(hard == resource.RLIM_INFINITY or hard >= n,
                        "the test needs %d descriptors; the hard RLIMIT_NOFILE is %d "
                        "(raise it, e.g. ulimit -Hn %d)" % (n, hard, n))
        if soft != resource.RLIM_INFINITY and soft < n:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    yield want
    resource.setrlimit(resource.RLIMIT_NOFILE, old)


def trickle(sock, data, interval, limit):
    """Send DATA a byte at a time, INTERVAL seconds apart, until it is all
    sent (returns None) or the server closes the connection (returns the
    seconds it took), or LIMIT seconds pass (returns None)."""
    t0 = time.monotonic()
    for i in range(len(data)):
        if time.monotonic() - t0 > limit:
            return None
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return time.monotonic() - t0
        closed = wait_closed(sock, interval)
        if closed is not None:
            return time.monotonic() - t0
    return None


# ------------------------------------------------------------- the figures

class _Conn:
    __slots__ = ("sock", "started", "connected", "sent", "done")

    def __init__(self, sock, started):
        self.sock = sock
        self.started = started
        self.connected = None
        self.sent = 0
        self.done = False


class Trickler:
    """CONCURRENCY connections to PORT, opened at up to RATE a second, each
    sending one byte of a request head every INTERVAL seconds and never
    finishing it; while the attack lasts a connection presignd closes is
    replaced by a new one. One thread (the caller's), one selector.

    For every connection presignd closed, .lifetimes has the seconds from
    its connect completing to its end (end of file or reset, or a send that
    failed); .answered counts connections on which presignd sent anything
    (an answer to half a request head would be wrong)."""

    HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000

    def __init__(self, port, concurrency, rate, interval=1.0):
        self.addr = ("127.0.0.1", port)
        self.concurrency = concurrency
        self.rate = rate
        self.interval = interval
        self.sel = selectors.DefaultSelector()
        self.due = collections.deque()      # (when, conn): always in time order
        self.live = 0                       # connecting or connected
        self.opened = 0
        self.peak = 0
        self.connect_errors = []
        self.connect_times = []
        self.lifetimes = []
        self.answered = 0
        self.still_open = 0
        self.max_lag = 0.0                  # the longest turn of the loop

    def _open(self, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            self.connect_errors.append(os.strerror(err))
            s.close()
            return
        self.opened += 1
        self.live += 1
        self.peak = max(self.peak, self.live)
        self.sel.register(s, selectors.EVENT_WRITE, _Conn(s, now))

    def _connected(self, c, now):
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.connect_errors.append(os.strerror(err))
            self._drop(c)
            return
        c.connected = now
        self.connect_times.append(now - c.started)
        self.sel.modify(c.sock, selectors.EVENT_READ, c)
        self._send(c, now)

    def _send(self, c, now):
        try:
            c.sock.send(self.HEAD[c.sent:c.sent + 1])
            c.sent += 1
        except BlockingIOError:
            pass
        except OSError:
            self._closed(c, now)
            return
        self.due.append((now + self.interval, c))

    def _drop(self, c):
        c.done = True
        self.live -= 1
        self.sel.unregister(c.sock)
        c.sock.close()

    def _closed(self, c, now):
        if not c.done:
            self.lifetimes.append(now - c.connected)
            self._drop(c)

    def _readable(self, c, now):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._closed(c, now)
            return
        if data:
            self.answered += 1
        else:
            self._closed(c, now)

    def run(self, seconds, drain, tick=None):
        """Attack for SECONDS, then wait up to DRAIN more seconds for
        presignd to close what is left (what is still open then is counted
        in .still_open and closed). TICK(now) is called on every turn."""
        start = last = prev = time.monotonic()
        tokens = 0.0
        while True:
            now = time.monotonic()
            self.max_lag = max(self.max_lag, now - last)
            last = now
            attacking = now - start < seconds
            if attacking:
                # A token bucket: RATE a second, bursts of 50 ms at most.
                tokens = min(tokens + (now - prev) * self.rate, self.rate * 0.05)
                prev = now
                while tokens >= 1 and self.live < self.concurrency:
                    self._open(now)
                    tokens -= 1
            while self.due and self.due[0][0] <= now:
                c = self.due.popleft()[1]
                if not c.done:
                    self._send(c, now)
            if tick:
                tick(now)
            if not attacking and (self.live == 0 or now - start > seconds + drain):
                break
            wait = 0.01
            if self.due:
                wait = max(0.0, min(wait, self.due[0][0] - now))
            for key, _ in self.sel.select(wait):
                c = key.data
                t = time.monotonic()
                if c.done:
                    continue
                if c.connected is None:
                    self._connected(c, t)
                else:
                    self._readable(c, t)
        for key in list(self.sel.get_map().values()):
            self.still_open += 1
            key.fileobj.close()
        self.sel.close()


class NormalClient(threading.Thread):
    """A well-behaved client: GET / and POST /upload-url in turn, on a new
    connection each time and on one kept-alive connection, RATE requests a
    second until stopped. Every request is recorded as (start time, seconds,
    problem or None)."""

    def __init__(self, port, rate):
        super().__init__(daemon=True, name="normal-client")
        self.port = port
        self.period = 1.0 / rate
        self.stopping = threading.Event()
        self.results = []
        self.kept = None

    def _kept(self):
        if self.kept is None:
            self.kept = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return self.kept

    def _one(self, i):
        get = i % 2 == 0
        data = raw_request("GET", "/") if get else \
            raw_request("POST", "/upload-url", ["Content-Type: application/json"], UPLOAD)
        if (i // 2) % 2 == 0:                           # a new connection
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            try:
                s.sendall(data)
                r = read_response(s, timeout=5)
            finally:
                s.close()
        else:                                           # the kept-alive one
            s = self._kept()
            try:
                s.sendall(data.replace(b"Connection: close\r\n", b""))
                r = read_response(s, timeout=5)
            except OSError:
                self.kept = None
                s.close()
                raise
            if r.closed or r.headers.get("connection", "").lower() == "close":
                self.kept = None
                s.close()
        if r.status != 200:
            return "HTTP %s: %r" % (r.status, r)
        body = r.json()
        if not (body.get("message") if get else body.get("presigned_url")):
            return "unexpected body %r" % (body,)
        return None

    def run(self):
        i = 0
        nxt = time.monotonic()
        while not self.stopping.is_set():
            t0 = time.monotonic()
            try:
                problem = self._one(i)
            except Exception as e:  # noqa: BLE001 - every failure counts
                problem = "%s: %s" % (type(e).__name__, e)
            self.results.append((t0, time.monotonic() - t0, problem))
            i += 1
            nxt += self.period
            time.sleep(max(0.0, nxt - time.monotonic()))
        if self.kept is not None:
            self.kept.close()

    def stop(self):
        self.stopping.set()
        self.join(30)
        assert not self.is_alive(), "the normal client hung"

    def between(self, t0, t1):
        return [r for r in self.results if t0 <= r[0] < t1]


def server_durations(d, t0, t1):
    """duration_ms of the access log lines of 200 answers to / and
    /upload-url written between the wall-clock times T0 and T1."""
    out = []
    for line in d.log().splitlines():
        i = line.find('{"time"')
        if i < 0:
            continue
        try:
            rec = json.loads(line[i:])
            at = datetime.strptime(rec["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        except (ValueError, KeyError):
            continue
        at = at.replace(tzinfo=timezone.utc).timestamp()
        if t0 <= at < t1 and rec.get("route") in ("/", "/upload-url") and \
                rec.get("status") == 200:
            out.append(rec["duration_ms"])
    return out


CONCURRENCY = 5000
OPEN_RATE = 2500            # new connections a second, at most
ATTACK = 10.0               # seconds the 5,000 are kept up
RELOAD_AT = 5.0             # seconds into the attack
NORMAL_RATE = 200           # the normal client's requests a second


def test_5000_trickling_connections_while_serving_and_reloading(presignd, nofile):
    nofile(CONCURRENCY + 1000)
    d = presignd(workers=2, overrides={"server": {"header_timeout": HEADER_TIMEOUT,
                                                  "shutdown_timeout": 10}})
    client = NormalClient(d.port, NORMAL_RATE)
    client.start()
    time.sleep(2)                                       # a quiet baseline first
    attack = Trickler(d.port, CONCURRENCY, OPEN_RATE)
    reload = {}

    def tick(now):
        if "proc" not in reload and now - t_attack >= RELOAD_AT:
            d.write_config({"presign": {"expires": 300}})
            reload["t0"] = time.monotonic()
            reload["proc"] = subprocess.Popen([binary(), "-R", str(d.pid)],
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE)
        p = reload.get("proc")
        if p is not None and "took" not in reload and p.poll() is not None:
            reload["took"] = time.monotonic() - reload["t0"]
    t_attack, wall_attack = time.monotonic(), time.time()
    try:
        attack.run(ATTACK, drain=HEADER_TIMEOUT + 5, tick=tick)
        t_end, wall_end = time.monotonic(), time.time()
        time.sleep(1)
    finally:
        client.stop()
        if "proc" in reload:
            p = reload["proc"]
            p.wait(60)
            reload.setdefault("took", time.monotonic() - reload["t0"])
            reload["code"] = p.returncode
            reload["stderr"] = p.stderr.read().decode("utf-8", "replace")
            p.stderr.close()

    before = client.between(0, t_attack)
    during = client.between(t_attack, t_end)
    lat = [r[1] * 1000 for r in during]
    failed = [r for r in during if r[2]]
    ok_ratio = 1 - len(failed) / max(1, len(during))
    over = max(attack.lifetimes) - HEADER_TIMEOUT if attack.lifetimes else float("nan")
    server_ms = server_durations(d, wall_attack, wall_end)
    print("\nslow clients: %d trickling connections kept up for %.0f s (peak %d open, %d "
          "opened in all, %d connect errors; connect p99 %.1f ms), header_timeout %d s"
          % (CONCURRENCY, ATTACK, attack.peak, attack.opened, len(attack.connect_errors),
             percentile(attack.connect_times, 99) * 1000, HEADER_TIMEOUT))
    print("  closed by presignd: %d of %d, lifetime p50 %.2f s, max %.2f s (%+.2f s after "
          "the deadline); %d answered, %d still open at the end; trickler's longest turn "
          "%.0f ms" % (len(attack.lifetimes), attack.opened - len(attack.connect_errors),
                       percentile(attack.lifetimes, 50), max(attack.lifetimes or [0]), over,
                       attack.answered, attack.still_open, attack.max_lag * 1000))
    print("  normal client during the attack: %d requests, %.3f %% ok, p50 %.1f ms, p99 "
          "%.1f ms, max %.1f ms (before it: %d requests, p50 %.1f ms, p99 %.1f ms)"
          % (len(during), 100 * ok_ratio, percentile(lat, 50), percentile(lat, 99),
             max(lat or [0]), len(before), percentile([r[1] * 1000 for r in before], 50),
             percentile([r[1] * 1000 for r in before], 99)))
    print("  presignd's own time for them (access log): p50 %.2f ms, p99 %.2f ms, max "
          "%.2f ms" % (percentile(server_ms, 50), percentile(server_ms, 99),
                       max(server_ms or [0])))
    print("  presignd -R during the attack: %.2f s, exit %s" % (reload.get("took", -1),
                                                                reload.get("code")))
    for r in failed[:10]:
        print("  failed: %s" % r[2])

    assert not attack.connect_errors, attack.connect_errors[:10]
    assert attack.peak == CONCURRENCY
    assert attack.still_open == 0, "%d connections were never closed" % attack.still_open
    assert len(attack.lifetimes) == attack.opened
    assert max(attack.lifetimes) <= HEADER_TIMEOUT + SLACK, \
        "a trickling connection lived %.2f s (the trickler's longest turn: %.0f ms)" % (
            max(attack.lifetimes), attack.max_lag * 1000)
    assert attack.answered == 0
    assert reload.get("code") == 0, reload.get("stderr")
    assert reload["took"] < 2.0
    assert ok_ratio >= 0.999, failed[:10]
    # The client's figure includes this (busy) Python process and the
    # machine's load: presignd's own p99 and the client's before the
    # attack tell which one a failure is about.
    assert percentile(lat, 99) < 50, \
        "p99 %.1f ms; presignd's own p99 %.2f ms; the client's before the attack %.1f ms" % (
            percentile(lat, 99), percentile(server_ms, 99),
            percentile([r[1] * 1000 for r in before], 99))
    # The reload really happened: the new configuration serves.
    r = d.post("/upload-url", data=UPLOAD, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["expires_in"] == 300, r.text


# -------------------------------------------------- one slow connection

EDGES = {"header_timeout": 2, "read_timeout": 10, "write_timeout": 10,
         "keepalive_timeout": 10}


def test_trickled_request_head_is_cut_off_at_header_timeout(presignd):
    """One byte every 0.25 s re-arms evhttp's read timeout every time; the
    header deadline does not move."""
    d = presignd(workers=1, overrides={"server": EDGES})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        head = raw_request("GET", "/", ["X-Slow: " + "a" * 200])
        took = trickle(s, head, 0.25, limit=15)
    finally:
        s.close()
    print("trickled head closed after %s s (header_timeout 2 s, read_timeout 10 s)" % took)
    assert took is not None, "a trickling client was still connected after 15 s"
    assert 2 - 0.3 <= took <= 2 + SLACK


def test_silent_new_connection_is_closed_at_header_timeout(presignd):
    d = presignd(workers=1, overrides={"server": EDGES})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        took = wait_closed(s, 15)
    finally:
        s.close()
    assert took is not None and 2 - 0.3 <= took <= 2 + SLACK, took


def test_idle_kept_alive_connection_is_not_cut_by_header_timeout(presignd):
    """Between kept-alive requests the connection is evhttp's (its idle
    timeout, here 10 s): idle twice the header deadline, it still takes the
    next request. A next request that starts and then trickles is cut off
    header_timeout after its first byte."""
    d = presignd(workers=1, overrides={"server": EDGES})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        for idle in (0, 4, 4):
            time.sleep(idle)
            s.sendall(raw_request("GET", "/", close=False))
            r = read_response(s, timeout=5)
            assert r.status == 200 and not r.closed, "after %d s idle: %r" % (idle, r)
        time.sleep(3)
        took = trickle(s, raw_request("GET", "/", ["X-Slow: " + "a" * 200], close=False),
                       0.25, limit=15)
    finally:
        s.close()
    assert took is not None, "a trickled second request was still going after 15 s"
    assert 2 - 0.3 <= took <= 2 + SLACK, took


def test_slow_body_is_read_timeouts_business(presignd):
    """Headers complete, body trickling: header_timeout no longer applies
    (the body may take longer than it, byte by byte), read_timeout does (a
    body that stops is cut off after it)."""
    d = presignd(workers=1, overrides={"server": dict(EDGES, read_timeout=4)})
    head = raw_request("POST", "/upload-url", ["Content-Type: application/json",
                                               "Content-Length: %d" % len(UPLOAD)])
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        s.sendall(head)
        t0 = time.monotonic()
        for i in range(len(UPLOAD)):            # 38 bytes, 0.15 s apart: 5.5 s
            time.sleep(0.15)
            s.sendall(UPLOAD[i:i + 1])
        took = time.monotonic() - t0
        r = read_response(s, timeout=5)
    finally:
        s.close()
    assert took > 2 + SLACK
    assert r.status == 200, r
    assert r.json()["file_key"].endswith("-slow.pdf")

    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        s.sendall(head + UPLOAD[:5])
        cut = wait_closed(s, 15)
    finally:
        s.close()
    assert cut is not None and 4 - 0.5 <= cut <= 4 + SLACK, cut


# ------------------------------------------------------ max_connections

LIMIT = 20
HOLD = {"header_timeout": 60, "read_timeout": 60, "write_timeout": 60,
        "keepalive_timeout": 60}
LIMIT_WARNING = ("%d client connections: not accepting more until one closes "
                 "(server.max_connections)" % LIMIT)


def connect(port, n):
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]


def send_get(socks):
    for s in socks:
        s.sendall(raw_request("GET", "/"))


def answered_within(socks, timeout):
    """For each of SOCKS (a GET / sent on each): the seconds until its
    answer's first bytes arrived, or None when nothing came in TIMEOUT."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    out = {s: None for s in socks}
    t0 = time.monotonic()
    while any(v is None for v in out.values()):
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            break
        for key, _ in sel.select(left):
            if out[key.fileobj] is None:
                out[key.fileobj] = time.monotonic() - t0
                sel.unregister(key.fileobj)
    sel.close()
    return [out[s] for s in socks]


def test_at_max_connections_a_worker_leaves_new_ones_in_the_backlog(presignd):
    d = presignd(workers=1, overrides={"server": dict(HOLD, max_connections=LIMIT)})
    held = connect(d.port, LIMIT)
    waiting = []
    try:
        d.wait_log(re.escape(LIMIT_WARNING), timeout=5)
        # The kernel completes the handshakes (the listen backlog), the
        # worker takes no more: their requests go unanswered.
        waiting = connect(d.port, 5)
        send_get(waiting)
        assert answered_within(waiting, 1.5) == [None] * 5
        # Slots free up (the count catches up within a second): the
        # waiting ones are accepted and answered.
        for s in held[:5]:
            s.close()
        t0 = time.monotonic()
        got = answered_within(waiting, 5)
        print("answered %.2f s after 5 connections closed (per connection: %s)"
              % (time.monotonic() - t0, ["%.2f" % g for g in got if g is not None]))
        assert None not in got, got
        assert max(got) < 2.5
        for s in waiting:
            r = read_response(s, timeout=5)
            assert r.status == 200, r
        # The idle ones that were not closed are still there.
        held = held[5:]
        for s in held[:3]:
            s.sendall(raw_request("GET", "/"))
            assert read_response(s, timeout=5).status == 200
    finally:
        for s in held + waiting:
            s.close()
    assert d.log().count(LIMIT_WARNING) == 1, "the warning is not repeated within 10 s"


def test_max_connections_is_per_worker(presignd):
    """With two workers the one at its limit leaves new connections to the
    other; only when both are full do they wait."""
    d = presignd(workers=2, overrides={"server": dict(HOLD, max_connections=LIMIT)})
    held = connect(d.port, LIMIT + 10)
    more, probe = [], []
    try:
        probe = connect(d.port, 1)
        send_get(probe)
        assert answered_within(probe, 2) != [None], "refused below 2 x max_connections"
        more = connect(d.port, LIMIT - 10)              # 2 x LIMIT in all
        wait_for(lambda: d.log().count(LIMIT_WARNING) == 2, 5,
                 what="both workers at max_connections")
        time.sleep(1.5)         # the probe's slot, freed by the next sweep, is taken
        late = connect(d.port, 1)
        more += late
        send_get(late)
        assert answered_within(late, 1.5) == [None]
        held[0].close()
        assert answered_within(late, 5) != [None]
        assert read_response(late[0], timeout=5).status == 200
    finally:
        for s in held + more + probe:
            s.close()
