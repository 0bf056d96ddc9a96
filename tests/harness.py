"""harness.py - what the integration tests drive: a throwaway Ceph RADOS
Gateway (the S3 server that verifies signatures like AWS) and presignd
daemons with their config, log and sd_notify socket.

It also holds the one copy of what several test files need:

  raw HTTP      raw_request() builds request bytes; send_raw() sends them on
                a new connection and reads the answer (a RawResponse);
                read_response() reads one off a socket the test holds;
                send_and_leave() sends and hangs up without reading
  errors        error_shape_problem(): what is wrong with a response that
                should be the fixed {"detail", "error_code"} JSON error
  Blackhole     a TCP server that accepts and never answers (a hung S3)
  HttpStub      a local HTTP server answering from a function or a route
                table, logging every request; serve_directory() makes it a
                static file server; ImdsStub is EC2's IMDSv2 on top of it
  FaultProxy    (faultproxy.py) an HTTP proxy in front of the test S3 that
                forwards byte for byte and injects 5xx answers, resets and
                stalls in shares the test sets, counting every request

conftest.py turns these into the `s3`, `presignd`, `presignd_asan`,
`blackhole`, `http_stub` and `fault_proxy` fixtures; tests may also import its functions
(free_port, deep_merge, ...).
Only Debian's /usr/bin/python3 with its stdlib, requests, boto3 and yaml.
"""

import copy
import http.server
import importlib.machinery
import importlib.util
import json
import mimetypes
import os
import re
import shutil
import signal as _signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import requests
import yaml
from requests.structures import CaseInsensitiveDict

import faultproxy

ROOT = Path(__file__).resolve().parents[1]
S3_LOCAL = ROOT / "scripts" / "s3-local"

TEST_BUCKET = "presignd-test"
TEST_REGION = "us-east-1"

# Log lines that mean a sanitizer found something, in any process.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "WARNING: ThreadSanitizer")


# The fault-injecting proxy lives in its own module; tests take it from here.
FaultProxy = faultproxy.FaultProxy
s3_operation = faultproxy.s3_operation


def require(ok, why):
    """The one skip policy. A test that cannot run here (a tool missing, no
    IPv6 loopback, not root) calls require(condition, why). Under `make
    test` (PRESIGND_TEST_STRICT=1), on a machine scripts/bootstrap
    prepared, nothing may be missing: the test fails with WHY. Run by hand
    (pytest on a partial setup) it is skipped with WHY."""
    import pytest
    if ok:
        return
    if os.environ.get("PRESIGND_TEST_STRICT"):
        pytest.fail("cannot run here: %s (scripts/bootstrap should have made this "
                    "possible)" % why, pytrace=False)
    pytest.skip(why)


class NotifyTimeout(AssertionError, TimeoutError):
    """An expected sd_notify message did not arrive in time."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deep_merge(base, overrides):
    """A copy of BASE with OVERRIDES merged in: dicts merge recursively, any
    other value replaces, and a value of None deletes the key."""
    out = copy.deepcopy(base)
    for k, v in (overrides or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Poll PRED until it returns something true; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


def sanitizer_report(text):
    """The first sanitizer report in TEXT (with some context), or None."""
    for pat in SANITIZER_PATTERNS:
        i = text.find(pat)
        if i >= 0:
            start = text.rfind("\n", 0, max(0, i - 200)) + 1
            return text[start:i + 4000]
    return None


def _load_s3_local():
    loader = importlib.machinery.SourceFileLoader("s3_local", str(S3_LOCAL))
    spec = importlib.util.spec_from_loader("s3_local", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------- S3

class S3Server:
    """A one-node Ceph cluster with radosgw, run by scripts/s3-local (loaded
    in-process so that its daemons are our children and are reaped)."""

    def __init__(self, directory, bucket=TEST_BUCKET, access_key=None,
                 secret_key=None, region=TEST_REGION, cors_origin=None, memstore_bytes=None):
        self._mod = _load_s3_local()
        # The OSD's RAM store: deleted objects are freed by RGW's garbage
        # collection hours later, so a long run needs more than the default.
        self.memstore_bytes = memstore_bytes
        self.dir = str(directory)
        self.bucket = bucket
        self.region = region
        self.access_key = access_key or "presignd-test-%s" % os.urandom(4).hex()
        self.secret_key = secret_key or os.urandom(20).hex()
        self.cors_origin = cors_origin
        self._cluster = self._mod.Cluster(self.dir)
        self.port = None
        self.start_seconds = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        t0 = time.monotonic()
        try:
            self._cluster.start(access_key=self.access_key, secret=self.secret_key,
                                bucket=self.bucket, uid="presignd-test",
                                region=self.region, cors_origin=self.cors_origin,
                                **({"memstore_bytes": self.memstore_bytes}
                                   if self.memstore_bytes else {}))
        except self._mod.Fail as e:
            raise RuntimeError("cannot start the local S3 server (radosgw) in %s:\n%s"
                               % (self.dir, e)) from None
        self.start_seconds = time.monotonic() - t0
        self.port = self._cluster.state["rgw_port"]
        return self

    def stop(self):
        """Stop every daemon of the cluster (idempotent)."""
        if os.path.exists(self._cluster.state_path):
            self._cluster.load().stop()

    def stop_gateway(self):
        """Stop radosgw only: S3 refuses connections until start_gateway()."""
        try:
            self._cluster.stop_gateway()
        except self._mod.Fail as e:
            raise RuntimeError(str(e)) from None

    def start_gateway(self):
        """Start radosgw again on the same port; returns once it serves."""
        try:
            self._cluster.start_gateway()
        except self._mod.Fail as e:
            raise RuntimeError(str(e)) from None

    def gateway_running(self):
        return "rgw" in self._cluster.running() and self._cluster.rgw_healthy()

    def pids(self):
        return dict(self._cluster.state.get("pids", {}))

    def client(self, **config):
        """A boto3 S3 client for this server: path style, SigV4."""
        import boto3
        from botocore.config import Config
        cfg = dict(signature_version="s3v4", s3={"addressing_style": "path"},
                   retries={"max_attempts": 3, "mode": "standard"},
                   connect_timeout=5, read_timeout=30)
        cfg.update(config)
        return boto3.client("s3", endpoint_url=self.endpoint,
                            region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(**cfg))


# ------------------------------------------------------------ sd_notify

class NotifySocket:
    """The datagram socket systemd would offer as NOTIFY_SOCKET; a thread
    collects every message so that tests can look at all of them."""

    def __init__(self):
        # sun_path is 108 bytes: keep the path short whatever the test's name.
        self._dir = tempfile.mkdtemp(prefix="psn-", dir="/tmp")
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)
        self._cond = threading.Condition()
        self._messages = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="notify-reader")
        self._thread.start()

    def _run(self):
        while not self._closed:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                self._messages.append(data.decode("utf-8", "replace"))
                self._cond.notify_all()

    def messages(self):
        with self._cond:
            return list(self._messages)

    def count(self):
        with self._cond:
            return len(self._messages)

    def wait(self, pred, timeout, since=0, alive=None):
        """First message at index >= SINCE for which PRED(msg) is true.
        PRED may be a string: the message must contain it as a whole line
        (e.g. "READY=1") or, failing that, as a substring. ALIVE, when given,
        is called while waiting and stops the wait early when it returns
        False (the daemon died)."""
        if isinstance(pred, str):
            want = pred
            pred = lambda m: want in m.split("\n") or want in m  # noqa: E731
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self._messages):
                    m = self._messages[i]
                    i += 1
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotifyTimeout("no matching sd_notify message within %.1fs; "
                                        "received: %r" % (timeout, self._messages))
                if alive is not None and not alive():
                    raise NotifyTimeout("the daemon exited before a matching sd_notify "
                                        "message; received: %r" % (self._messages,))
                self._cond.wait(min(left, 0.1))

    def close(self):
        self._closed = True
        self._thread.join(2)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


# -------------------------------------------------------------- presignd

ALLOWED_TYPES = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".bin": "application/octet-stream",
    ".csv": "text/csv",
}


def base_config(s3, port, workers=2):
    """The config every test daemon starts from (before overrides)."""
    cfg = {
        "server": {
            "listen": "127.0.0.1:%d" % port,
            "workers": workers,
            "shutdown_timeout": 5,
        },
        "presign": {"expires": 600},
        "uploads": {"prefix": "uploads/", "allowed_types": dict(ALLOWED_TYPES)},
    }
    if s3 is not None:
        cfg["s3"] = {
            "bucket": s3.bucket,
            "region": s3.region,
            "endpoint": s3.endpoint,
            "path_style": True,
            "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key,
        }
    return cfg


def _proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1])


def _proc_alive(pid):
    return _proc_ppid(pid) is not None


def _children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _proc_ppid(int(name)) == ppid:
            out.append(int(name))
    return sorted(out)


class Presignd:
    """One presignd daemon under test (see conftest.py for the fixture)."""

    READY_TIMEOUT = 30

    def __init__(self, s3, workdir, overrides=None, workers=2, env=None,
                 binary=None, name="presignd"):
        self.s3 = s3
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary or os.environ.get("PRESIGND_BIN") or \
            str(ROOT / "build" / "presignd")
        self.port = free_port()
        self.config_path = str(self.workdir / ("%s.yaml" % name))
        self.log_path = str(self.workdir / ("%s.log" % name))
        self.config = deep_merge(base_config(s3, self.port, workers), overrides)
        self._refresh_url()
        self._write(self.config)
        self._env = env
        self.proc = None
        self.notify = NotifySocket()
        self._seen_workers = set()
        self.exit_code = None

    # -------------------------------------------------------------- config
    def _refresh_url(self):
        listen = (self.config.get("server") or {}).get("listen")
        if isinstance(listen, list):
            listen = listen[0] if listen else None
        if isinstance(listen, str):
            m = re.match(r"^\[(.*)\]:(\d+)$", listen) or re.match(r"^(.*):(\d+)$", listen)
            if m:
                host = m.group(1)
                if host in ("0.0.0.0", "", "*"):
                    host = "127.0.0.1"
                elif host == "::":
                    host = "::1"
                self.port = int(m.group(2))
                self.url = "http://%s:%d" % ("[%s]" % host if ":" in host else host,
                                             self.port)
                return
        self.url = "http://127.0.0.1:%d" % self.port

    def _write(self, cfg):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            if isinstance(cfg, str):
                f.write(cfg)
            else:
                yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
        os.replace(tmp, self.config_path)

    def write_config(self, overrides=None):
        """Rewrite the config file (no signal). A dict is deep-merged into the
        config as last written (None deletes a key); a str is written as is
        (e.g. a broken file) and leaves self.config unchanged."""
        if isinstance(overrides, str):
            self._write(overrides)
            return
        self.config = deep_merge(self.config, overrides)
        self._write(self.config)
        self._refresh_url()

    # ------------------------------------------------------------- process
    def _environ(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC",
                                                          "WATCHDOG_PID", "LISTEN_FDS",
                                                          "LISTEN_PID")}
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1"
        # Never reach the real EC2 metadata service or a user's AWS files.
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
        env["AWS_CONFIG_FILE"] = "/nonexistent/config"
        for k, v in (self._env or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        env["NOTIFY_SOCKET"] = self.notify.path
        return env

    def start(self, wait_ready=True, timeout=None):
        """Start the daemon; by default wait for READY=1."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        since = self.notify.count()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         env=self._environ(), cwd=str(self.workdir))
        self.exit_code = None
        if wait_ready:
            try:
                self.notify.wait("READY=1", timeout or self.READY_TIMEOUT, since=since,
                                 alive=self.running)
            except NotifyTimeout as e:
                code = self.proc.poll()
                raise AssertionError("%s did not become ready (%s; exit code %s)\n"
                                     "---- log %s\n%s" % (self.binary, e, code,
                                                          self.log_path,
                                                          _tail(self.log()))) from None
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def worker_pids(self):
        """Live children of the master, from /proc."""
        if not self.running():
            return []
        pids = _children(self.proc.pid)
        self._seen_workers.update(pids)
        return pids

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=_signal.SIGTERM, timeout=20):
        """Send SIG and wait for the master to exit; returns its exit code
        (negative: killed by that signal). If it does not exit within
        TIMEOUT it is killed and AssertionError is raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.exit_code = self.proc.returncode
            return self.exit_code
        self.worker_pids()
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exit_code = self.proc.returncode
            raise AssertionError("presignd (pid %d) did not exit within %ss after signal %d\n"
                                 "---- log\n%s" % (self.proc.pid, timeout, sig,
                                                   _tail(self.log()))) from None
        return self.exit_code

    def wait_exit(self, timeout=20):
        """Wait for the master to exit by itself; returns the exit code."""
        self.exit_code = self.proc.wait(timeout)
        return self.exit_code

    # ----------------------------------------------------- logs and notify
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def notify_messages(self):
        return self.notify.messages()

    def wait_notify(self, pred, timeout=10, since=0):
        """First sd_notify message (index >= SINCE) matching PRED (a callable
        on the message text, or a string such as "READY=1")."""
        return self.notify.wait(pred, timeout, since=since)

    def wait_log(self, pattern, timeout=10, since=0):
        """Wait until the log (from byte offset SINCE) matches the regex
        PATTERN; returns the match."""
        rx = re.compile(pattern)

        def found():
            return rx.search(self.log()[since:])
        return wait_for(found, timeout, what="log line /%s/ in %s" % (pattern, self.log_path))

    def reload(self, expect_ok=True, timeout=15):
        """SIGHUP, then wait for the outcome: READY=1 after RELOADING=1 (the
        master's STATUS says "rejected" when the file was refused) or the
        "reload rejected" log line. Returns True when the new config serves.
        Raises AssertionError when the outcome is not EXPECT_OK."""
        since = self.notify.count()
        log_from = len(self.log())
        self.signal(_signal.SIGHUP)
        deadline = time.monotonic() + timeout
        ok = None
        reloading_seen = False
        i = since
        while ok is None:
            msgs = self.notify.messages()
            while i < len(msgs):
                m = msgs[i]
                i += 1
                lines = m.split("\n")
                if "RELOADING=1" in lines:
                    reloading_seen = True
                if "READY=1" in lines and reloading_seen:
                    ok = "rejected" not in m
                    break
            if ok is None and "reload rejected" in self.log()[log_from:]:
                ok = False
            if ok is None:
                if not self.running():
                    raise AssertionError("presignd exited during reload (code %s)\n---- log\n%s"
                                         % (self.proc.returncode, _tail(self.log())))
                if time.monotonic() > deadline:
                    raise AssertionError("reload had no outcome within %ss; sd_notify: %r\n"
                                         "---- log\n%s" % (timeout, msgs[since:],
                                                           _tail(self.log())))
                time.sleep(0.02)
        if ok != expect_ok:
            raise AssertionError("reload %s, expected it to %s\n---- log\n%s"
                                 % ("succeeded" if ok else "was rejected",
                                    "succeed" if expect_ok else "be rejected",
                                    _tail(self.log())))
        return ok

    # ---------------------------------------------------------------- HTTP
    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    # ------------------------------------------------------------ teardown
    def teardown(self):
        """Stop the daemon (TERM, then KILL) and everything it left behind;
        return a list of problems (a daemon that would not stop, a worker
        that outlived its master, a sanitizer report)."""
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            self.worker_pids()
            try:
                self.stop(_signal.SIGTERM, timeout=self._stop_timeout())
            except AssertionError as e:
                problems.append(str(e).split("\n")[0])
        # Workers must not outlive the master; give them a moment, then kill.
        if self.proc is not None:
            left = [p for p in self._seen_workers if self._is_ours(p)]
            if left:
                try:
                    wait_for(lambda: not any(self._is_ours(p) for p in left), 5,
                             what="workers to exit")
                except AssertionError:
                    left = [p for p in left if self._is_ours(p)]
                    for p in left:
                        try:
                            os.kill(p, _signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    problems.append("workers %s outlived the master; killed" % left)
        self.notify.close()
        report = sanitizer_report(self.log())
        if report:
            problems.append("sanitizer report in %s:\n%s" % (self.log_path, report))
        return problems

    def _stop_timeout(self):
        try:
            st = int(self.config.get("server", {}).get("shutdown_timeout", 5))
        except (TypeError, ValueError):
            st = 5
        return st + 15

    def _is_ours(self, pid):
        if not _proc_alive(pid):
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return False
        return self.config_path.encode() in argv


def bump_signature(url):
    """URL with one character of its X-Amz-Signature changed."""
    m = re.search(r"[?&]X-Amz-Signature=([0-9a-f])", url)
    assert m, "no X-Amz-Signature in URL"
    i = m.start(1)
    c = url[i]
    return url[:i] + ("0" if c != "0" else "1") + url[i + 1:]


# ------------------------------------------------------------- raw HTTP
# For requests an HTTP library would tidy up or refuse to send (malformed
# lines, conflicting lengths, pipelining, half-sent bodies) and answers it
# would hide (whether the server closed the connection, the exact status
# line, bytes after a HEAD answer).

def raw_request(method, target, headers=(), body=None, close=True):
    """The bytes of one HTTP/1.1 request: "Host: 127.0.0.1", then
    "Connection: close" (when CLOSE), then HEADERS (str or bytes lines, sent
    as they are), then a Content-Length for BODY unless HEADERS already
    frame it (Content-Length or Transfer-Encoding)."""
    if isinstance(target, str):
        target = target.encode()
    headers = [h.encode() if isinstance(h, str) else h for h in headers]
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if close:
        lines.append(b"Connection: close")
    lines.extend(headers)
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if not any(h.lower().startswith((b"content-length", b"transfer-encoding"))
                   for h in headers):
            lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


class RawResponse:
    """The first HTTP response in DATA, the bytes read off a raw socket.

    status (None when there is no status line), status_line, headers
    (case-insensitive; the first of repeated headers), body (Content-Length
    bytes when given, else everything after the head), rest (bytes after a
    framed response: a pipelined next response), closed (the server closed
    the connection), elapsed (seconds from connect to the end of reading).
    HEAD: the response to a HEAD request (no body whatever it declares).
    Quacks like requests.Response where tests need it: status_code,
    headers, text, json()."""

    def __init__(self, data, closed=False, elapsed=0.0, head=False):
        self.data = data
        self.closed = closed
        self.elapsed = elapsed
        self.status = None
        self.status_line = ""
        self.headers = CaseInsensitiveDict()
        self.body = b""
        self.rest = b""
        self.complete = False        # head and the whole framed body are here
        if not data:
            return
        head_part, sep, after = data.partition(b"\r\n\r\n")
        lines = head_part.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(" ", 2)
        if len(parts) >= 2 and parts[1].isdigit():
            self.status = int(parts[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip() not in self.headers:
                self.headers[k.strip()] = v.strip()
        n = self.headers.get("content-length")
        if not sep:
            return
        if head or (self.status is not None and
                    (self.status < 200 or self.status in (204, 304))):
            self.rest = after
            self.complete = True
        elif n is not None and n.isdigit():
            self.body, self.rest = after[:int(n)], after[int(n):]
            self.complete = len(after) >= int(n)
        else:
            self.body = after        # delimited by the end of the connection
            self.complete = closed

    @property
    def status_code(self):
        return self.status

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%r closed=%s %.2fs>" % (self.data[:400], self.closed, self.elapsed)


def read_response(sock, timeout=5, wait_close=False, head=False, t0=None):
    """Read one HTTP response off SOCK (each recv waits up to TIMEOUT).
    Reading stops when the response is complete (by its Content-Length, or
    a status without a body) unless it says "Connection: close" or has no
    length, or WAIT_CLOSE: then it goes on until the server closes the
    connection (or TIMEOUT passes with nothing more). A reset counts as
    closed. HEAD and T0 (when elapsed starts) go to RawResponse."""
    t0 = time.monotonic() if t0 is None else t0
    sock.settimeout(timeout)
    out = b""
    closed = False
    while True:
        if out and not wait_close:
            r = RawResponse(out, head=head)
            if r.complete and r.headers.get("connection", "").lower() != "close":
                break
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not b:
            closed = True
            break
        out += b
    return RawResponse(out, closed, time.monotonic() - t0, head=head)


def send_raw(port, data, timeout=5, shut=False, wait_close=True, host="127.0.0.1"):
    """Send DATA on a new connection to HOST:PORT and read the answer (see
    read_response; by default until the server closes). SHUT: half-close
    after sending. A send the server cut short is not an error: what it
    answered is read all the same. A request starting with "HEAD " gets
    its answer parsed as one without a body."""
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        if shut:
            s.shutdown(socket.SHUT_WR)
        return read_response(s, timeout, wait_close=wait_close,
                             head=data.startswith(b"HEAD "), t0=t0)
    finally:
        s.close()


def send_and_leave(port, data, wait=0, rst=False, shutdown=False, host="127.0.0.1"):
    """A client that sends DATA and goes away without reading: after WAIT
    seconds it closes, with a reset instead of a FIN when RST, or after
    shutdown(SHUT_RDWR) when SHUTDOWN."""
    s = socket.create_connection((host, port), timeout=10)
    try:
        s.sendall(data)
        if wait:
            time.sleep(wait)
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        if shutdown:
            s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()


# ------------------------------------------------------ the error shape

def _describe(r):
    if isinstance(r, RawResponse):
        return repr(r)
    return "HTTP %s %r" % (r.status_code, r.text[:400])


def error_shape_problem(r, status, code=None):
    """What is wrong with R (a requests.Response or a RawResponse) as the
    fixed JSON error {"detail": non-empty text, "error_code": CODE} (and,
    on the /s3/ routes only, "message" equal to detail) with
    STATUS, or None when nothing is. Use it in asserts
    (`assert error_shape_problem(r, 404, "not_found") is None`) and in loops
    that collect every broken case before failing."""
    if r.status_code != status:
        return "status %s, expected %s: %s" % (r.status_code, status, _describe(r))
    ctype = r.headers.get("Content-Type") or ""
    if not ctype.startswith("application/json"):
        return "Content-Type %r, expected JSON: %s" % (ctype, _describe(r))
    try:
        body = r.json()
    except ValueError:
        return "body is not JSON: %s" % _describe(r)
    # Uppy's routes (/s3/...) repeat detail as "message", which Uppy shows.
    if isinstance(body, dict) and "message" in body and body["message"] == body.get("detail") \
            and r.url and "/s3/" in r.url:
        body = {k: v for k, v in body.items() if k != "message"}
    if not isinstance(body, dict) or set(body) != {"detail", "error_code"}:
        return "not the error shape: %r" % (body,)
    if not isinstance(body["detail"], str) or not body["detail"]:
        return "empty detail: %r" % (body,)
    if code is not None and body["error_code"] != code:
        return "error_code %r, expected %r: %r" % (body["error_code"], code, body)
    return None


# ------------------------------------------------------------ blackhole

class Blackhole:
    """A TCP server on 127.0.0.1 that accepts connections and never answers
    nor reads: an S3 that hangs (point s3.endpoint at .endpoint). A thread
    accepts and holds every connection until stop(), which closes them all
    (the daemon then sees S3 hang up: a reset, as what it sent was never
    read). stop() may be called by the test and again by the fixture."""

    def __init__(self):
        self.port = None
        self._sock = None
        self._thread = None
        self._conns = []
        self._accepted = 0
        self._cond = threading.Condition()
        self._stopping = False

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="blackhole")
        self._thread.start()
        return self

    def _run(self):
        while not self._stopping:
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                self._conns.append(c)
                self._accepted += 1
                self._cond.notify_all()

    def accepted(self):
        """How many connections it has accepted since start()."""
        with self._cond:
            return self._accepted

    def wait_connections(self, n, timeout=10):
        """Wait until N connections in all were accepted; returns how many."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._accepted < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the blackhole accepted %d connections in %.1fs, "
                                         "expected %d" % (self._accepted, timeout, n))
                self._cond.wait(left)
            return self._accepted

    def stop(self):
        """Close every connection and the listening socket (idempotent)."""
        if self._thread is None:
            return
        self._stopping = True
        self._thread.join(5)
        self._thread = None
        with self._cond:
            for c in self._conns:
                c.close()
            self._conns = []
        self._sock.close()


# ------------------------------------------------------------ HTTP stub

class StubRequest:
    """One request an HttpStub received."""

    def __init__(self, method, path, headers, body, client_port):
        self.method = method
        self.path = path                  # as sent: with the query string
        self.headers = headers            # CaseInsensitiveDict
        self.body = body
        self.client_port = client_port    # tells connections apart

    def __repr__(self):
        return "<StubRequest %s %s>" % (self.method, self.path)


class HttpStub:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port) that answers
    from HANDLER:

      a function          HANDLER(StubRequest) -> (status, headers, body)
      a route table       {"GET /path": answer or function}: matched on
                          the method and the path without its query (a
                          HEAD falls back to the GET); anything else is
                          a 404

    An answer is (status, {header: value}, body as bytes or str); a
    Content-Length is added unless given, and no body goes out to a HEAD.
    Every request is logged in .requests (method, path, headers, body,
    client_port) before it is answered. A client's "Connection: close" is
    honoured and said in the answer. start() returns the stub; stop() is
    idempotent."""

    def __init__(self, handler):
        self.handler = handler
        self.requests = []
        self.port = None
        self._server = None
        self._thread = None
        self._lock = threading.Lock()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def _answer(self, req):
        if callable(self.handler):
            return self.handler(req)
        path = req.path.split("?", 1)[0]
        route = self.handler.get("%s %s" % (req.method, path))
        if route is None and req.method == "HEAD":
            route = self.handler.get("GET " + path)
        if route is None:
            return 404, {"Content-Type": "text/plain"}, "no route for %s %s\n" % (
                req.method, req.path)
        return route(req) if callable(route) else route

    def start(self):
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = StubRequest(self.command, self.path,
                                  CaseInsensitiveDict(self.headers.items()),
                                  self.rfile.read(n) if n else b"", self.client_address[1])
                with stub._lock:
                    stub.requests.append(req)
                status, headers, body = stub._answer(req)
                if isinstance(body, str):
                    body = body.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if not any(k.lower() == "content-length" for k in headers):
                    self.send_header("Content-Length", str(len(body)))
                if self.close_connection:        # the client asked for it
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="http-stub")
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._server = None


def serve_directory(root):
    """An HttpStub handler that serves the files under ROOT (GET and HEAD;
    a directory serves its index.html), as a plain web server would."""
    root = Path(root).resolve()

    def handler(req):
        if req.method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b""
        rel = urllib.parse.unquote(req.path.split("?", 1)[0]).lstrip("/")
        f = (root / rel).resolve()
        if f.is_dir():
            f = f / "index.html"
        if (f != root and root not in f.parents) or not f.is_file():
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        return 200, {"Content-Type": ctype}, f.read_bytes()
    return handler


class ImdsStub(HttpStub):
    """EC2's instance metadata service as IMDSv2 answers it: PUT
    /latest/api/token (the TTL header required) gives a token; the role
    name and then its credentials are only served to GETs carrying a token
    it gave. CREDS is the credentials document: a dict, or a function of the
    fetch number (1, 2, ...) returning one, or an int to answer that HTTP
    status instead. It can be changed while the stub runs.

    .calls counts {"token", "role", "creds", "refused"}, .fetch_times has
    the time.time() of every credentials fetch, .requests every request."""

    TOKEN_PATH = "/latest/api/token"
    ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
    TOKEN_HEADER = "X-aws-ec2-metadata-token"
    TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"

    def __init__(self, creds, role="presignd-test-role"):
        super().__init__(self._imds)
        self.creds = creds
        self.role = role
        self.calls = {"token": 0, "role": 0, "creds": 0, "refused": 0}
        self.tokens = set()
        self.fetch_times = []
        self._prefix = "imds-token-%s-" % os.urandom(4).hex()

    def _imds(self, req):
        with self._lock:                 # the counters, from the server's threads
            return self._imds_locked(req)

    def _imds_locked(self, req):
        text = {"Content-Type": "text/plain"}
        if req.method == "PUT":
            if req.path != self.TOKEN_PATH or not req.headers.get(self.TTL_HEADER):
                self.calls["refused"] += 1
                return 400, text, "missing TTL"
            self.calls["token"] += 1
            token = self._prefix + str(self.calls["token"])
            self.tokens.add(token)
            return 200, text, token
        if req.method != "GET" or req.headers.get(self.TOKEN_HEADER) not in self.tokens:
            self.calls["refused"] += 1           # IMDSv2 only: no token, no answer
            return 401, text, ""
        if req.path == self.ROLE_PATH:
            self.calls["role"] += 1
            return 200, text, self.role + "\n"
        if req.path == self.ROLE_PATH + self.role:
            self.calls["creds"] += 1
            self.fetch_times.append(time.time())
            doc = self.creds(self.calls["creds"]) if callable(self.creds) else self.creds
            if isinstance(doc, int):              # an HTTP error instead
                return doc, text, ""
            return 200, {"Content-Type": "application/json"}, json.dumps(doc)
        return 404, text, ""


def wait_closed(sock, timeout):
    """Seconds until the server closes SOCK, a plain or a TLS socket (end of
    file or reset), reading and dropping whatever it sends; None if it is
    still open after TIMEOUT."""
    t0 = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            return time.monotonic() - t0
