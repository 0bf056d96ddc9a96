"""harness.py - what the integration tests drive: a throwaway Ceph RADOS
Gateway (the S3 server that verifies signatures like AWS) and presignd
daemons with their config, log and sd_notify socket.

conftest.py turns these into the `s3`, `presignd` and `presignd_asan`
fixtures; tests may also import its functions (free_port, deep_merge, ...).
Only Debian's /usr/bin/python3 with its stdlib, requests, boto3 and yaml.
"""

import copy
import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal as _signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
S3_LOCAL = ROOT / "scripts" / "s3-local"

TEST_BUCKET = "presignd-test"
TEST_REGION = "us-east-1"

# Log lines that mean a sanitizer found something, in any process.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "WARNING: ThreadSanitizer")


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
                 secret_key=None, region=TEST_REGION, cors_origin=None):
        self._mod = _load_s3_local()
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
                                region=self.region, cors_origin=self.cors_origin)
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
