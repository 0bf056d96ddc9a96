"""The HTTP API against a real, signature-verifying S3 server (Ceph RGW).

Every endpoint: its happy path and its errors in the fixed
{"detail", "error_code"} shape. Presigned URLs are proven by using them:
bytes go up through the upload URL and come back through the download URL,
and S3 itself refuses a wrong Content-Type, a changed signature character
and an expired URL.
"""
import concurrent.futures
import json
import re
import time
import uuid
from datetime import datetime
from urllib.parse import quote, urlsplit, parse_qs

import pytest
import requests

import harness
from harness import error_shape_problem, raw_request, send_and_leave, send_raw

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Names real clients send; each must survive the round trip through a key,
# a presigned PUT and a presigned GET on a server that checks signatures.
AWKWARD_NAMES = [
    "hello world.txt",
    "r\u00e9sum\u00e9 \u00fcn\u00efc\u00f8d\u00e9 \u6587\u4ef6.txt",
    "a+b=c.txt",
    "100% done.txt",
    "it's \"quoted\".txt",
    "report (final) [v2].txt",
    "semi;colon&amp~tilde,comma.txt",
    "emoji \U0001F600.txt",
]


def upload_url(d, filename, **extra):
    body = {"filename": filename}
    body.update(extra)
    r = d.post("/upload-url", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def put_through(up, data, **headers):
    h = dict(up["headers"])
    h.update(headers)
    return requests.put(up["presigned_url"], data=data, headers=h, timeout=30)


def download_url(d, key):
    r = d.post("/download-url", json={"file_key": key})
    assert r.status_code == 200, r.text
    return r.json()


def unique(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def iso(ts):
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


# ------------------------------------------------------------------ GET /

def test_root_describes_the_service(presignd):
    d = presignd()
    r = d.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Server"] == "presignd"
    body = r.json()
    assert body["service"] == "presignd"
    assert re.match(r"^\d+\.\d+\.\d+", body["version"])
    for ep in ("POST /upload-url", "POST /download-url", "POST /upload-complete",
               "GET /files", "DELETE /files/{file_key}", "GET /health", "GET /redoc"):
        assert ep in body["endpoints"]
    assert body["allowed_file_types"] == harness.ALLOWED_TYPES
    assert body["max_file_size"] == 52428800
    assert body["upload_expires"] == 600


# ------------------------------------------------------- upload / download

@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_upload_then_download_round_trip(presignd, s3, name):
    d = presignd()
    data = ("payload for %s\n" % name).encode() + bytes(range(256))
    up = upload_url(d, name, size=len(data))
    assert up["method"] == "PUT"
    assert up["expires_in"] == 600
    assert up["content_type"] == "text/plain"
    assert up["headers"] == {"Content-Type": "text/plain", "Content-Length": str(len(data)),
                             "If-None-Match": "*"}
    assert up["max_file_size"] == 52428800
    key = up["file_key"]
    assert key.startswith("uploads/")
    assert key.endswith(".txt")
    assert UUID4_RE.match(key[len("uploads/"):len("uploads/") + 36]), key
    assert up["presigned_url"].startswith(s3.endpoint + "/" + s3.bucket + "/")

    r = put_through(up, data)
    assert r.status_code == 200, r.text

    # S3 holds exactly that key with exactly those bytes.
    head = s3.client().head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "text/plain"

    down = download_url(d, key)
    assert down["method"] == "GET"
    assert down["headers"] == {}
    assert down["file_key"] == key
    assert down["size"] == len(data)
    assert down["content_type"] == "text/plain"
    assert down["etag"] and '"' not in down["etag"]
    assert abs((iso(down["last_modified"]) - datetime.now(iso(down["last_modified"]).tzinfo))
               .total_seconds()) < 300
    g = requests.get(down["presigned_url"], timeout=30)
    assert g.status_code == 200, g.text
    assert g.content == data


def test_presign_responses_are_not_cached(presignd):
    d = presignd()
    r = d.post("/upload-url", json={"filename": "a.pdf", "size": 1})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"


def test_content_type_matches_case_insensitively(presignd):
    d = presignd()
    # Accepted in any case; the URL signs the client's own string, which is
    # what it will send.
    up = upload_url(d, "Photo.JPG", content_type="IMAGE/JPEG", size=3)
    assert up["content_type"] == "IMAGE/JPEG"
    assert up["headers"]["Content-Type"] == "IMAGE/JPEG"
    assert put_through(up, b"\xff\xd8\xff").status_code == 200


def test_content_type_optional_and_null(presignd):
    d = presignd()
    assert upload_url(d, "a.csv", size=1)["content_type"] == "text/csv"
    assert upload_url(d, "a.csv", content_type=None, size=1)["content_type"] == "text/csv"
    # "" is a browser's File.type for a type it does not know: absent too.
    assert upload_url(d, "a.csv", content_type="", size=1)["content_type"] == "text/csv"


def test_put_with_another_content_type_is_refused_by_s3(presignd):
    d = presignd()
    up = upload_url(d, "doc.pdf", size=len(b"%PDF-1.4"))
    r = put_through(up, b"%PDF-1.4", **{"Content-Type": "image/png"})
    assert r.status_code == 403, r.text
    r = put_through(up, b"%PDF-1.4")
    assert r.status_code == 200, r.text


def test_signed_size_is_enforced_by_s3(presignd):
    d = presignd()
    up = upload_url(d, "blob.bin", size=5)
    assert up["headers"] == {"Content-Type": "application/octet-stream",
                             "Content-Length": "5", "If-None-Match": "*"}
    assert put_through(up, b"123456").status_code == 403
    assert put_through(up, b"12345").status_code == 200


def test_changed_signature_character_is_refused(presignd, s3):
    d = presignd()
    up = upload_url(d, "sig.txt", size=1)
    bad = harness.bump_signature(up["presigned_url"])
    r = requests.put(bad, data=b"x", headers=up["headers"], timeout=30)
    assert r.status_code == 403, r.text
    assert put_through(up, b"x").status_code == 200

    down = download_url(d, up["file_key"])
    r = requests.get(harness.bump_signature(down["presigned_url"]), timeout=30)
    assert r.status_code == 403
    assert requests.get(down["presigned_url"], timeout=30).status_code == 200


def test_expired_url_is_refused(presignd):
    d = presignd({"presign": {"expires": 1}})
    up = upload_url(d, "late.txt", size=len(b"too late"))
    assert up["expires_in"] == 1
    q = parse_qs(urlsplit(up["presigned_url"]).query)
    assert q["X-Amz-Expires"] == ["1"]
    time.sleep(2.5)
    r = put_through(up, b"too late")
    assert r.status_code == 403, r.text


def test_upload_key_cannot_escape_the_prefix(presignd):
    d = presignd()
    for name in ("../../etc/passwd.txt", "..\\..\\boot.txt", "/abs/path.txt",
                 "dir/sub/../x.txt"):
        up = upload_url(d, name, size=1)
        key = up["file_key"]
        assert key.startswith("uploads/")
        rest = key[len("uploads/"):]
        assert "/" not in rest and "\\" not in rest, key
        assert UUID4_RE.match(rest[:36]), key


@pytest.mark.parametrize("body,status,code", [
    ({"filename": "virus.exe", "size": 1}, 400, "file_type_not_allowed"),
    ({"filename": "README", "size": 1}, 400, "file_type_not_allowed"),
    ({"filename": ".pdf", "size": 1}, 400, None),
    ({"filename": "a.pdf", "content_type": "image/png", "size": 1}, 400,
     "content_type_mismatch"),
    ({"filename": "a.pdf", "content_type": 7}, 400, "invalid_field"),
    ({}, 400, "missing_field"),
    ({"content_type": "application/pdf"}, 400, "missing_field"),
    ({"filename": None}, 400, "missing_field"),
    ({"filename": 123}, 400, "invalid_field"),
    ({"filename": ["a.pdf"]}, 400, "invalid_field"),
    ({"filename": ""}, 400, "invalid_field"),
    ({"filename": "a\u0000b.pdf"}, 400, "invalid_field"),
    ({"filename": "a.pdf", "extra": 1}, 400, "unknown_field"),
    ({"filename": "a.pdf"}, 400, "size_required"),
    ({"filename": "a.pdf", "size": None}, 400, "size_required"),
    ({"filename": "a.pdf", "size": -1}, 400, "invalid_field"),
    ({"filename": "a.pdf", "size": -5}, 400, "invalid_field"),
    ({"filename": "a.pdf", "size": "5"}, 400, "invalid_field"),
    ({"filename": "a.pdf", "size": 1.5}, 400, "invalid_field"),
    ({"filename": "a.pdf", "size": True}, 400, "invalid_field"),
    ({"filename": "a.pdf", "size": 52428801}, 413, "file_too_large"),
    ({"filename": "a.pdf", "size": 2 ** 70}, 413, "file_too_large"),
])
def test_upload_field_errors(presignd, body, status, code):
    d = presignd()
    assert error_shape_problem(d.post("/upload-url", json=body), status, code) is None


def test_upload_size_limit_boundary(presignd):
    d = presignd({"presign": {"max_file_size": 1000}})
    up = upload_url(d, "edge.bin", size=1000)
    assert up["headers"]["Content-Length"] == "1000"
    assert up["max_file_size"] == 1000
    # An empty file is a file too.
    assert upload_url(d, "empty.bin", size=0)["headers"]["Content-Length"] == "0"
    r = d.post("/upload-url", json={"filename": "edge.bin", "size": 1001})
    assert error_shape_problem(r, 413, "file_too_large") is None


@pytest.mark.parametrize("raw", [
    b"{", b"[]", b"\"a.pdf\"", b"null", b"42", b"{\"filename\": \"a.pdf\"} x",
    b"{\"filename\": \"a.pdf\"}{}", b"{'filename': 'a.pdf'}", b"{\"filename\": \"a.pdf\",}",
    b"{\"filename\": \"a.pdf\", \"filename\": \"b.pdf\"}", b"", b"   ",
    b"{\"filename\": \"\xff\xfe.pdf\"}", b"{\"filename\": NaN}",
    b"{\"filename\": \"a.pdf\", \"size\": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
])
def test_malformed_json(presignd, raw):
    d = presignd()
    r = d.post("/upload-url", data=raw, headers={"Content-Type": "application/json"})
    assert error_shape_problem(r, 400, "invalid_json") is None


def test_media_types(presignd):
    d = presignd()
    body = json.dumps({"filename": "a.pdf", "size": 1}).encode()
    # FastAPI accepted a body without Content-Type; so do we.
    r = d.post("/upload-url", data=body)
    assert "Content-Type" not in r.request.headers
    assert r.status_code == 200, r.text
    r = d.post("/upload-url", data=body,
               headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 200, r.text
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
               "application/jsonx"):
        r = d.post("/upload-url", data=body, headers={"Content-Type": ct})
        assert error_shape_problem(r, 415, "unsupported_media_type") is None


def test_body_too_large(presignd):
    d = presignd({"server": {"max_body_size": 4096}})
    big = json.dumps({"filename": "a.pdf", "content_type": "x" * 5000})
    r = d.post("/upload-url", data=big, headers={"Content-Type": "application/json"})
    assert error_shape_problem(r, 413, "payload_too_large") is None

    # The same without a Content-Length (chunked): measured after reading.
    def chunks():
        yield big[:2000].encode()
        yield big[2000:].encode()
    r = d.post("/upload-url", data=chunks(), headers={"Content-Type": "application/json"})
    assert error_shape_problem(r, 413, "payload_too_large") is None

    # Far too large: refused as soon as the headers are read.
    r = send_raw(d.port, raw_request("POST", "/upload-url", ["Content-Type: application/json",
                                                             "Content-Length: 100000000"],
                                     b"{", close=False), timeout=10, wait_close=False)
    assert r.status_line.startswith("HTTP/1.1 413"), r

    # A body of exactly the limit is fine (the long name is cut to
    # uploads.max_filename_bytes, keeping its extension).
    ok = json.dumps({"filename": "a" * (4096 - 27 - 4) + ".pdf", "size": 1})
    assert len(ok) == 4096
    r = d.post("/upload-url", data=ok, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["file_key"].endswith("a.pdf")


def test_download_missing_object_is_404(presignd):
    d = presignd()
    r = d.post("/download-url", json={"file_key": "uploads/%s.pdf" % unique()})
    assert error_shape_problem(r, 404, "file_not_found") is None


@pytest.mark.parametrize("body,code", [
    ({"file_key": "other/x.pdf"}, "invalid_file_key"),
    ({"file_key": "uploads"}, "invalid_file_key"),
    ({"file_key": "uploads/"}, "invalid_file_key"),
    ({"file_key": "uploads/../secret.pdf"}, "invalid_file_key"),
    ({"file_key": "uploads/./x.pdf"}, "invalid_file_key"),
    ({"file_key": "uploads//x.pdf"}, "invalid_file_key"),
    ({"file_key": "/uploads/x.pdf"}, "invalid_file_key"),
    ({"file_key": "uploads/a\u0001b.pdf"}, "invalid_file_key"),
    ({"file_key": "uploads/" + "a" * 1100}, "invalid_file_key"),
    ({"file_key": ""}, "invalid_field"),
    ({"file_key": 5}, "invalid_field"),
    ({}, "missing_field"),
    ({"file_key": "uploads/a.pdf", "x": 1}, "unknown_field"),
])
def test_download_key_errors(presignd, body, code):
    d = presignd()
    assert error_shape_problem(d.post("/download-url", json=body), 400, code) is None


def test_download_outside_prefix_refused_even_if_present(presignd, s3):
    key = "private/%s.txt" % unique()
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"secret")
    d = presignd()
    r = d.post("/download-url", json={"file_key": key})
    assert error_shape_problem(r, 400, "invalid_file_key") is None
    r = d.get("/files", params={"prefix": "private/"})
    assert error_shape_problem(r, 400, "invalid_prefix") is None
    assert error_shape_problem(d.delete("/files/" + key), 400, "invalid_file_key") is None
    assert s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() == b"secret"


# ------------------------------------------------------------- GET /files

def test_list_pages_with_continuation_token(presignd, s3):
    d = presignd()
    base = "uploads/%s/" % unique("list")
    c = s3.client()
    expect = {}
    for i in range(7):
        key = "%sf%02d.txt" % (base, i)
        resp = c.put_object(Bucket=s3.bucket, Key=key, Body=b"x" * i)
        expect[key] = (i, resp["ETag"].strip('"'))

    seen, token, pages = {}, None, 0
    while True:
        params = {"prefix": base, "max_keys": 3}
        if token:
            params["continuation_token"] = token
        r = d.get("/files", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert body["count"] == len(body["files"]) <= 3
        for f in body["files"]:
            assert set(f) == {"key", "size", "last_modified", "etag"}
            iso(f["last_modified"])
            seen[f["key"]] = (f["size"], f["etag"])
        if not body["is_truncated"]:
            assert body["next_continuation_token"] is None
            break
        token = body["next_continuation_token"]
        assert isinstance(token, str) and token
        assert pages < 10
    assert pages == 3
    assert seen == expect


def test_list_defaults(presignd, s3):
    d = presignd()
    base = "uploads/%s/" % unique("deflist")
    key = base + "a b.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"abc")
    r = d.get("/files")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == len(body["files"]) <= 100
    assert all(f["key"].startswith("uploads/") for f in body["files"])
    r = d.get("/files", params={"prefix": key})
    assert [f["key"] for f in r.json()["files"]] == [key]
    assert r.json()["is_truncated"] is False
    # In a query string '+' is a space (form encoding) and %2B a plus.
    r = d.get("/files?prefix=" + quote(base, safe="") + "a+b")
    assert [f["key"] for f in r.json()["files"]] == [key]
    r = d.get("/files?prefix=" + quote(base, safe="") + "a%2Bb")
    assert r.json()["count"] == 0


@pytest.mark.parametrize("query,code", [
    ("prefix=other/", "invalid_prefix"),
    ("prefix=", "invalid_prefix"),
    ("prefix=uploads/../", "invalid_prefix"),
    ("prefix=uploads/%00", None),
    ("max_keys=0", "invalid_field"),
    ("max_keys=1001", "invalid_field"),
    ("max_keys=abc", "invalid_field"),
    ("max_keys=1.5", "invalid_field"),
    ("max_keys=-1", "invalid_field"),
    ("max_keys=", "invalid_field"),
    ("max_keys=99999999999999999999", "invalid_field"),
])
def test_list_errors(presignd, query, code):
    d = presignd()
    assert error_shape_problem(d.get("/files?" + query), 400, code) is None


def test_list_max_keys_bounds(presignd):
    d = presignd()
    assert d.get("/files?max_keys=1").status_code == 200
    assert d.get("/files?max_keys=1000").status_code == 200


# ------------------------------------------------------- DELETE /files/{key}

def test_delete_then_download_is_404(presignd, s3):
    d = presignd()
    up = upload_url(d, "to delete (1) + 100%.txt", size=len(b"bye"))
    assert put_through(up, b"bye").status_code == 200
    key = up["file_key"]
    r = d.delete("/files/" + quote(key, safe="/"))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "File %s deleted successfully" % key}
    r = d.post("/download-url", json={"file_key": key})
    assert error_shape_problem(r, 404, "file_not_found") is None
    with pytest.raises(Exception):
        s3.client().head_object(Bucket=s3.bucket, Key=key)
    # Deleting is idempotent, as in S3.
    assert d.delete("/files/" + quote(key, safe="/")).status_code == 200


def test_delete_decodes_the_path_but_not_plus(presignd, s3):
    d = presignd()
    c = s3.client()
    base = "uploads/%s/" % unique("del")
    plus, space = base + "a+b.txt", base + "a b.txt"
    c.put_object(Bucket=s3.bucket, Key=plus, Body=b"p")
    c.put_object(Bucket=s3.bucket, Key=space, Body=b"s")
    assert d.delete("/files/" + base + "a+b.txt").status_code == 200
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=s3.bucket, Prefix=base)["Contents"]]
    assert keys == [space]
    assert d.delete("/files/" + quote(space, safe="")).status_code == 200
    assert "Contents" not in c.list_objects_v2(Bucket=s3.bucket, Prefix=base)


@pytest.mark.parametrize("path", [
    "/files/other/x.txt",
    "/files/uploads",
    "/files/uploads/",
    "/files/uploads%2F..%2Fx.txt",
    "/files/uploads/../x.txt",
    "/files/uploads/a%00b.txt",
    "/files/uploads/a%01b.txt",
    "/files/uploads/%FF.txt",
])
def test_delete_key_errors(presignd, path):
    d = presignd()
    # Raw, so that no client library normalizes the path first.
    r = send_raw(d.port, raw_request("DELETE", path), timeout=10)
    assert r.status_line.startswith("HTTP/1.1 400"), r
    assert r.json()["error_code"] == "invalid_file_key"


# ------------------------------------------------------------ GET /health

def test_health(presignd):
    d = presignd()
    r = d.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "healthy"
    assert body["s3_connection"] == "ok"
    assert abs((iso(body["timestamp"]) - datetime.now(iso(body["timestamp"]).tzinfo))
               .total_seconds()) < 60
    assert body["version"] == d.get("/").json()["version"]
    assert d.head("/health").status_code == 200


def test_s3_outage_and_recovery(presignd, s3):
    d = presignd({"s3": {"health_cache_ms": 200, "connect_timeout_ms": 500,
                         "request_timeout_ms": 2000}})
    key = "uploads/%s.txt" % unique("outage")
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"still here")
    assert d.get("/health").status_code == 200
    s3.stop_gateway()
    try:
        time.sleep(0.5)     # past the health cache
        r = d.get("/health", timeout=30)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "unhealthy"
        assert body["s3_connection"] == "error"
        assert body["error_code"] == "s3_unavailable"
        assert body["detail"]
        iso(body["timestamp"])
        r = d.post("/download-url", json={"file_key": key}, timeout=30)
        assert error_shape_problem(r, 503, "s3_unavailable") is None
        r = d.get("/files", timeout=30)
        assert error_shape_problem(r, 503, "s3_unavailable") is None
        r = d.delete("/files/" + key, timeout=30)
        assert error_shape_problem(r, 503, "s3_unavailable") is None
        # Presigning needs no S3 round trip: uploads still get URLs.
        assert d.post("/upload-url", json={"filename": "a.pdf", "size": 1}).status_code == 200
    finally:
        s3.start_gateway()
    harness.wait_for(lambda: d.get("/health", timeout=30).status_code == 200, 30,
                     interval=0.3, what="healthy again without a restart")
    assert download_url(d, key)["size"] == len(b"still here")


def test_health_probes_share_one_s3_call(presignd):
    d = presignd({"s3": {"health_cache_ms": 60000}}, workers=1)
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        codes = list(ex.map(lambda _: d.get("/health").status_code, range(60)))
    assert codes == [200] * 60
    m = d.get("/metrics").text
    calls = sum(float(line.rsplit(" ", 1)[1]) for line in m.splitlines()
                if line.startswith("presignd_s3_requests_total{") and "head_bucket" in line)
    assert 1 <= calls <= 2, m


# ------------------------------------------------------- errors, routing

def test_unknown_route_is_json_404(presignd):
    d = presignd()
    for path in ("/nope", "/upload-url/", "/files/", "/health/x", "/docs/",
                 "/%2e%2e/etc/passwd"):
        assert error_shape_problem(d.get(path), 404, "not_found") is None


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/upload-url", "POST"),
    ("PUT", "/upload-url", "POST"),
    ("GET", "/download-url", "POST"),
    ("GET", "/upload-complete", "POST"),
    ("POST", "/files", "GET"),
    ("DELETE", "/files", "GET"),
    ("GET", "/files/uploads/x.txt", "DELETE"),
    ("POST", "/health", "GET"),
    ("PATCH", "/", "GET"),
    ("DELETE", "/openapi.json", "GET"),
])
def test_wrong_method_is_json_405(presignd, method, path, allow):
    d = presignd()
    r = d.request(method, path)
    assert error_shape_problem(r, 405, "method_not_allowed") is None
    assert allow in [m.strip() for m in r.headers["Allow"].split(",")]


def test_head_has_no_body_and_keeps_the_connection_usable(presignd):
    d = presignd()
    get_len = len(d.get("/").content)
    # Pipelined; read until the server closes after the second answer.
    r = send_raw(d.port, raw_request("HEAD", "/", close=False) +
                 raw_request("GET", "/openapi.json"), timeout=10)
    assert r.status_line.startswith("HTTP/1.1 200"), r
    assert r.headers.get("Content-Length") == str(get_len), r
    # Nothing between the HEAD answer's head and the next answer.
    assert r.rest.startswith(b"HTTP/1.1 200"), r.rest[:200]
    assert harness.RawResponse(r.rest).json()["openapi"] == "3.0.3"


def test_common_headers(presignd):
    d = presignd()
    for r in (d.get("/"), d.get("/nope"), d.get("/health"),
              d.post("/upload-url", json={"filename": "x.exe"})):
        assert r.headers["Server"] == "presignd"
        assert UUID4_RE.match(r.headers["X-Request-Id"])
        assert r.headers["Content-Type"].startswith("application/json")


# ------------------------------------------------------------ request ids

def test_request_id_echo_and_generation(presignd):
    d = presignd()
    for good in ("abc", "req-1.2_3", "A" * 128):
        assert d.get("/", headers={"X-Request-Id": good}).headers["X-Request-Id"] == good
    for bad in ("", "has space", "a" * 129, "semi;colon", "new\tline", "\u00e9t\u00e9"):
        hdrs = {"X-Request-Id": bad.encode("utf-8")} if bad else {"X-Request-Id": bad}
        got = d.get("/", headers=hdrs).headers["X-Request-Id"]
        assert UUID4_RE.match(got), (bad, got)
    ids = {d.get("/").headers["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20


# ------------------------------------------------------------------ CORS

def test_cors_any_origin(presignd):
    d = presignd()
    r = d.options("/upload-url", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-request-id"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    allowed = [h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")]
    assert "content-type" in allowed and "x-request-id" in allowed
    assert int(r.headers["Access-Control-Max-Age"]) == 600
    assert "Origin" in r.headers["Vary"]

    r = d.options("/files/uploads/x.txt", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"})
    assert r.status_code == 204
    assert "DELETE" in r.headers["Access-Control-Allow-Methods"]

    r = d.post("/upload-url", json={"filename": "a.pdf", "size": 1},
               headers={"Origin": "https://x.example"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"]
    assert "Origin" in r.headers["Vary"]

    r = d.get("/health")
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_listed_origins(presignd):
    d = presignd({"cors": {"allow_origins": ["https://app.example", "http://localhost:3000"],
                           "allow_headers": ["Content-Type"], "max_age": 120}})
    pre = {"Access-Control-Request-Method": "POST"}
    r = d.options("/download-url", headers=dict(pre, Origin="https://app.example"))
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert r.headers["Access-Control-Max-Age"] == "120"
    assert "Origin" in r.headers["Vary"]

    r = d.options("/download-url", headers=dict(pre, Origin="https://evil.example"))
    assert error_shape_problem(r, 403, "cors_origin_not_allowed") is None
    assert "Access-Control-Allow-Origin" not in r.headers

    r = d.get("/", headers={"Origin": "http://localhost:3000"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    r = d.get("/", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers

    r = d.options("/nope", headers=dict(pre, Origin="https://app.example"))
    assert error_shape_problem(r, 404, "not_found") is None


def test_plain_options_lists_methods(presignd):
    d = presignd()
    r = d.options("/files")
    assert r.status_code == 204
    assert "GET" in r.headers["Allow"]


# ------------------------------------------------------ OpenAPI and docs

def test_openapi_document(presignd):
    d = presignd({"presign": {"max_file_size": 12345}})
    r = d.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["version"] == d.get("/").json()["version"]
    assert set(doc["paths"]) == {"/", "/upload-url", "/download-url", "/upload-complete",
                                 "/files", "/files/{file_key}", "/health", "/metrics",
                                 "/openapi.json", "/docs", "/redoc", "/docs/assets/{hash}/{name}",
                                 "/upload-form",
                                 "/s3/params", "/s3/multipart", "/s3/multipart/{uploadId}",
                                 "/s3/multipart/{uploadId}/batch",
                                 "/s3/multipart/{uploadId}/complete",
                                 "/s3/multipart/{uploadId}/{partNumber}", "/s3/sign"}
    assert "post" in doc["paths"]["/upload-url"]
    assert "delete" in doc["paths"]["/files/{file_key}"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["Error"]["required"]) == {"detail", "error_code"}
    assert schemas["UploadRequest"]["properties"]["size"]["maximum"] == 12345
    assert doc["info"]["x-allowed-file-types"] == harness.ALLOWED_TYPES
    for ext in harness.ALLOWED_TYPES:
        assert ext in schemas["UploadRequest"]["properties"]["filename"]["description"]

    # Every $ref points at something.
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for ref in refs(doc):
        cur = doc
        for part in ref.lstrip("#/").split("/"):
            cur = cur[part]
    # Every operation documents its responses.
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["responses"], (path, method)


# The pages that render the document (/docs, /redoc): test_docs.py.


# --------------------------------------------------------------- metrics

def test_metrics_on_a_separate_listener(presignd):
    port = harness.free_port()
    d = presignd({"server": {"metrics_listen": "127.0.0.1:%d" % port}})
    assert error_shape_problem(d.get("/metrics"), 404, "not_found") is None
    r = requests.get("http://127.0.0.1:%d/metrics" % port, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "presignd_http_requests_total" in r.text
    r = requests.get("http://127.0.0.1:%d/upload-url" % port, timeout=10)
    assert error_shape_problem(r, 404, "not_found") is None
    assert "GET /metrics" not in d.get("/").json()["endpoints"]


def test_metrics_on_the_main_listener(presignd):
    d = presignd()
    d.get("/nope")
    r = d.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert re.search(r'presignd_http_requests_total\{[^}]*route="other"[^}]*status="404"',
                     r.text), r.text


# ------------------------------------------------------------ concurrency

def test_concurrent_requests(presignd, s3):
    d = presignd()
    key = "uploads/%s.txt" % unique("conc")
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"c")
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=64, pool_maxsize=64)
    session.mount("http://", adapter)

    def one(i):
        kind = i % 4
        if kind == 0:
            r = session.post(d.url + "/upload-url", json={"filename": "f%d.pdf" % i, "size": i},
                             timeout=30)
        elif kind == 1:
            r = session.post(d.url + "/download-url", json={"file_key": key}, timeout=30)
        elif kind == 2:
            r = session.get(d.url + "/files", params={"prefix": key}, timeout=30)
        else:
            r = session.get(d.url + "/health", timeout=30)
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        codes = list(ex.map(one, range(200)))
    assert codes == [200] * 200


@pytest.mark.parametrize("flavour", ["presignd", "presignd_asan"])
def test_client_that_leaves_early_cancels_its_s3_call(request, blackhole, flavour):
    """Clients that hang up while their S3 call hangs: the worker notices at
    once (499 in the access log), cancels the call and never touches the
    freed request (the ASan flavour proves the last part)."""
    d = request.getfixturevalue(flavour)(
        {"s3": {"endpoint": blackhole.endpoint, "request_timeout_ms": 30000}},
        workers=1)
    body = json.dumps({"file_key": "uploads/x.txt"}).encode()
    ids = []
    for i in range(10):
        rid = "leave-early-%d" % i
        ids.append(rid)
        send_and_leave(d.port, raw_request("POST", "/download-url",
                                           ["X-Request-Id: " + rid,
                                            "Content-Type: application/json"],
                                           body, close=False), wait=0.05)
    rid = "leave-early-files"
    ids.append(rid)
    send_and_leave(d.port, raw_request("GET", "/files", ["X-Request-Id: " + rid], close=False),
                   wait=0.05, shutdown=True)

    def lines():
        out = {}
        for line in d.log().splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                out[rec["request_id"]] = rec
        return out
    harness.wait_for(lambda: all(i in lines() for i in ids), 5, what="499 lines")
    recs = lines()
    for i in ids:
        assert recs[i]["status"] == 499, recs[i]
        assert recs[i]["duration_ms"] < 5000
    # The worker is fine and serves on.
    assert d.get("/").status_code == 200


def test_clients_leaving_during_real_s3_calls(presignd_asan, s3):
    d = presignd_asan()
    key = "uploads/%s.txt" % unique("abort")
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"a")
    body = json.dumps({"file_key": key}).encode()
    for _ in range(40):
        send_and_leave(d.port, raw_request("POST", "/download-url",
                                           ["Content-Type: application/json"], body,
                                           close=False))
        send_and_leave(d.port, raw_request("GET", "/files", close=False), shutdown=True)
    time.sleep(1)
    assert download_url(d, key)["size"] == 1
    assert d.get("/health").status_code == 200


def test_drain_answers_in_flight_requests_with_connection_close(presignd, blackhole):
    """SIGTERM while a request waits for S3: the request still gets its
    answer (here S3's timeout as 503), marked Connection: close."""
    d = presignd({"server": {"shutdown_timeout": 10},
                  "s3": {"endpoint": blackhole.endpoint,
                         "request_timeout_ms": 1500, "max_attempts": 1}}, workers=1)
    s = requests.Session()
    assert s.get(d.url + "/").headers.get("Connection") != "close"
    result = {}
    s3_before = blackhole.accepted()

    def slow():
        try:
            result["r"] = s.post(d.url + "/download-url", json={"file_key": "uploads/x.txt"},
                                 timeout=30)
        except requests.RequestException as e:
            result["e"] = e
    t = __import__("threading").Thread(target=slow)
    t.start()
    # The S3 client connecting to the black hole: the request is in flight.
    blackhole.wait_connections(s3_before + 1, timeout=10)
    d.signal(__import__("signal").SIGTERM)
    t.join(30)
    assert "r" in result, "%s\n%s" % (result.get("e"), d.log())
    r = result["r"]
    assert error_shape_problem(r, 503, "s3_unavailable") is None
    assert r.headers["Connection"].lower() == "close"
    assert d.wait_exit(20) == 0
