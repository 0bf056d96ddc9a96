"""test_harness.py - the test harness itself: the local S3 server must verify
signatures like AWS (or every signing test proves nothing), must be able to
go away and come back, and the daemon fixture must see what it claims to."""

import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

import harness


def _key(name):
    return "harness/%s-%s" % (uuid.uuid4().hex, name)


# ------------------------------------------------------------ the S3 server

def test_s3_attributes(s3):
    assert s3.endpoint == "http://%s" % s3.host
    assert s3.host.startswith("127.0.0.1:")
    assert s3.region == "us-east-1"
    assert s3.bucket == "presignd-test"
    s3.client().head_bucket(Bucket=s3.bucket)


def test_rgw_verifies_presigned_put(s3):
    c = s3.client()
    key = _key("a b+c%(d)'e\u00e9.txt")
    url = c.generate_presigned_url(
        "put_object", Params={"Bucket": s3.bucket, "Key": key,
                              "ContentType": "text/plain"}, ExpiresIn=300)
    body = os.urandom(1000)

    # One signature character changed: refused, nothing stored.
    bad = harness.bump_signature(url)
    assert bad != url
    r = requests.put(bad, data=body, headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 403, r.text
    assert b"SignatureDoesNotMatch" in r.content
    # Another Content-Type than the one signed: refused.
    r = requests.put(url, data=body, headers={"Content-Type": "image/png"}, timeout=10)
    assert r.status_code == 403, r.text
    with pytest.raises(c.exceptions.ClientError) as ei:
        c.head_object(Bucket=s3.bucket, Key=key)
    assert ei.value.response["Error"]["Code"] in ("404", "NoSuchKey")

    # The untouched URL: accepted, and the bytes come back as sent.
    r = requests.put(url, data=body, headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 200, r.text
    got = c.get_object(Bucket=s3.bucket, Key=key)
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"


def test_rgw_verifies_presigned_get(s3):
    c = s3.client()
    key = _key("x.bin")
    c.put_object(Bucket=s3.bucket, Key=key, Body=b"payload")
    url = c.generate_presigned_url("get_object", Params={"Bucket": s3.bucket, "Key": key},
                                   ExpiresIn=300)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"payload"
    r = requests.get(harness.bump_signature(url), timeout=10)
    assert r.status_code == 403
    # Signed by someone without the secret.
    other = harness.S3Server.__new__(harness.S3Server)
    other.__dict__.update(s3.__dict__)
    other.secret_key = "not-the-secret"
    forged = other.client().generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=300)
    assert requests.get(forged, timeout=10).status_code == 403


def test_rgw_refuses_expired_url(s3):
    c = s3.client()
    key = _key("old.txt")
    c.put_object(Bucket=s3.bucket, Key=key, Body=b"x")
    url = c.generate_presigned_url("get_object", Params={"Bucket": s3.bucket, "Key": key},
                                   ExpiresIn=1)
    time.sleep(2.1)
    assert requests.get(url, timeout=10).status_code == 403


def test_gateway_stop_and_start(s3):
    c = s3.client()
    key = _key("survives.txt")
    c.put_object(Bucket=s3.bucket, Key=key, Body=b"kept")
    old = s3.pids()["rgw"]

    s3.stop_gateway()
    try:
        assert not s3.gateway_running()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", s3.port), timeout=2).close()
        with pytest.raises(requests.ConnectionError):
            requests.get(s3.endpoint, timeout=5)
    finally:
        t0 = time.monotonic()
        s3.start_gateway()
        took = time.monotonic() - t0
    assert s3.gateway_running()
    new = s3.pids()["rgw"]
    assert new != old
    assert took < 30
    # Same port, same data, same user.
    assert c.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == b"kept"
    # start_gateway on a running gateway is a no-op: the same process serves.
    s3.start_gateway()
    assert s3.pids()["rgw"] == new


# ------------------------------------------------------------ functions

def test_deep_merge():
    base = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    out = harness.deep_merge(base, {"a": {"b": 5, "c": None}, "d": [3], "f": {"g": 1},
                                    "e": None})
    assert out == {"a": {"b": 5}, "d": [3], "f": {"g": 1}}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}


def test_free_port_is_free():
    p = harness.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))


def test_notify_socket_collects_datagrams():
    n = harness.NotifySocket()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
            c.sendto(b"STATUS=starting", n.path)
            c.sendto(b"READY=1\nSTATUS=up", n.path)
        assert n.wait("READY=1", 5) == "READY=1\nSTATUS=up"
        assert n.messages() == ["STATUS=starting", "READY=1\nSTATUS=up"]
        with pytest.raises(harness.NotifyTimeout):
            n.wait("STOPPING=1", 0.3)
        with pytest.raises(TimeoutError):
            n.wait(lambda m: m.startswith("STATUS=starting"), 0.3, since=1)
    finally:
        n.close()
    assert not os.path.exists(n.path)


def test_sanitizer_report_detection():
    assert harness.sanitizer_report("ok\nall fine\n") is None
    log = "line\n==12==ERROR: AddressSanitizer: heap-use-after-free on address\n#0 x"
    assert "heap-use-after-free" in harness.sanitizer_report(log)
    assert harness.sanitizer_report("a.c:3:5: runtime error: signed integer overflow")


# ------------------------------------------- raw HTTP, stubs and blackhole

def test_raw_request_bytes():
    assert harness.raw_request("GET", "/x") == \
        b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    assert harness.raw_request("POST", "/y", ["A: b"], "{}", close=False) == \
        b"POST /y HTTP/1.1\r\nHost: 127.0.0.1\r\nA: b\r\nContent-Length: 2\r\n\r\n{}"
    # Framing given by the test is left alone.
    assert b"Content-Length: 2" not in harness.raw_request(
        "POST", "/y", ["Transfer-Encoding: chunked"], b"0\r\n\r\n")


def test_raw_response_parsing():
    two = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 9\r\n\r\n{}"
           b"HTTP/1.1 404 Not Found\r\n\r\n")
    r = harness.RawResponse(two)
    assert (r.status, r.status_code, r.status_line) == (200, 200, "HTTP/1.1 200 OK")
    assert r.headers["CONTENT-LENGTH"] == "2"            # the first one wins
    assert r.body == b"{}" and r.json() == {} and r.complete
    assert harness.RawResponse(r.rest).status == 404
    head = harness.RawResponse(b"HTTP/1.1 405 X\r\nContent-Length: 7\r\n\r\n", head=True)
    assert head.complete and head.body == b""
    assert not harness.RawResponse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").complete
    unframed = harness.RawResponse(b"HTTP/1.1 200 OK\r\n\r\nabc", closed=True)
    assert unframed.body == b"abc" and unframed.complete
    assert harness.RawResponse(b"").status is None


def test_http_stub_routes_log_and_raw_reads(http_stub):
    stub = http_stub({
        "GET /a": (200, {"Content-Type": "application/json"},
                   '{"detail": "d", "error_code": "e"}'),
        "POST /b": lambda q: (201, {"X-Got": q.headers["x-in"]}, q.body[::-1]),
    })
    r = harness.send_raw(stub.port, harness.raw_request("GET", "/a?q=1"), wait_close=False)
    assert r.status == 200 and r.closed, r           # it said Connection: close
    assert harness.error_shape_problem(r, 200, "e") is None
    assert "expected 'f'" in harness.error_shape_problem(r, 200, "f")
    assert "status 200, expected 404" in harness.error_shape_problem(r, 404)
    # The same checker takes a requests.Response.
    assert harness.error_shape_problem(requests.get(stub.endpoint + "/a", timeout=5),
                                       200, "e") is None
    r = harness.send_raw(stub.port, harness.raw_request("POST", "/b", ["X-In: v"], b"abc",
                                                        close=False), wait_close=False)
    assert (r.status, r.headers["x-got"], r.body, r.closed) == (201, "v", b"cba", False)
    r = harness.send_raw(stub.port, harness.raw_request("HEAD", "/a"))
    assert r.status == 200 and r.body == b"" and r.data.endswith(b"\r\n\r\n"), r
    assert harness.send_raw(stub.port, harness.raw_request("GET", "/c")).status == 404
    assert [(q.method, q.path) for q in stub.requests] == [
        ("GET", "/a?q=1"), ("GET", "/a"), ("POST", "/b"), ("HEAD", "/a"), ("GET", "/c")]
    assert stub.requests[2].body == b"abc"
    stub.stop()
    stub.stop()                                      # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stub.port), timeout=2).close()


def test_imds_stub_wants_a_token(http_stub):
    imds = http_stub(harness.ImdsStub(lambda n: {"n": n} if n < 2 else 500))
    base = imds.endpoint + harness.ImdsStub.ROLE_PATH
    assert requests.get(base, timeout=5).status_code == 401
    assert requests.put(imds.endpoint + "/latest/api/token", timeout=5).status_code == 400
    tok = requests.put(imds.endpoint + "/latest/api/token", timeout=5,
                       headers={harness.ImdsStub.TTL_HEADER: "60"}).text
    h = {harness.ImdsStub.TOKEN_HEADER: tok}
    role = requests.get(base, headers=h, timeout=5).text.strip()
    assert requests.get(base + role, headers=h, timeout=5).json() == {"n": 1}
    assert requests.get(base + role, headers=h, timeout=5).status_code == 500
    assert imds.calls == {"token": 1, "role": 1, "creds": 2, "refused": 2}
    assert len(imds.fetch_times) == 2


def test_blackhole_accepts_and_never_answers(blackhole):
    with socket.create_connection(("127.0.0.1", blackhole.port), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert blackhole.wait_connections(1, timeout=5) == 1
        c.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.recv(1)
        blackhole.stop()                     # the test may stop it (and teardown again)
        c.settimeout(5)
        try:                                 # S3 hung up (a reset: data was unread)
            assert c.recv(1) == b""
        except ConnectionResetError:
            pass
    with pytest.raises(AssertionError):
        blackhole.wait_connections(2, timeout=0.2)


# ----------------------------------------------------------- the daemon fixture

def test_presignd_fixture(presignd, s3):
    d = presignd(overrides={"presign": {"expires": 300}}, workers=2)
    assert d.url == "http://127.0.0.1:%d" % d.port
    msgs = d.notify_messages()
    assert any("READY=1" in m.split("\n") for m in msgs), msgs
    with open(d.config_path) as f:
        text = f.read()
    assert "expires: 300" in text and s3.endpoint in text

    r = d.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "healthy"

    workers = harness.wait_for(lambda: len(d.worker_pids()) == 2 and d.worker_pids(), 10,
                               what="2 workers")
    master = d.pid
    d.write_config({"presign": {"expires": 120}})
    assert d.reload() is True
    # A reload keeps the master; only the workers are new.
    assert d.pid == master and d.running() and harness._proc_alive(master)
    new = harness.wait_for(lambda: (lambda w: len(w) == 2 and not set(w) & set(workers)
                                    and w)(d.worker_pids()), 15, what="a new generation")
    assert set(new).isdisjoint(workers)

    d.write_config("server: [\n")
    assert d.reload(expect_ok=False) is False
    assert d.get("/health").status_code == 200

    assert d.stop() == 0
    assert any("STOPPING=1" in m.split("\n") for m in d.notify_messages())
    assert d.log()


def test_presignd_fixture_not_started(presignd):
    d = presignd(start=False)
    assert not d.running()
    assert os.path.exists(d.config_path)
    d.start()
    assert d.running() and d.get("/").status_code == 200
    d.signal(signal.SIGQUIT)
    d.wait_exit(10)
    assert not d.running()


def test_presignd_asan_fixture(presignd_asan):
    d = presignd_asan(workers=1)
    assert d.get("/health").status_code == 200
    assert d.stop() == 0


FAKE_DAEMON = r"""#!/usr/bin/python3
# Stands in for presignd: announces READY=1, forks a "worker" that ignores
# TERM, and writes a sanitizer-like report when it stops.
import os, signal, socket, sys, time
mode = os.environ["FAKE_MODE"]
if mode == "orphan" and os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    sys.exit(0)
def stop(*a):
    if mode == "asan":
        print("==1==ERROR: AddressSanitizer: heap-buffer-overflow", flush=True)
    sys.exit(0)
# The handler before READY=1: the harness may send TERM right after it.
signal.signal(signal.SIGTERM, stop)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=fake", os.environ["NOTIFY_SOCKET"])
while True:
    time.sleep(1)
"""


@pytest.mark.parametrize("mode,expect", [
    ("clean", None),
    ("asan", "sanitizer report"),
    ("orphan", "outlived the master"),
])
def test_teardown_reports_problems(tmp_path, mode, expect):
    fake = tmp_path / "fake-presignd"
    fake.write_text(FAKE_DAEMON)
    fake.chmod(0o755)
    d = harness.Presignd(None, tmp_path, binary=str(fake), env={"FAKE_MODE": mode})
    d.start()
    assert d.notify_messages() == ["READY=1\nSTATUS=fake"]
    if mode == "orphan":
        harness.wait_for(lambda: len(d.worker_pids()) == 1, 5, what="the fake worker")
    problems = d.teardown()
    assert not d.running()
    if expect is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expect in problems[0], problems
    for pid in d._seen_workers:
        assert not harness._proc_alive(pid)


def test_s3_local_command_line(tmp_path):
    """scripts/s3-local as make run and developers use it: start prints the
    summary, the pids it records are the daemons, stop ends exactly those."""
    tool = str(harness.S3_LOCAL)
    d = str(tmp_path / "cluster")

    def run(*args, check=True):
        r = subprocess.run([tool] + list(args), capture_output=True, text=True, timeout=300)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    out = run("start", d, "--access-key", "cli-key", "--secret", "cli-secret",
              "--bucket", "cli-bucket", "--cors-origin", "*").stdout
    try:
        env = dict(l.split("=", 1) for l in out.splitlines())
        assert env["S3_BUCKET"] == "cli-bucket" and env["S3_ACCESS_KEY"] == "cli-key"
        pids = [int(p) for p in env["S3_PIDS"].split()]
        assert len(pids) == 3 and all(harness._proc_alive(p) for p in pids)
        assert run("status", d).stdout.strip() == "running"
        # A second start on a running cluster is refused and changes nothing.
        assert run("start", d, check=False).returncode != 0
        assert all(harness._proc_alive(p) for p in pids)

        import boto3
        from botocore.config import Config
        c = boto3.client("s3", endpoint_url=env["S3_ENDPOINT"], region_name="us-east-1",
                         aws_access_key_id="cli-key", aws_secret_access_key="cli-secret",
                         config=Config(signature_version="s3v4",
                                       s3={"addressing_style": "path"}))
        rules = c.get_bucket_cors(Bucket="cli-bucket")["CORSRules"]
        assert rules[0]["AllowedOrigins"] == ["*"]
        assert rules[0]["ExposeHeaders"] == ["ETag", "Location"]
        assert set(rules[0]["AllowedMethods"]) == {"PUT", "POST", "GET", "HEAD", "DELETE"}

        run("stop-gateway", d)
        assert not harness._proc_alive(pids[2])
        assert run("status", d, check=False).returncode == 1
        run("start-gateway", d)
        assert run("status", d).stdout.strip() == "running"
        assert run("env", d).stdout.split("\n")[0] == "S3_ENDPOINT=" + env["S3_ENDPOINT"]
        c.head_bucket(Bucket="cli-bucket")
        new_rgw = json.load(open(os.path.join(d, "state.json")))["pids"]["rgw"]
        assert new_rgw != pids[2]
    finally:
        run("stop", d)
    for p in pids[:2] + [new_rgw]:
        assert not harness._proc_alive(p)
    assert run("status", d, check=False).returncode == 1
