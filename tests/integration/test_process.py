"""test_process.py - the process model under an operator's hands: every
signal of the FIXED table (HUP, TERM/INT, QUIT, USR1, CHLD), reloads that
change settings, worker counts and listen addresses, the sd_notify messages
systemd reads, `presignd -R PID` (the unit's ExecReload), the pid file and
workers that notice a dead master."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

import harness
from harness import wait_for

UPLOAD = {"filename": "report.pdf", "content_type": "application/pdf", "size": 1024}


def binary():
    return os.environ.get("PRESIGND_BIN") or str(harness.ROOT / "build" / "presignd")


def expires_in(d):
    r = d.post("/upload-url", json=UPLOAD)
    assert r.status_code == 200, r.text
    return r.json()["expires_in"]


def settle_workers(d, n, exclude=(), timeout=15):
    """Wait until the master has exactly N children, none of them in
    EXCLUDE (the workers of a generation that must be gone); return them."""
    exclude = set(exclude)

    def ok():
        pids = d.worker_pids()
        return pids if len(pids) == n and not exclude & set(pids) else None
    return wait_for(ok, timeout, what="%d workers (excluding %s)" % (n, sorted(exclude)))


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def connect_refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def partial_upload_request(d):
    """A POST /upload-url whose body is only half sent: the request is in
    flight until finish() sends the rest and reads the answer (a
    harness.RawResponse). Returns (socket, finish)."""
    body = b'{"filename": "slow.pdf", "content_type": "application/pdf", "size": 1024}'
    head = harness.raw_request("POST", "/upload-url", ["Content-Type: application/json",
                                                       "Content-Length: %d" % len(body)],
                               close=False)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(head + body[:10])

    def finish():
        s.sendall(body[10:])
        return harness.read_response(s, timeout=10)
    return s, finish


# ---------------------------------------------------------------- reload

def test_reload_applies_new_setting_with_new_workers(presignd):
    d = presignd(overrides={"presign": {"expires": 600}}, workers=2)
    master = d.pid
    old = settle_workers(d, 2)
    assert expires_in(d) == 600

    d.write_config({"presign": {"expires": 321}})
    d.reload()
    new = settle_workers(d, 2, exclude=old)
    assert d.pid == master
    assert not set(old) & set(new)
    assert expires_in(d) == 321
    log = d.log()
    assert "reload ok" in log
    assert "draining generation 1" in log
    for pid in old:
        assert "worker %d (generation 1) exited with status 0" % pid in log


def test_reload_with_broken_config_keeps_old_settings_and_workers(presignd):
    d = presignd(overrides={"presign": {"expires": 600}}, workers=2)
    old = settle_workers(d, 2)
    d.write_config("server:\n  listen: [\n")          # a YAML syntax error
    d.reload(expect_ok=False)
    assert d.worker_pids() == old
    assert expires_in(d) == 600
    assert 'presignd_reloads_total{result="failed"} 1' in d.get("/metrics").text

    # Valid YAML, invalid value: every error is logged with its position.
    d.write_config("server:\n  listen: \"127.0.0.1:%d\"\n  workers: 0\n"
                   "presign:\n  expires: 9999999\n" % d.port)
    d.reload(expect_ok=False)
    log = d.log()
    assert "reload rejected" in log
    assert "%s:3:" % d.config_path in log
    assert "%s:5:" % d.config_path in log
    assert d.worker_pids() == old
    assert expires_in(d) == 600
    # The rejected reload told systemd it is READY again, saying why.
    msgs = d.notify_messages()
    assert "READY=1" in msgs[-1].split("\n") and "rejected" in msgs[-1]

    # And a good file afterwards is taken.
    d.write_config({"presign": {"expires": 300}})
    d.reload()
    settle_workers(d, 2, exclude=old)
    assert expires_in(d) == 300


def test_reload_changes_worker_count(presignd):
    d = presignd(workers=2)
    old = settle_workers(d, 2)
    d.write_config({"server": {"workers": 3}})
    d.reload()
    three = settle_workers(d, 3, exclude=old)
    d.write_config({"server": {"workers": 1}})
    d.reload()
    settle_workers(d, 1, exclude=three)
    assert d.get("/health").status_code == 200


def test_reload_changes_listen_address(presignd):
    d = presignd(workers=2)
    old_port = d.port
    old = settle_workers(d, 2)
    new_port = harness.free_port()
    d.write_config({"server": {"listen": "127.0.0.1:%d" % new_port}})
    d.reload()
    settle_workers(d, 2, exclude=old)
    assert d.port == new_port
    assert d.get("/health").status_code == 200
    # The old socket is closed once its workers are gone.
    wait_for(lambda: connect_refused(old_port), 10, what="old port to refuse")
    assert "closing listen socket 127.0.0.1:%d" % old_port in d.log()


def test_reload_listen_list_keeps_unchanged_socket(presignd):
    """An address present before and after the reload keeps its socket: the
    port never refuses, even mid-reload."""
    d = presignd(workers=1)
    p2 = harness.free_port()
    d.write_config({"server": {"listen": ["127.0.0.1:%d" % d.port, "127.0.0.1:%d" % p2]}})
    d.reload()
    r = requests.get("http://127.0.0.1:%d/health" % p2, timeout=10)
    assert r.status_code == 200
    assert "listening on 127.0.0.1:%d" % d.port in d.log()
    assert d.log().count("listening on 127.0.0.1:%d" % d.port) == 1


def test_reload_rejected_when_new_address_cannot_be_bound(presignd):
    d = presignd(workers=1)
    port = d.port
    old = settle_workers(d, 1)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        d.write_config({"server": {"listen": "127.0.0.1:%d" % busy.getsockname()[1]}})
        d.reload(expect_ok=False)
        assert "cannot listen on" in d.log()
        assert d.worker_pids() == old
        r = requests.get("http://127.0.0.1:%d/health" % port, timeout=10)
        assert r.status_code == 200
    finally:
        busy.close()


# ----------------------------------------------------------------- stop

def test_term_finishes_in_flight_request(presignd):
    d = presignd(workers=1, overrides={"server": {"shutdown_timeout": 10}})
    s, finish = partial_upload_request(d)
    time.sleep(0.3)                       # the worker has read the headers
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.wait_notify("STOPPING=1", timeout=5)
    time.sleep(0.5)
    # New connections are refused at once (not queued and reset later), but
    # the request under way is answered.
    assert connect_refused(d.port)
    reply = finish()
    s.close()
    assert reply.status_line.startswith("HTTP/1.1 200"), reply
    assert reply.headers.get("Connection", "").lower() == "close", reply
    assert d.wait_exit(15) == 0
    took = time.monotonic() - t0
    print("graceful stop with one in-flight request took %.2fs" % took)
    assert took < 9, "the worker waited for its deadline instead of the request"
    assert "stopping" in d.log()


def test_second_term_stops_at_once(presignd):
    d = presignd(workers=2, overrides={"server": {"shutdown_timeout": 30}})
    s, _ = partial_upload_request(d)
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    d.wait_notify("STOPPING=1", timeout=5)
    time.sleep(0.3)
    assert d.running(), "the first TERM must wait for the in-flight request"
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(5) == 0
    assert time.monotonic() - t0 < 3
    assert "immediate stop" in d.log()
    s.close()


def test_int_is_graceful_like_term(presignd):
    d = presignd(workers=1)
    assert d.stop(signal.SIGINT) == 0
    d.wait_notify("STOPPING=1", timeout=5)
    assert "stopping" in d.log()


def test_quit_stops_at_once(presignd):
    d = presignd(workers=2, overrides={"server": {"shutdown_timeout": 30}})
    workers = settle_workers(d, 2)
    s, _ = partial_upload_request(d)
    time.sleep(0.3)
    t0 = time.monotonic()
    d.signal(signal.SIGQUIT)
    assert d.wait_exit(5) == 0
    assert time.monotonic() - t0 < 3
    # The request was cut, not answered.
    assert harness.read_response(s, timeout=3, wait_close=True).data == b""
    s.close()
    for pid in workers:
        assert not pid_alive(pid)


def test_config_error_at_start_exits_before_binding(presignd):
    d = presignd(start=False)
    d.write_config("server:\n  listen: \"127.0.0.1:%d\"\n  workers: -3\n" % d.port)
    d.start(wait_ready=False)
    assert d.wait_exit(10) != 0
    assert "%s:3:" % d.config_path in d.log()
    assert "listening on" not in d.log()
    assert connect_refused(d.port)


# ------------------------------------------------------------- respawn

def test_sigkilled_worker_is_respawned_within_a_second(presignd):
    d = presignd(workers=2)
    # Let the workers get old enough that no back-off applies.
    time.sleep(3.2)
    before = settle_workers(d, 2)
    victim = before[0]
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    deadline = t0 + 5
    new = None
    while time.monotonic() < deadline:
        pids = set(d.worker_pids())
        fresh = pids - set(before)
        if fresh and victim not in pids:
            new = fresh.pop()
            break
        time.sleep(0.002)
    took = time.monotonic() - t0
    print("respawn: new worker %s %.1f ms after SIGKILL of %d" % (new, took * 1000, victim))
    assert new is not None
    assert took < 1.0
    assert d.get("/health").status_code == 200
    wait_for(lambda: "respawning a worker of generation 1" in d.log(), 5,
             what="respawn log line")
    assert "worker %d started (generation 1)" % new in d.log()
    assert "killed by signal 9" in d.log()
    metrics = d.get("/metrics").text
    assert "presignd_worker_restarts_total 1" in metrics
    assert "presignd_workers 2" in metrics


def test_worker_that_keeps_dying_backs_off(presignd):
    d = presignd(workers=1)
    kills = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.5:
        for pid in d.worker_pids():
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    # 100, 200, 400, 800 ms... : a handful of restarts, not hundreds.
    print("workers killed in 2.5 s of a crash loop: %d" % kills)
    assert 2 <= kills <= 8
    assert "keeps dying; respawning in" in d.log()
    # Left alone, it comes back and serves.
    wait_for(lambda: len(d.worker_pids()) == 1, 15, what="a worker again")
    wait_for(lambda: d.get("/health").status_code == 200, 10, what="serving again")


def test_workers_drop_privileges_master_keeps_root(presignd):
    """Started as root with server.user, the workers run as that user while
    the master keeps root (to bind new ports and reopen logs on reload)."""
    if os.geteuid() != 0:
        harness.require(False, "needs root to drop privileges")
    d = presignd(workers=2, overrides={"server": {"user": "nobody"}})
    pids = settle_workers(d, 2)
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            uid_line = [x for x in f if x.startswith("Uid:")][0]
        assert set(uid_line.split()[1:]) != {"0"}, uid_line
        assert "0" not in uid_line.split()[1:], uid_line
    with open("/proc/%d/status" % d.pid) as f:
        assert [x for x in f if x.startswith("Uid:")][0].split()[1] == "0"
    assert d.get("/health").status_code == 200
    # A reload as root still works with unprivileged workers.
    d.write_config({"presign": {"expires": 60}})
    d.reload()
    assert expires_in(d) == 60


# Credentials neither in the file nor complete in the environment: the S3
# client refuses to start, a problem of the configuration (exit 78), not a
# crash to retry.
NO_FILE_CREDS = {"s3": {"access_key_id": None, "secret_access_key": None}}
HALF_ENV_CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"}


def test_workers_that_cannot_run_the_config_are_not_respawned(presignd):
    """When no worker of the first generation can run, the master says why
    and exits 1 instead of respawning them in a loop."""
    d = presignd(workers=2, start=False, overrides=NO_FILE_CREDS, env=HALF_ENV_CREDS)
    d.start(wait_ready=False)
    try:
        code = d.wait_exit(15)
    except subprocess.TimeoutExpired:
        pytest.fail("master kept running with workers that cannot start:\n" + d.log())
    log = d.log()
    assert code == 1, log
    assert log.count("started (generation 1)") == 2, log
    assert "exited with status 78" in log
    assert "not respawning" in log
    assert "the workers cannot run with this configuration; exiting" in log
    assert not any("READY=1" in m for m in d.notify_messages())


def test_reload_to_config_workers_cannot_run_is_rejected(presignd):
    d = presignd(workers=2, env=HALF_ENV_CREDS, overrides={"presign": {"expires": 600}})
    old = settle_workers(d, 2)
    d.write_config(dict(NO_FILE_CREDS, presign={"expires": 100}))
    d.reload(expect_ok=False)
    assert "the new workers cannot run with this configuration" in d.log()
    # The failed generation is gone, the old one was never touched.
    settle_workers(d, 2)
    assert d.worker_pids() == old
    assert expires_in(d) == 600
    time.sleep(1)
    assert d.worker_pids() == old
    assert d.log().count("started (generation 2)") == 2


# ---------------------------------------------------------------- USR1

def test_usr1_reopens_log_file(presignd, tmp_path):
    logfile = tmp_path / "presignd-file.log"
    d = presignd(workers=1, overrides={"server": {"log_file": str(logfile)}})
    wait_for(lambda: logfile.exists() and "started" in logfile.read_text(), 5,
             what="log file")
    rotated = tmp_path / "presignd-file.log.1"
    os.rename(logfile, rotated)
    d.signal(signal.SIGUSR1)
    wait_for(lambda: logfile.exists() and "log files reopened" in logfile.read_text(), 5,
             what="reopened log file")
    assert "log files reopened" not in rotated.read_text()
    # The worker reopened too: its drain line on stop lands in the new file.
    assert d.stop() == 0
    text = logfile.read_text()
    assert "presignd-worker[" in text and "draining" in text, text
    assert "draining" not in rotated.read_text()


# ------------------------------------------------------------ sd_notify

def test_sd_notify_sequence(presignd):
    d = presignd(workers=2)
    d.write_config({"presign": {"expires": 120}})
    t_before = time.monotonic()
    d.reload()
    t_after = time.monotonic()
    assert d.stop() == 0
    # The datagrams are read by a thread: let it catch up with the last one.
    d.wait_notify("STOPPING=1", timeout=5)
    msgs = d.notify_messages()
    lines = [m.split("\n") for m in msgs]

    def index(pred, start=0):
        for i in range(start, len(lines)):
            if pred(lines[i]):
                return i
        raise AssertionError("no such message after %d in %r" % (start, msgs))
    i_ready = index(lambda l: "READY=1" in l)
    assert any(x.startswith("STATUS=generation 1, 2 workers") for x in lines[i_ready]), msgs
    i_reload = index(lambda l: "RELOADING=1" in l, i_ready + 1)
    mono = [x for x in lines[i_reload] if x.startswith("MONOTONIC_USEC=")]
    assert mono, msgs[i_reload]
    usec = int(mono[0].split("=", 1)[1])
    # CLOCK_MONOTONIC, the clock systemd compares it with (Python's monotonic).
    assert t_before * 1e6 - 1e6 <= usec <= t_after * 1e6 + 1e6
    i_ready2 = index(lambda l: "READY=1" in l, i_reload + 1)
    assert any(x.startswith("STATUS=generation 2, 2 workers") for x in lines[i_ready2])
    i_stop = index(lambda l: "STOPPING=1" in l, i_ready2 + 1)
    assert i_stop == len(msgs) - 1 or all("READY=1" not in l for l in lines[i_stop:])
    # Only the master speaks: every datagram came before/at these points in
    # order, and there is exactly one READY=1 per (re)load.
    assert sum("READY=1" in l for l in lines) == 2


def test_sd_notify_abstract_socket(presignd, tmp_path):
    """NOTIFY_SOCKET may name a Linux abstract socket ("@name")."""
    d = presignd(workers=1, start=False)
    name = "presignd-test-%s" % os.urandom(6).hex()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(20)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("WATCHDOG_")}
    env["NOTIFY_SOCKET"] = "@" + name
    with open(tmp_path / "abstract.log", "wb") as log:
        p = subprocess.Popen([binary(), "-c", d.config_path], env=env, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n"), msg
        p.send_signal(signal.SIGTERM)
        msg = sock.recv(4096).decode()
        assert "STOPPING=1" in msg.split("\n"), msg
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sock.close()


def test_watchdog_keepalives(presignd):
    d = presignd(workers=1, env={"WATCHDOG_USEC": "200000"})
    time.sleep(1.0)
    n = sum("WATCHDOG=1" in m.split("\n") for m in d.notify_messages())
    print("WATCHDOG=1 messages in ~1 s at WATCHDOG_USEC=200000: %d" % n)
    assert 5 <= n <= 15


def test_watchdog_for_another_pid_is_ignored(presignd):
    d = presignd(workers=1, env={"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    time.sleep(0.6)
    assert not any("WATCHDOG=1" in m for m in d.notify_messages())


# ------------------------------------------------------- presignd -R PID

def test_reload_client_reports_outcome(presignd):
    d = presignd(workers=2, overrides={"presign": {"expires": 600}})
    old = settle_workers(d, 2)
    d.write_config({"presign": {"expires": 200}})
    t0 = time.monotonic()
    r = subprocess.run([binary(), "-R", str(d.pid)], capture_output=True, text=True,
                       timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    # Synchronous: when -R returns, only the new configuration serves (the
    # old workers have stopped accepting, not merely been told to).
    assert [expires_in(d) for _ in range(20)] == [200] * 20
    print("presignd -R (good config) returned after %.3fs" % took)
    new = settle_workers(d, 2, exclude=old)

    d.write_config("presign:\n  expires: -1\n")
    r = subprocess.run([binary(), "-R", str(d.pid)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "reload rejected: see the log" in r.stderr
    assert d.worker_pids() == new
    assert expires_in(d) == 200

    # A plain HUP still reloads (and nobody is waiting for an answer).
    d.write_config({"presign": {"expires": 100}})
    d.reload()
    assert expires_in(d) == 100


def test_concurrent_reload_clients_all_get_an_answer(presignd):
    d = presignd(workers=1)
    d.write_config({"presign": {"expires": 42}})
    procs = [subprocess.Popen([binary(), "-R", str(d.pid)], stderr=subprocess.PIPE)
             for _ in range(4)]
    codes = [p.wait(60) for p in procs]
    for p in procs:
        p.stderr.close()
    assert codes == [0, 0, 0, 0]
    assert expires_in(d) == 42


def test_reload_client_during_stop_is_refused(presignd):
    d = presignd(workers=1, overrides={"server": {"shutdown_timeout": 20}})
    s, _ = partial_upload_request(d)
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    d.wait_notify("STOPPING=1", timeout=5)
    t0 = time.monotonic()
    r = subprocess.run([binary(), "-R", str(d.pid)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert time.monotonic() - t0 < 5
    s.close()
    assert d.wait_exit(20) == 0


def test_reload_client_without_master_fails():
    # A pid that is certainly not ours: -R must fail, not hang.
    p = subprocess.Popen(["sleep", "0"])
    p.wait()
    r = subprocess.run([binary(), "-R", str(p.pid)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1
    assert "cannot signal" in r.stderr


# ------------------------------------------------------------ pid file

def test_pid_file_written_and_removed(presignd, tmp_path):
    pidfile = tmp_path / "presignd.pid"
    d = presignd(workers=1, overrides={"server": {"pid_file": str(pidfile)}})
    assert pidfile.read_text().strip() == str(d.pid)
    # A reload that moves it writes the new one and removes the old one.
    moved = tmp_path / "moved.pid"
    d.write_config({"server": {"pid_file": str(moved)}})
    d.reload()
    assert moved.read_text().strip() == str(d.pid)
    assert not pidfile.exists()
    assert d.stop() == 0
    assert not moved.exists()


# ----------------------------------------------------- dead master

def test_workers_exit_when_master_dies(presignd):
    d = presignd(workers=2)
    workers = settle_workers(d, 2)
    os.kill(d.pid, signal.SIGKILL)
    d.wait_exit(5)
    wait_for(lambda: not any(pid_alive(p) for p in workers), 5,
             what="workers to notice the dead master")


# ------------------------------------------------- more listen cases

def test_idle_keepalive_client_does_not_hold_a_reload(presignd):
    """An idle kept-alive connection gets a short grace, not the whole
    shutdown_timeout; its client's next request then simply reconnects."""
    d = presignd(workers=1, overrides={"server": {"shutdown_timeout": 20}})
    old = settle_workers(d, 1)
    with requests.Session() as s:
        assert s.get(d.url + "/health", timeout=10).status_code == 200
        t0 = time.monotonic()
        d.write_config({"presign": {"expires": 77}})
        d.reload()
        settle_workers(d, 1, exclude=old, timeout=10)
        took = time.monotonic() - t0
        print("old worker with one idle kept-alive connection gone after %.2fs" % took)
        assert took < 5
        r = s.post(d.url + "/upload-url", json=UPLOAD, timeout=10)
        assert r.status_code == 200 and r.json()["expires_in"] == 77


def test_metrics_listen_socket(presignd):
    mport = harness.free_port()
    d = presignd(workers=2, overrides={"server": {"metrics_listen": "127.0.0.1:%d" % mport}})
    murl = "http://127.0.0.1:%d/metrics" % mport
    r = requests.get(murl, timeout=10)
    assert r.status_code == 200
    assert "presignd_generation 1" in r.text
    d.write_config({"presign": {"expires": 99}})
    d.reload()
    # Same address across the reload: same socket, served by the new workers.
    r = requests.get(murl, timeout=10)
    assert r.status_code == 200
    assert "presignd_generation 2" in r.text
    assert 'presignd_reloads_total{result="ok"} 1' in r.text
    assert d.log().count("listening on 127.0.0.1:%d (metrics)" % mport) == 1


def _have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_and_ipv4_listeners(presignd):
    harness.require(_have_ipv6_loopback(), "no IPv6 loopback here")
    p6 = harness.free_port()
    d = presignd(workers=1, start=False)
    d.write_config({"server": {"listen": ["127.0.0.1:%d" % d.port, "[::1]:%d" % p6]}})
    d.start()
    assert requests.get("http://[::1]:%d/health" % p6, timeout=10).status_code == 200
    assert requests.get("http://127.0.0.1:%d/health" % d.port, timeout=10).status_code == 200
    assert "listening on [::1]:%d" % p6 in d.log()


# ------------------------------------- a reload whose workers never serve

def test_reload_whose_new_workers_never_become_ready_is_rejected(presignd):
    """PRESIGND_TEST_HOLD_READY=2 (daemon/worker.c) makes generation 2's
    workers start and never report that they serve. After
    server.start_timeout the reload is rejected: `presignd -R` exits 1,
    the log says why, the held workers are stopped, and generation 1 kept
    serving throughout on the same workers; the next reload (generation 3)
    works."""
    d = presignd(workers=2, env={"PRESIGND_TEST_HOLD_READY": "2"},
                 overrides={"server": {"start_timeout": 2, "shutdown_timeout": 2},
                            "presign": {"expires": 600}})
    old = settle_workers(d, 2)
    d.write_config({"presign": {"expires": 200}})
    t0 = time.monotonic()
    client = subprocess.Popen([binary(), "-R", str(d.pid)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        d.wait_log(r"PRESIGND_TEST_HOLD_READY: generation 2 will not become ready")
        # Meanwhile the old generation answers everything, with the old config.
        served = []
        while client.poll() is None and time.monotonic() - t0 < 30:
            served.append(expires_in(d))
            time.sleep(0.05)
        code = client.wait(5)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        stderr = client.stderr.read()
        client.stderr.close()
    took = time.monotonic() - t0
    print("reload with never-ready workers rejected after %.2f s (start_timeout 2 s); "
          "%d requests served meanwhile" % (took, len(served)))
    assert code == 1, stderr
    assert "reload rejected" in stderr
    assert 2 <= took < 4, took
    assert served and set(served) == {600}, served
    log = d.log()
    assert re.search(r"reload rejected: the new workers did not become ready in time; "
                     r"still serving generation 1", log), log
    # The held workers are told to drain, and killed when they do not.
    wait_for(lambda: "generation 2 did not drain in time; killing 2 workers" in d.log(), 10,
             what="the held workers to be killed")
    assert settle_workers(d, 2) == old
    assert expires_in(d) == 600
    assert d.log().count("started (generation 2)") == 2

    d.write_config({"presign": {"expires": 100}})
    d.reload()
    settle_workers(d, 2, exclude=old)
    assert expires_in(d) == 100
    assert "reload ok: generation 3 serving with 2 workers" in d.log()
