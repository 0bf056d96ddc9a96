"""The access log: one JSON object per line and per request, with the
request id the client sees, and never a presigned URL, a query string, a
credential or a session token (nor are they in the error log or /metrics).
"""
import json
import os
import re
import time
import uuid
from datetime import datetime
from urllib.parse import quote, urlsplit, parse_qs

import requests

import harness

FIELDS = {"time", "request_id", "remote_addr", "method", "route", "path", "status",
          "bytes", "duration_ms", "worker_pid", "s3_ms"}
ROUTES = {"/", "/upload-url", "/download-url", "/upload-complete", "/files",
          "/files/{file_key}", "/health", "/metrics", "/openapi.json", "/docs", "/redoc",
          "/docs/assets/{hash}/{name}", "other"}


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line]


def parse_access(lines):
    out = []
    for line in lines:
        rec = json.loads(line)
        assert isinstance(rec, dict), line
        assert set(rec) == FIELDS, line
        out.append(rec)
    return out


def check_record(rec, worker_pids):
    assert datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).tzinfo is not None
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", rec["request_id"]), rec
    assert rec["remote_addr"] == "127.0.0.1", rec
    assert rec["method"] in ("GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "PATCH"), rec
    assert rec["route"] in ROUTES, rec
    assert rec["path"].startswith("/") and "?" not in rec["path"], rec
    assert isinstance(rec["status"], int) and 100 <= rec["status"] <= 599, rec
    assert isinstance(rec["bytes"], int) and rec["bytes"] >= 0, rec
    assert isinstance(rec["duration_ms"], (int, float)) and rec["duration_ms"] >= 0, rec
    assert rec["worker_pid"] in worker_pids, rec
    assert rec["s3_ms"] is None or (isinstance(rec["s3_ms"], (int, float))
                                    and rec["s3_ms"] >= 0), rec


def test_access_log_lines(presignd, s3, tmp_path):
    access = tmp_path / "access.log"
    d = presignd({"server": {"access_log": str(access)}})
    workers = set(d.worker_pids())
    tag = uuid.uuid4().hex[:8]

    def rid(name):
        return "%s-%s" % (tag, name)

    sent = {}

    def call(name, method, path, **kw):
        headers = kw.pop("headers", {})
        headers["X-Request-Id"] = rid(name)
        r = d.request(method, path, headers=headers, **kw)
        assert r.headers["X-Request-Id"] == rid(name)
        sent[rid(name)] = (method, r.status_code, len(r.content))
        return r

    call("root", "GET", "/")
    up = call("upload", "POST", "/upload-url", json={"filename": "log me.txt", "size": 5}).json()
    assert requests.put(up["presigned_url"], data=b"hello", headers=up["headers"],
                        timeout=30).status_code == 200
    call("complete", "POST", "/upload-complete", json={"file_key": up["file_key"], "size": 5})
    call("download", "POST", "/download-url", json={"file_key": up["file_key"]})
    call("list", "GET", "/files?prefix=uploads/&max_keys=5")
    call("delete", "DELETE", "/files/" + quote(up["file_key"], safe="/"))
    call("health", "GET", "/health")
    call("unknown", "GET", "/nope/deeper?X-Amz-Signature=abc&token=1")
    call("badjson", "POST", "/upload-url", data=b"{", headers={"Content-Type": "application/json"})
    call("method", "PUT", "/health")
    call("preflight", "OPTIONS", "/upload-url", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    docs = call("docs", "GET", "/docs")
    call("redoc", "GET", "/redoc")
    script = re.search(r'src="(docs/assets/[0-9a-f]+/docs\.js)"', docs.text).group(1)
    call("asset", "GET", "/" + script)

    harness.wait_for(lambda: access.exists() and
                     sum(1 for line in read_lines(access) if tag in line) >= len(sent),
                     5, what="access log lines")
    recs = parse_access(read_lines(access))
    for rec in recs:
        check_record(rec, workers)
    by_id = {r["request_id"]: r for r in recs if r["request_id"].startswith(tag)}
    assert set(by_id) == set(sent)
    for r_id, (method, status, nbytes) in sent.items():
        rec = by_id[r_id]
        assert rec["method"] == method, rec
        assert rec["status"] == status, rec
        if method != "HEAD":
            assert rec["bytes"] == nbytes, rec

    expect = {
        "root": ("/", "/", False),
        "upload": ("/upload-url", "/upload-url", False),
        "complete": ("/upload-complete", "/upload-complete", True),
        "download": ("/download-url", "/download-url", True),
        "list": ("/files", "/files", True),
        "delete": ("/files/{file_key}", "/files/{file_key}", True),
        "health": ("/health", "/health", True),
        "unknown": ("other", "/nope/deeper", False),
        "badjson": ("/upload-url", "/upload-url", False),
        "method": ("/health", "/health", False),
        "preflight": ("/upload-url", "/upload-url", False),
        "docs": ("/docs", "/docs", False),
        "redoc": ("/redoc", "/redoc", False),
        # A path with parameters is logged as its route.
        "asset": ("/docs/assets/{hash}/{name}", "/docs/assets/{hash}/{name}", False),
    }
    for name, (route, path, s3_call) in expect.items():
        rec = by_id[rid(name)]
        assert rec["route"] == route, rec
        assert rec["path"] == path, rec
        assert (rec["s3_ms"] is not None) == s3_call, rec
    assert by_id[rid("download")]["s3_ms"] <= by_id[rid("download")]["duration_ms"] + 1

    # The access log has its own file; the error log does not repeat it.
    assert tag not in d.log()


def test_access_log_off(presignd, tmp_path):
    d = presignd({"server": {"access_log": "off"}})
    d.get("/", headers={"X-Request-Id": "should-not-be-logged"})
    time.sleep(0.3)
    assert "should-not-be-logged" not in d.log()


def test_access_log_to_the_error_log_by_default(presignd):
    d = presignd()
    d.get("/", headers={"X-Request-Id": "default-destination"})
    line = harness.wait_for(
        lambda: next((x for x in d.log().splitlines() if "default-destination" in x), None),
        5, what="access line in the daemon log")
    rec = json.loads(line)
    check_record(rec, set(d.worker_pids()))


def test_no_secret_in_logs_or_metrics(presignd, s3, tmp_path):
    """Every kind of request, a session token in play and debug logging on:
    neither log nor /metrics may show a credential, a signature or a token."""
    token = "FQoGZXIvYXdzEPresignd%sSessionToken/+=" % uuid.uuid4().hex
    access = tmp_path / "access.log"
    d = presignd({"server": {"access_log": str(access), "log_level": "debug"},
                  "s3": {"session_token": token}})

    up = d.post("/upload-url", json={"filename": "secret.pdf", "size": 1})
    assert up.status_code == 200, up.text
    url = up.json()["presigned_url"]
    q = parse_qs(urlsplit(url).query)
    # The token really is in play: the URL carries it (and a signature).
    assert q["X-Amz-Security-Token"] == [token]
    signature = q["X-Amz-Signature"][0]
    credential = q["X-Amz-Credential"][0]

    # S3 calls signed with the (unknown to RGW) token: whatever S3 answers,
    # the daemon talks about it without leaking anything.
    d.post("/download-url", json={"file_key": up.json()["file_key"]})
    d.post("/download-url", json={"file_key": "uploads/missing.pdf"})
    d.get("/files", params={"max_keys": 3})
    d.delete("/files/uploads/nothing-here.pdf")
    d.get("/health")
    d.get("/nope?X-Amz-Signature=%s&X-Amz-Security-Token=%s&X-Amz-Credential=%s"
          % (signature, quote(token, safe=""), quote(credential, safe="")))
    harness.send_raw(d.port, harness.raw_request(
        "GET", "/files?X-Amz-Security-Token=%s" % quote(token, safe="")), timeout=10)
    d.reload()
    d.get("/health")
    metrics = d.get("/metrics").text
    time.sleep(0.3)

    text = d.log() + "\n" + "\n".join(read_lines(access)) + "\n" + metrics
    assert len(read_lines(access)) >= 8
    for rec in parse_access(read_lines(access)):
        assert "?" not in rec["path"]
    forbidden = {
        "access key": s3.access_key,
        "secret key": s3.secret_key,
        "session token": token,
        "session token (encoded)": quote(token, safe=""),
        "session token (prefix)": token[:24],
        "signature": signature,
        "X-Amz-Signature": "X-Amz-Signature",
        "X-Amz-Security-Token": "X-Amz-Security-Token",
        "X-Amz-Credential": "X-Amz-Credential",
        "presigned URL": urlsplit(url).path + "?",
    }
    for what, needle in forbidden.items():
        assert needle not in text, "%s found in the logs or metrics" % what
    assert os.path.getsize(access) > 0
