"""test_s3client.py - presignd's S3 client (common/s3.c) through
build/tools/s3cli, which runs one call on its own event loop and prints the
result as JSON.

Against the `s3` fixture (Ceph RGW, which verifies SigV4 like AWS): HEAD of
present and missing objects, ListObjectsV2 paged by continuation tokens,
DeleteObject, HeadBucket, presigned PUT/GET used for real, a wrong secret
refused. Against small local HTTP stubs: retries on 5xx/SlowDown (each
attempt signed afresh), no retry on 4xx, timeouts and a closed port ending
as "unreachable" after exactly max_attempts, and addressing (virtual-hosted,
path-style, AWS default endpoints, public endpoint) cross-checked with
botocore's presigner.
"""

import datetime
import json
import os
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path
from unittest import mock

import pytest
import requests
import yaml

import harness

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("PRESIGND_TOOLS", ROOT / "build" / "tools"))
S3CLI = TOOLS / "s3cli"
# The sanitizer build of the same tool, when `make asan` produced one.
S3CLI_ASAN = ROOT / "build" / "asan" / "tools" / "s3cli"


def clean_env(**extra):
    """The environment for s3cli: no AWS_* from the caller, HOME somewhere empty."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


def write_config(tmp_path, s3cfg, name="s3cli.yaml", **sections):
    cfg = {"server": {"listen": "127.0.0.1:%d" % harness.free_port()},
           "s3": s3cfg,
           "uploads": {"prefix": "uploads/", "allowed_types": {".txt": "text/plain"}}}
    cfg.update(sections)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def s3_section(s3, **over):
    sec = {"bucket": s3.bucket, "region": s3.region, "endpoint": s3.endpoint,
           "path_style": True, "access_key_id": s3.access_key,
           "secret_access_key": s3.secret_key}
    sec.update(over)
    return {k: v for k, v in sec.items() if v is not None}


def run(config, *args, env=None, binary=None, timeout=60, check=True):
    """Run s3cli; returns (list of JSON lines, stderr)."""
    exe = str(binary or S3CLI)
    p = subprocess.run([exe, "-c", str(config)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else clean_env())
    if check:
        assert p.returncode == 0, "s3cli %s failed (%d): %s" % (args, p.returncode, p.stderr)
    for pat in harness.SANITIZER_PATTERNS:
        assert pat not in p.stderr, p.stderr
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return lines, p.stderr


def one(config, *args, **kw):
    lines, _ = run(config, *args, **kw)
    assert lines, "s3cli printed nothing"
    return lines[-1]


@pytest.fixture
def cfg(s3, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built (make tools)")
    return write_config(tmp_path, s3_section(s3))


def unique(prefix="s3c"):
    return "%s-%s/" % (prefix, uuid.uuid4().hex[:10])


# ------------------------------------------------------------ against RGW

def test_head_object_present_and_missing(s3, cfg):
    key = unique() + "a b+c (1) \u00e9.txt"
    put = s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"hello world",
                                 ContentType="text/plain")
    r = one(cfg, "head", key)
    assert r["status"] == "ok" and r["http_status"] == 200
    assert r["content_length"] == 11
    assert r["etag"] == put["ETag"].strip('"')
    assert r["content_type"] == "text/plain"
    assert r["last_modified"] and r["last_modified"].endswith("GMT")
    assert r["attempts"] == 1 and r["inflight"] == 0

    r = one(cfg, "head", key + ".missing")
    assert r["status"] == "not_found"
    assert r["http_status"] == 404
    assert r["attempts"] == 1      # a 404 is an answer, not a failure


def test_list_pages_through_continuation_tokens(s3, cfg):
    prefix = unique("list")
    names = ["obj-%02d %s.txt" % (i, ["&amp", "\u00e9t\u00e9", "a+b", "q\"uo'te", "%41", "<x>"][i % 6])
             for i in range(25)]
    c = s3.client()
    for i, n in enumerate(names):
        c.put_object(Bucket=s3.bucket, Key=prefix + n, Body=b"x" * i)
    c.put_object(Bucket=s3.bucket, Key=prefix[:-1] + "-outside.txt", Body=b"no")

    seen, pages, token = [], [], None
    while True:
        args = ["list", prefix, "10"] + ([token] if token else [])
        r = one(cfg, *args)
        assert r["status"] == "ok", r
        pages.append(len(r["objects"]))
        seen += r["objects"]
        if not r["truncated"]:
            assert r["next_token"] is None
            break
        assert r["next_token"]
        token = r["next_token"]
    assert pages == [10, 10, 5]
    assert sorted(o["key"] for o in seen) == sorted(prefix + n for n in names)
    sizes = {o["key"]: o["size"] for o in seen}
    for i, n in enumerate(names):
        assert sizes[prefix + n] == i
    assert all(o["etag"] and '"' not in o["etag"] for o in seen)
    assert all(o["last_modified"].endswith("Z") for o in seen)

    r = one(cfg, "list", unique("empty"), "10")
    assert r["status"] == "ok" and r["objects"] == [] and not r["truncated"]


def test_delete_object(s3, cfg):
    key = unique() + "to delete.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"bye")
    r = one(cfg, "delete", key)
    assert r["status"] == "ok" and r["http_status"] == 204
    assert one(cfg, "head", key)["status"] == "not_found"
    # S3 deletes are idempotent: deleting what is gone is fine.
    assert one(cfg, "delete", key)["status"] == "ok"


def test_head_bucket(s3, cfg, tmp_path):
    r = one(cfg, "head-bucket")
    assert r["status"] == "ok" and r["http_status"] == 200
    other = write_config(tmp_path, s3_section(s3, bucket="no-such-bucket-%s" % uuid.uuid4().hex[:8]),
                         name="nobucket.yaml")
    r = one(other, "head-bucket")
    assert r["status"] == "not_found" and r["http_status"] == 404


def test_wrong_secret_is_refused(s3, tmp_path):
    bad = write_config(tmp_path, s3_section(s3, secret_access_key="x" * 40), name="bad.yaml")
    r = one(bad, "list", "uploads/", "5")
    assert r["status"] == "error" and r["http_status"] == 403
    assert r["code"] == "SignatureDoesNotMatch"      # parsed from the error XML
    assert r["attempts"] == 1                        # 4xx are not retried
    r = one(bad, "head", "uploads/whatever")
    assert r["status"] == "error" and r["http_status"] == 403 and r["code"] == "403"


def test_presign_put_then_get(s3, cfg):
    key = "uploads/" + unique() + "r\u00e9sum\u00e9 (final) 100% + 'x'.txt"
    body = os.urandom(1000)
    r = one(cfg, "presign", "PUT", key, "text/plain")
    assert r["status"] == "ok" and r["method"] == "PUT" and r["expires_in"] == 600
    assert r["credentials_expiry"] == 0            # static: never expire
    url = r["url"]
    assert url.startswith(s3.endpoint + "/" + s3.bucket + "/uploads/")
    assert "content-type" in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-SignedHeaders"][0]

    # Another Content-Type or one changed signature character: refused.
    assert requests.put(url, data=body, headers={"Content-Type": "text/html"}).status_code == 403
    assert requests.put(harness.bump_signature(url), data=body,
                        headers={"Content-Type": "text/plain"}).status_code == 403
    assert requests.put(url, data=body, headers={"Content-Type": "text/plain"}).status_code == 200

    r = one(cfg, "presign", "GET", key)
    assert r["status"] == "ok" and r["method"] == "GET"
    g = requests.get(r["url"])
    assert g.status_code == 200 and g.content == body
    assert one(cfg, "head", key)["content_length"] == len(body)


def test_presign_signs_content_length(s3, cfg):
    key = "uploads/" + unique() + "sized.txt"
    r = one(cfg, "-l", "5", "presign", "PUT", key, "text/plain")
    assert r["status"] == "ok"
    assert requests.put(r["url"], data=b"123456", headers={"Content-Type": "text/plain"}).status_code == 403
    assert requests.put(r["url"], data=b"12345", headers={"Content-Type": "text/plain"}).status_code == 200


def test_presign_expired_url_refused(s3, cfg):
    key = "uploads/" + unique() + "short.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"short")
    r = one(cfg, "-e", "1", "presign", "GET", key)
    assert r["expires_in"] == 1
    time.sleep(2.5)
    assert requests.get(r["url"]).status_code == 403


def test_cancel_and_free_inside_callbacks(s3, cfg):
    """Three HEADs; one cancelled before it runs, the other one still in
    flight cancelled from the first callback that runs; then four more and the client freed from inside the first of
    their callbacks. No cancelled callback may run; under ASan (when built)
    nothing may leak or be used after free."""
    key = unique() + "cancel.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"c")
    for binary in [S3CLI] + ([S3CLI_ASAN] if S3CLI_ASAN.exists() else []):
        lines, err = run(cfg, "cancel", key, binary=binary)
        assert lines[0] == {"first": "ok", "inflight_after_cancel": 0}, lines
        # Calls 0 and 2 race on two connections: whichever answers first
        # cancels the other, so exactly one of them runs, never call 1.
        last = lines[-1]
        assert sorted(last["callbacks"]) == [0, 0, 1] and last["callbacks"][1] == 0, (lines, err)
        assert last["free_callbacks"] == 1 and last["client_freed"] is True, (lines, err)


def test_parallel_heads_overlap(s3, cfg):
    key = unique() + "par.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"p")
    r = one(cfg, "parallel", "200", key)
    assert r == {"n": 200, "answered": 200, "seconds": r["seconds"]}
    assert r["seconds"] < 10


def test_calls_started_from_callbacks(s3, cfg):
    """Each HEAD started from the previous one's callback, with no other
    transfer running: the new transfer must still be driven (a loop that
    dropped curl's timer when the last transfer ended would stall here)."""
    key = unique() + "chain.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"c")
    r = one(cfg, "chain", "50", key, timeout=30)
    assert r["n"] == 50 and r["answered"] == 50
    assert r["seconds"] < 5


def test_unreachable_after_retries(tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    port = harness.free_port()                  # nothing listens there
    cfgp = stub_config(tmp_path, "http://127.0.0.1:%d" % port,
                       connect_timeout_ms=500, request_timeout_ms=2000)
    t0 = time.monotonic()
    lines, err = run(cfgp, "head-bucket")
    elapsed = time.monotonic() - t0
    r = lines[-1]
    assert r["status"] == "unreachable" and r["http_status"] == 0
    assert r["attempts"] == 3
    assert r["code"] and "connect" in (r["code"] + (r["message"] or "")).lower()
    # Two back-offs of at most 50 and 100 ms; refused connections are instant.
    assert r["seconds"] < 1.0 and elapsed < 5
    assert "HeadBucket failed after 3 attempts" in err


# ------------------------------------------------------------ against stubs

def stub_config(tmp_path, endpoint, name="stub.yaml", **over):
    sec = {"bucket": "bkt", "region": "eu-west-1", "endpoint": endpoint, "path_style": True,
           "access_key_id": "AKIDSTUB", "secret_access_key": "stubsecret"}
    sec.update(over)
    return write_config(tmp_path, sec, name=name)


SLOWDOWN = (b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message></Error>")


def test_retries_5xx_and_slowdown_signed_afresh(http_stub, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    answers = [(503, {"Content-Type": "application/xml"}, SLOWDOWN),
               (500, {}, b""),
               (200, {"Content-Type": "application/xml"},
                b"<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                b"</ListBucketResult>")]
    s = http_stub(lambda q: answers.pop(0))
    r = one(stub_config(tmp_path, s.endpoint), "list", "uploads/", "7")
    assert r["status"] == "ok" and r["attempts"] == 3
    assert len(s.requests) == 3
    for q in s.requests:
        assert q.method == "GET"
        path, _, query = q.path.partition("?")
        assert path == "/bkt"
        assert urllib.parse.parse_qs(query) == {"list-type": ["2"], "max-keys": ["7"],
                                                "prefix": ["uploads/"]}
        assert q.headers["Host"] == "127.0.0.1:%d" % s.port
        assert q.headers["Authorization"].startswith(
            "AWS4-HMAC-SHA256 Credential=AKIDSTUB/")
        assert "/eu-west-1/s3/aws4_request" in q.headers["Authorization"]
        assert q.headers["x-amz-content-sha256"] == \
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_server_errors_give_up_after_max_attempts(http_stub, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    s = http_stub(lambda q: (503, {"Content-Type": "application/xml"}, SLOWDOWN))
    r = one(stub_config(tmp_path, s.endpoint), "delete", "uploads/x")
    assert r["status"] == "error" and r["http_status"] == 503
    assert r["code"] == "SlowDown" and r["message"] == "Please reduce your request rate."
    assert r["attempts"] == 3 and len(s.requests) == 3
    assert all(q.method == "DELETE" and q.path == "/bkt/uploads/x" for q in s.requests)

    s2 = http_stub(lambda q: (500, {}, b""))
    r = one(stub_config(tmp_path, s2.endpoint, name="five.yaml", max_attempts=5),
            "head", "uploads/x")
    assert r["attempts"] == 5 and len(s2.requests) == 5 and r["http_status"] == 500


def test_client_errors_not_retried(http_stub, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    s = http_stub(lambda q: (403, {"Content-Type": "application/xml"},
                             b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"))
    r = one(stub_config(tmp_path, s.endpoint), "delete", "uploads/x")
    assert r["status"] == "error" and r["code"] == "AccessDenied" and r["attempts"] == 1
    assert len(s.requests) == 1


def test_timeout_is_unreachable(blackhole, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    # An S3 that accepts the connection and never answers.
    cfgp = stub_config(tmp_path, blackhole.endpoint, request_timeout_ms=300,
                       connect_timeout_ms=300)
    t0 = time.monotonic()
    r = one(cfgp, "head-bucket")
    assert r["status"] == "unreachable" and r["attempts"] == 3
    assert "timeout" in (r["code"] + (r["message"] or "")).lower()
    assert 0.85 < r["seconds"] < 3 and time.monotonic() - t0 < 6


def test_connections_are_kept_alive(http_stub, tmp_path):
    """Sequential calls reuse one connection; 20 at once open at most 20."""
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    s = http_stub(lambda q: (200, {"Content-Length": "0"}, b""))
    cfgp = stub_config(tmp_path, s.endpoint)
    r = one(cfgp, "chain", "30", "uploads/k")
    assert r["answered"] == 30 and len(s.requests) == 30
    assert len({q.client_port for q in s.requests}) == 1
    r = one(cfgp, "parallel", "20", "uploads/k")
    assert r["answered"] == 20
    assert len({q.client_port for q in s.requests[30:]}) <= 20


def test_malformed_list_is_an_error(http_stub, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    s = http_stub(lambda q: (200, {"Content-Type": "application/xml"},
                             b"<ListBucketResult><Contents>"))
    r = one(stub_config(tmp_path, s.endpoint), "list", "uploads/", "3")
    assert r["status"] == "error" and r["code"] == "MalformedResponse" and r["attempts"] == 1


def test_keys_sent_exactly_as_signed(http_stub, tmp_path):
    """No dot-segment squashing, every reserved byte percent-encoded once."""
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    s = http_stub(lambda q: (200, {"ETag": '"e"', "Content-Length": "0"}, b""))
    key = "uploads/a/../b/./c d+e%f&g=h?i#j~k\u00e9"
    r = one(stub_config(tmp_path, s.endpoint), "head", key)
    assert r["status"] == "ok" and r["etag"] == "e"
    assert s.requests[0].path == "/bkt/" + urllib.parse.quote(key, safe="/~")


# ------------------------------------------------------------ addressing

def botocore_presign(url, method, region, addressing, endpoint=None, content_type=None):
    """Re-sign the request of URL with botocore at URL's own X-Amz-Date."""
    import boto3
    from botocore.config import Config
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    when = datetime.datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    client = boto3.client("s3", region_name=region, endpoint_url=endpoint,
                          aws_access_key_id="AKIDSTUB", aws_secret_access_key="stubsecret",
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": addressing}))
    params = {"Bucket": "bkt", "Key": "uploads/a b.txt"}
    if content_type:
        params["ContentType"] = content_type

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return when

        @classmethod
        def now(cls, tz=None):
            return when.replace(tzinfo=tz) if tz else when

    with mock.patch("botocore.auth.datetime.datetime", Frozen):
        return client.generate_presigned_url(
            "put_object" if method == "PUT" else "get_object", Params=params,
            ExpiresIn=int(q["X-Amz-Expires"][0]))


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.mark.parametrize("endpoint,path_style,expect_prefix,addressing", [
    ("", False, "https://bkt.s3.eu-west-1.amazonaws.com/uploads/a%20b.txt?", "virtual"),
    ("", True, "https://s3.eu-west-1.amazonaws.com/bkt/uploads/a%20b.txt?", "path"),
    ("http://127.0.0.1:7480", True, "http://127.0.0.1:7480/bkt/uploads/a%20b.txt?", "path"),
    ("http://s3.example.test:7480", False,
     "http://bkt.s3.example.test:7480/uploads/a%20b.txt?", "virtual"),
])
def test_addressing_matches_botocore(tmp_path, endpoint, path_style, expect_prefix, addressing):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    cfgp = stub_config(tmp_path, endpoint, path_style=path_style)
    for method, ct in (("GET", None), ("PUT", "text/plain")):
        args = ["presign", method, "uploads/a b.txt"] + ([ct] if ct else [])
        r = one(cfgp, *args)
        assert r["status"] == "ok"
        assert r["url"].startswith(expect_prefix), r["url"]
        # botocore's own default for virtual-hosted presigning is the legacy
        # global name (bkt.s3.amazonaws.com); give it the regional one.
        ref = botocore_presign(r["url"], method, "eu-west-1", addressing,
                               endpoint=endpoint or "https://s3.eu-west-1.amazonaws.com",
                               content_type=ct)
        assert urllib.parse.urlsplit(r["url"])[:3] == urllib.parse.urlsplit(ref)[:3]
        assert query_of(r["url"]) == query_of(ref), (r["url"], ref)


def test_public_endpoint_only_in_presigned_urls(http_stub, tmp_path):
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built")
    s = http_stub(lambda q: (200, {}, b""))
    cfgp = stub_config(tmp_path, s.endpoint, public_endpoint="https://files.example.test")
    r = one(cfgp, "presign", "GET", "uploads/k.txt")
    assert r["url"].startswith("https://files.example.test/bkt/uploads/k.txt?")
    assert one(cfgp, "head-bucket")["status"] == "ok"
    assert s.requests[0].headers["Host"] == "127.0.0.1:%d" % s.port
