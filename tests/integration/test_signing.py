"""test_signing.py - presignd's SigV4 signer (common/sigv4.c, driven through
build/tools/presign) against botocore and against a server that verifies
signatures (Ceph RADOS Gateway, the `s3` fixture).

A URL that only looks right proves nothing, so besides comparing strings with
botocore, bytes go up through the signer's PUT URLs and come back through its
GET URLs, and the server is shown to refuse what must be refused.

Transfers use http.client, not requests: urllib3 removes "./" and "../"
segments from URLs, which would change the object key (and break the
signature) for keys that contain them; S3 keys are not paths.
"""

import datetime
import hashlib
import http.client
import os
import subprocess
import time
import types
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import botocore.auth
import pytest

import harness

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("PRESIGND_TOOLS") or ROOT / "build" / "tools")
PRESIGN = TOOLS / "presign"

FIXED_TIME = 1709642096     # 2024-03-05T12:34:56Z

# Keys that exercise every S3 encoding rule; each test puts them under a
# unique prefix.
UNUSUAL = [
    "a b.pdf",
    "two  spaces  .txt",
    "caf\u00e9.jpg",
    "\u65e5\u672c\u8a9e\u306e\u30d5\u30a1\u30a4\u30eb.pdf",
    "emoji \U0001F600\U0001F680.png",
    "plus+sign.txt",
    "eq=amp&pct%25.txt",
    "tilde~under_dash-dot.",
    "quote'dq\"paren().txt",
    "star*bang!dollar$comma,semi;colon:.txt",
    "at@hash#question?.txt",
    "double//slash",
    "dot/./segment",
    "dotdot/../segment",
    "trailing-dot.",
    "%2F already encoded %20",
    "brackets[]{}<>|^`\\.bin",
    "tab\there",
    "space at end ",
    " space at start",
    "nbsp\u00a0inside",
    "UPPER lower MiXeD.PDF",
    "ß\u03a9\u00fc mix.txt",
    "long-" + "x" * 300,
    "long-unicode-" + "\u00e9" * 150,
    "semi;colon=eq&amp/sub dir/file.txt",
    "a",
    "~",
    "'",
    "100% sure.txt",
]

# Keys near S3's 1024-byte limit: compared with botocore only, since the
# test cluster caps RADOS object names (osd max object name len in
# scripts/s3-local) below what such keys need.
LONG = [
    "long-" + "y" * 990,
    "long-cjk-" + "\u65e5\u672c" * 165,
    "long-emoji-" + "\U0001F600" * 240,
]

CONTENT_TYPES = ["application/pdf", "image/png", "text/plain; charset=utf-8",
                 "application/octet-stream"]


# ------------------------------------------------------------------ helpers

def tool(s3, method, key, content_type=None, expires=600, when=None,
         region=None, token=None, headers=(), query=()):
    """A URL from build/tools/presign (path style, like the fixture)."""
    if not os.access(PRESIGN, os.X_OK):
        pytest.fail("%s is missing: build it with `make tools`" % PRESIGN)
    args = [str(PRESIGN), "--method", method, "--scheme", "http",
            "--host", s3.host, "--path", "/%s/%s" % (s3.bucket, key),
            "--region", region or s3.region, "--expires", str(expires)]
    if when is not None:
        args += ["--time", str(when)]
    if content_type is not None:
        args += ["--content-type", content_type]
    for h in headers:
        args += ["--header", h]
    for q in query:
        args += ["--query", q]
    # Credentials through the environment, not the process list.
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.access_key,
               AWS_SECRET_ACCESS_KEY=s3.secret_key)
    env.pop("AWS_SESSION_TOKEN", None)
    if token:
        env["AWS_SESSION_TOKEN"] = token
    out = subprocess.run(args, env=env, capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout.decode().rstrip("\n")


class _Clock:
    """botocore.auth reads datetime.datetime.utcnow(); pin it."""

    def __init__(self, monkeypatch):
        self.now = None
        clock = self

        class Fixed(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return clock.now

        monkeypatch.setattr(botocore.auth, "datetime",
                            types.SimpleNamespace(datetime=Fixed))

    def set(self, unix):
        self.now = datetime.datetime.utcfromtimestamp(unix)


def boto(s3, method, key, content_type=None, expires=600, region=None,
         token=None, extra=None):
    """botocore's URL for the same request (time set through _Clock)."""
    from botocore.config import Config
    import boto3
    c = boto3.client("s3", endpoint_url=s3.endpoint,
                     region_name=region or s3.region,
                     aws_access_key_id=s3.access_key,
                     aws_secret_access_key=s3.secret_key,
                     aws_session_token=token,
                     config=Config(signature_version="s3v4",
                                   s3={"addressing_style": "path"}))
    op = {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object",
          "DELETE": "delete_object"}[method]
    params = {"Bucket": s3.bucket, "Key": key}
    if content_type is not None:
        params["ContentType"] = content_type
    params.update(extra or {})
    return c.generate_presigned_url(op, Params=params, ExpiresIn=expires)


def send(url, method, body=None, headers=None):
    """One HTTP request with the URL's path and query sent byte for byte."""
    u = urlsplit(url)
    target = u.path + ("?" + u.query if u.query else "")
    conn = http.client.HTTPConnection(u.netloc, timeout=30)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        conn.close()


def unique(name):
    return "signing/%s/%s" % (uuid.uuid4().hex[:12], name)


def flip_last_signature_char(url):
    i = url.rindex("X-Amz-Signature=") + len("X-Amz-Signature=") + 63
    c = url[i]
    return url[:i] + ("a" if c != "a" else "b") + url[i + 1:]


# -------------------------------------------------------- botocore equality

def test_presign_tool_matches_botocore_at_fixed_time(s3, monkeypatch):
    clock = _Clock(monkeypatch)
    clock.set(FIXED_TIME)
    n = 0
    for i, name in enumerate(UNUSUAL + LONG):
        key = "signing/fixed/" + name
        for method in ("GET", "PUT", "HEAD", "DELETE"):
            ctype = CONTENT_TYPES[i % len(CONTENT_TYPES)] if method == "PUT" else None
            region = ("us-east-1", "eu-west-3", "ap-southeast-2")[(i + n) % 3]
            token = "FwoGZXIvYXdzE/tok+en=%d" % i if i % 2 else None
            expires = (1, 600, 3600, 604800)[n % 4]
            want = boto(s3, method, key, ctype, expires, region, token)
            got = tool(s3, method, key, ctype, expires, FIXED_TIME, region, token)
            assert got == want, "%s %r" % (method, key)
            n += 1
    assert n == 4 * len(UNUSUAL + LONG)


def test_presign_tool_matches_botocore_with_query_and_length(s3, monkeypatch):
    clock = _Clock(monkeypatch)
    clock.set(FIXED_TIME)
    key = "signing/fixed/" + UNUSUAL[3]
    disp = 'attachment; filename="\u00e9 x.pdf"'
    want = boto(s3, "GET", key, extra={"ResponseContentDisposition": disp})
    got = tool(s3, "GET", key, when=FIXED_TIME,
               query=["response-content-disposition=" + disp])
    assert got == want
    want = boto(s3, "PUT", key, "image/png", extra={"ContentLength": 1234})
    got = tool(s3, "PUT", key, "image/png", when=FIXED_TIME,
               headers=["content-length:1234"])
    assert got == want


# --------------------------------------------------- against a real server

def test_unusual_keys_round_trip_at_current_time(s3, monkeypatch):
    """At the actual time: same URL as botocore, accepted by RGW, and the
    object lands under exactly the intended key."""
    clock = _Clock(monkeypatch)
    client = s3.client()
    prefix = unique("")
    for i, name in enumerate(UNUSUAL):
        key = prefix + name
        ctype = CONTENT_TYPES[i % len(CONTENT_TYPES)]
        now = int(time.time())
        clock.set(now)
        put = tool(s3, "PUT", key, ctype, 300, now)
        assert put == boto(s3, "PUT", key, ctype, 300)
        get = tool(s3, "GET", key, None, 300, now)
        assert get == boto(s3, "GET", key, None, 300)

        body = os.urandom(100 + i * 37)
        st, _, data = send(put, "PUT", body, {"Content-Type": ctype})
        assert st == 200, (key, data)
        st, hdrs, data = send(get, "GET")
        assert st == 200, (key, data)
        assert data == body, key
        assert hdrs.get("content-type") == ctype
        # botocore finds it under the very same key: no normalization,
        # no double encoding on the way.
        head = client.head_object(Bucket=s3.bucket, Key=key)
        assert head["ContentLength"] == len(body)

    listed = client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix)
    assert sorted(o["Key"] for o in listed.get("Contents", [])) == \
        sorted(prefix + n for n in UNUSUAL)


def test_put_get_head_delete_through_presigned_urls(s3):
    key = unique("round trip \u00e9\U0001F600 (1).bin")
    body = os.urandom(3 * 1024 * 1024 + 17)
    put = tool(s3, "PUT", key, "application/octet-stream")
    st, hdrs, data = send(put, "PUT", body, {"Content-Type": "application/octet-stream"})
    assert st == 200, data
    assert hdrs.get("etag", "").strip('"') == hashlib.md5(body).hexdigest()

    st, hdrs, data = send(tool(s3, "GET", key), "GET")
    assert st == 200 and data == body

    st, hdrs, _ = send(tool(s3, "HEAD", key), "HEAD")
    assert st == 200
    assert int(hdrs["content-length"]) == len(body)

    st, _, data = send(tool(s3, "DELETE", key), "DELETE")
    assert st == 204, data
    st, _, _ = send(tool(s3, "GET", key), "GET")
    assert st == 404


def test_tampered_signature_is_refused(s3):
    key = unique("tamper \u00e9.txt")
    put = tool(s3, "PUT", key, "text/plain")
    body = b"must not be stored"
    for bad in (harness.bump_signature(put), flip_last_signature_char(put)):
        assert bad != put
        st, _, data = send(bad, "PUT", body, {"Content-Type": "text/plain"})
        assert st == 403, data
        assert b"SignatureDoesNotMatch" in data
    st, _, _ = send(tool(s3, "HEAD", key), "HEAD")
    assert st == 404

    # Now store it, and show the same holds for GET.
    st, _, data = send(put, "PUT", body, {"Content-Type": "text/plain"})
    assert st == 200, data
    get = tool(s3, "GET", key)
    assert send(get, "GET")[0] == 200
    assert send(harness.bump_signature(get), "GET")[0] == 403
    assert send(flip_last_signature_char(get), "GET")[0] == 403
    # A URL signed with another secret.
    forged = types.SimpleNamespace(**{k: getattr(s3, k) for k in
                                      ("host", "bucket", "region", "access_key")})
    forged.secret_key = "not-the-secret"
    assert send(tool(forged, "GET", key), "GET")[0] == 403


def test_other_content_type_is_refused(s3):
    key = unique("typed.pdf")
    put = tool(s3, "PUT", key, "application/pdf")
    body = b"%PDF-1.4 not really"
    st, _, data = send(put, "PUT", body, {"Content-Type": "image/png"})
    assert st == 403, data
    st, _, data = send(put, "PUT", body, {})
    assert st == 403, data
    assert send(tool(s3, "HEAD", key), "HEAD")[0] == 404
    st, _, data = send(put, "PUT", body, {"Content-Type": "application/pdf"})
    assert st == 200, data


def test_signed_content_length_is_enforced(s3):
    key = unique("sized.bin")
    body = os.urandom(4096)
    put = tool(s3, "PUT", key, "application/octet-stream",
               headers=["content-length:%d" % len(body)])
    st, _, data = send(put, "PUT", body + b"x",
                       {"Content-Type": "application/octet-stream"})
    assert st == 403, data
    st, _, data = send(put, "PUT", body, {"Content-Type": "application/octet-stream"})
    assert st == 200, data


def test_expired_url_is_refused(s3):
    key = unique("expired.txt")
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"old")
    assert send(tool(s3, "GET", key, expires=60), "GET")[0] == 200
    old = tool(s3, "GET", key, expires=60, when=int(time.time()) - 600)
    assert send(old, "GET")[0] == 403
