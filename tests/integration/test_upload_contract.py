"""The upload contract, against the Ceph RADOS Gateway (which verifies every
signature): what an upload URL signs is what S3 enforces.

  size        required by default; the URL signs Content-Length, so S3
              refuses a body one byte longer or shorter
  one-shot    If-None-Match: * is signed: a second PUT gets 412
  integrity   md5 is signed as Content-MD5 (S3 checks the bytes), sha256 as
              x-amz-checksum-sha256 (signed: checked against botocore)
  types       browser aliases, parameters and "" are accepted; the URL signs
              the client's exact string
  downloads   response-content-disposition: the name a browser saves under,
              decoded by an RFC 6266 reader and by chromium
  confirm     POST /upload-complete
  old clients the previous service's request shapes, its Python example and a
              page written for it, with require_size: false, overwrite: true

These tests run on the shipped defaults of uploads.allowed_types (the
harness's base config replaces them, DEFAULT_TYPES puts them back).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests

import harness
from harness import error_shape_problem

ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

DEFAULT_TYPES = {"uploads": {"allowed_types": None}}
OLD_CLIENTS = {"uploads": {"allowed_types": None, "require_size": False, "overwrite": True}}


def b64(data):
    return base64.b64encode(data).decode()


def md5_of(data):
    return b64(hashlib.md5(data).digest())


def sha256_of(data):
    return b64(hashlib.sha256(data).digest())


def grant(d, **body):
    r = d.post("/upload-url", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def put(up, data, **changes):
    """PUT DATA through the grant, with its headers changed by CHANGES
    (None drops one). requests sends Content-Length = len(DATA) itself."""
    h = {k: v for k, v in up["headers"].items() if k != "Content-Length"}
    for k, v in changes.items():
        k = k.replace("_", "-")
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return requests.put(up["presigned_url"], data=data, headers=h, timeout=30)


def stored(s3, key):
    obj = s3.client().get_object(Bucket=s3.bucket, Key=key)
    return obj["Body"].read(), obj


def missing(s3, key):
    from botocore.exceptions import ClientError
    try:
        s3.client().head_object(Bucket=s3.bucket, Key=key)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


def s3_code(r):
    m = re.search(r"<Code>([^<]+)</Code>", r.text)
    return m.group(1) if m else None


# ------------------------------------------------------------------ size

def test_size_is_required_by_default(presignd):
    d = presignd(DEFAULT_TYPES)
    assert d.get("/").json()["require_size"] is True
    r = d.post("/upload-url", json={"filename": "a.pdf"})
    assert error_shape_problem(r, 400, "size_required") is None
    assert "52428800" in r.json()["detail"]
    r = d.post("/upload-url", json={"filename": "a.pdf", "size": 52428801})
    assert error_shape_problem(r, 413, "file_too_large") is None
    # An empty file is a file.
    up = grant(d, filename="empty.txt", size=0)
    assert up["headers"]["Content-Length"] == "0"


def test_signed_length_is_enforced_by_s3(presignd, s3):
    d = presignd(dict(DEFAULT_TYPES, presign={"max_file_size": 4096}))
    data = os.urandom(1000)
    up = grant(d, filename="exact.pdf", size=len(data))
    assert up["size"] == 1000 and up["max_file_size"] == 4096
    assert up["headers"]["Content-Length"] == "1000"
    signed = dict(parse_qsl(urlsplit(up["presigned_url"]).query))["X-Amz-SignedHeaders"]
    assert "content-length" in signed.split(";")
    for wrong in (data + b"x", data[:-1]):
        r = put(up, wrong)
        assert r.status_code == 403, (len(wrong), r.status_code, r.text)
        assert s3_code(r) == "SignatureDoesNotMatch"
    assert missing(s3, up["file_key"])
    r = put(up, data)
    assert r.status_code == 200, r.text
    assert stored(s3, up["file_key"])[0] == data


def test_require_size_false_serves_clients_that_send_nothing(presignd, s3):
    d = presignd(OLD_CLIENTS)
    assert "uploads.require_size is false" in d.log()
    # The previous service's request and answer shapes.
    up = grant(d, filename="old.pdf", content_type="application/pdf")
    for field in ("presigned_url", "expires_in", "file_key"):
        assert field in up
    assert up["headers"] == {"Content-Type": "application/pdf"}
    assert up["size"] is None
    data = os.urandom(3000)
    r = requests.put(up["presigned_url"], data=data,
                     headers={"Content-Type": "application/pdf"}, timeout=30)
    assert r.status_code == 200, r.text
    assert stored(s3, up["file_key"])[0] == data
    # A client that does send a size still gets it signed.
    up = grant(d, filename="sized.pdf", size=10)
    assert up["headers"]["Content-Length"] == "10"
    assert put(up, b"0123456789x").status_code == 403


# -------------------------------------------------------------- one-shot

def test_upload_urls_work_once(presignd, s3):
    d = presignd(DEFAULT_TYPES)
    assert d.get("/").json()["overwrite"] is False
    up = grant(d, filename="once.txt", size=5)
    assert up["headers"]["If-None-Match"] == "*"
    # Signed: leaving it out is refused like any other change.
    r = put(up, b"first", If_None_Match=None)
    assert r.status_code == 403 and s3_code(r) == "SignatureDoesNotMatch", r.text
    assert put(up, b"first").status_code == 200
    r = put(up, b"other")
    assert r.status_code == 412, (r.status_code, r.text)
    body, _ = stored(s3, up["file_key"])
    assert body == b"first"


def test_overwrite_true_lets_the_url_replace(presignd, s3):
    d = presignd(dict(DEFAULT_TYPES, uploads={"allowed_types": None, "overwrite": True}))
    up = grant(d, filename="again.txt", size=5)
    assert "If-None-Match" not in up["headers"]
    assert put(up, b"first").status_code == 200
    assert put(up, b"again").status_code == 200
    assert stored(s3, up["file_key"])[0] == b"again"


# ------------------------------------------------------------- integrity

def test_md5_is_signed_and_checked_by_s3(presignd, s3):
    d = presignd(DEFAULT_TYPES)
    data = os.urandom(4096)
    up = grant(d, filename="sum.pdf", size=len(data), md5=md5_of(data))
    assert up["headers"]["Content-MD5"] == md5_of(data)
    other = bytes(reversed(data))
    r = put(up, other)
    assert r.status_code == 400 and s3_code(r) == "BadDigest", (r.status_code, r.text)
    # Changing the header to match the other bytes breaks the signature.
    r = put(up, other, Content_MD5=md5_of(other))
    assert r.status_code == 403 and s3_code(r) == "SignatureDoesNotMatch", r.text
    assert missing(s3, up["file_key"])
    assert put(up, data).status_code == 200
    assert stored(s3, up["file_key"])[0] == data


def botocore_signature(url, method, headers, region):
    """The signature botocore computes for the presigned URL URL (its
    X-Amz-Signature removed) carrying HEADERS: an independent SigV4."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "X-Amz-Signature"]
    params = dict(query)
    access_key = params["X-Amz-Credential"].split("/")[0]
    return params, access_key, lambda secret: _sign(
        S3SigV4QueryAuth, AWSRequest, Credentials, parts, query, params, method, headers,
        region, access_key, secret)


def _sign(auth_cls, req_cls, creds_cls, parts, query, params, method, headers, region,
          access_key, secret):
    from urllib.parse import quote
    qs = "&".join("%s=%s" % (quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    req = req_cls(method=method, url="%s://%s%s?%s" % (parts.scheme, parts.netloc, parts.path, qs),
                  headers=dict(headers, host=parts.netloc))
    req.context["timestamp"] = params["X-Amz-Date"]
    auth = auth_cls(creds_cls(access_key, secret), "s3", region,
                    expires=int(params["X-Amz-Expires"]))
    canonical = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, canonical), req), auth.signed_headers(
        auth.headers_to_sign(req))


def test_sha256_is_signed(presignd, s3):
    d = presignd(DEFAULT_TYPES)
    data = os.urandom(2048)
    up = grant(d, filename="sum.pdf", size=len(data), sha256=sha256_of(data), md5=md5_of(data))
    h = up["headers"]
    assert h["x-amz-checksum-sha256"] == sha256_of(data)
    assert h["x-amz-sdk-checksum-algorithm"] == "SHA256"
    params, access_key, sign = botocore_signature(up["presigned_url"], "PUT", h, s3.region)
    signature, signed_headers = sign(s3.secret_key)
    assert signed_headers == params["X-Amz-SignedHeaders"]
    assert set(signed_headers.split(";")) == {
        "content-length", "content-md5", "content-type", "host", "if-none-match",
        "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"}
    assert signature == dict(parse_qsl(urlsplit(up["presigned_url"]).query))["X-Amz-Signature"]
    # The gateway agrees the header is signed: another value is refused.
    r = put(up, data, x_amz_checksum_sha256=sha256_of(b"other"))
    assert r.status_code == 403 and s3_code(r) == "SignatureDoesNotMatch", r.text
    assert put(up, data).status_code == 200


@pytest.mark.parametrize("field,value", [
    ("md5", "abc"),
    ("md5", hashlib.md5(b"x").hexdigest()),            # hex, not base64
    ("md5", b64(os.urandom(15))),
    ("md5", b64(os.urandom(17))),
    ("md5", b64(hashlib.md5(b"x").digest()).rstrip("=")),
    ("md5", "_-" + b64(hashlib.md5(b"x").digest())[2:]),  # URL-safe alphabet
    ("md5", " " + md5_of(b"x")[1:]),
    ("md5", 16),
    ("md5", ""),
    ("sha256", md5_of(b"x")),
    ("sha256", hashlib.sha256(b"x").hexdigest()),
    ("sha256", sha256_of(b"x") + "\n"),
    ("sha256", ["x"]),
])
def test_bad_digests_are_refused(presignd, field, value):
    d = presignd(DEFAULT_TYPES)
    r = d.post("/upload-url", json={"filename": "a.pdf", "size": 1, field: value})
    assert error_shape_problem(r, 400, "invalid_field") is None
    assert field in r.json()["detail"]


# ------------------------------------------------------------ content types

@pytest.mark.parametrize("filename,sent,signed", [
    ("a.zip", "application/x-zip-compressed", "application/x-zip-compressed"),  # Windows
    ("a.csv", "application/vnd.ms-excel", "application/vnd.ms-excel"),  # Excel installed
    ("a.csv", "text/csv; charset=utf-8", "text/csv; charset=utf-8"),
    ("a.json", "application/json;charset=UTF-8", "application/json;charset=UTF-8"),
    ("a.pdf", "APPLICATION/PDF", "APPLICATION/PDF"),
    ("a.pdf", "", "application/pdf"),                       # the browser does not know
    ("a.pdf", None, "application/pdf"),
    ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("a.doc", "application/msword", "application/msword"),
    ("a.mp3", "audio/mpeg", "audio/mpeg"),
    ("a.mp3", "audio/mp3", "audio/mp3"),
    ("a.jpg", "image/pjpeg", "image/pjpeg"),
])
def test_content_types_browsers_send(presignd, s3, filename, sent, signed):
    d = presignd(DEFAULT_TYPES)
    body = {"filename": filename, "size": 3}
    if sent is not None:
        body["content_type"] = sent
    up = grant(d, **body)
    assert up["content_type"] == signed
    assert up["headers"]["Content-Type"] == signed
    if sent:
        # Sending the bare media type instead of the signed string fails.
        bare = sent.split(";")[0].lower()
        if bare != sent:
            assert put(up, b"abc", Content_Type=bare).status_code == 403
    assert put(up, b"abc").status_code == 200
    assert stored(s3, up["file_key"])[1]["ContentType"] == signed


@pytest.mark.parametrize("filename,sent,code", [
    ("a.pdf", "image/png", "content_type_mismatch"),
    ("a.pdf", "application/pdfx", "content_type_mismatch"),
    ("a.zip", "application/pdf", "content_type_mismatch"),
    ("a.pdf", "application/pdf\r\nX-Evil: 1", "invalid_field"),
    ("a.pdf", " application/pdf", "invalid_field"),
    ("a.pdf", "application/pdf; name=caf\u00e9", "invalid_field"),
    ("a.pdf", "application/pdf; x=" + "y" * 300, "invalid_field"),
    ("a.pdf", 7, "invalid_field"),
])
def test_content_type_mismatches(presignd, filename, sent, code):
    d = presignd(DEFAULT_TYPES)
    r = d.post("/upload-url", json={"filename": filename, "size": 1, "content_type": sent})
    assert error_shape_problem(r, 400, code) is None
    if code == "content_type_mismatch":
        # The error says what would have been accepted.
        accepted = d.get("/").json()["accepted_content_types"][filename[1:]]
        for t in accepted:
            assert t in r.json()["detail"]


def test_root_lists_the_accepted_types(presignd):
    d = presignd(DEFAULT_TYPES)
    info = d.get("/").json()
    for ext in (".jpg", ".jpeg", ".png", ".gif", ".pdf", ".txt", ".doc", ".docx", ".mp4",
                ".mp3", ".zip"):
        assert ext in info["allowed_file_types"], ext
        assert info["accepted_content_types"][ext][0] == info["allowed_file_types"][ext]
    assert "application/x-zip-compressed" in info["accepted_content_types"][".zip"]
    assert "application/vnd.ms-excel" in info["accepted_content_types"][".csv"]


# ------------------------------------------------------------ download names

def rfc6266_filename(value):
    """The name a user agent takes from a Content-Disposition value, per RFC
    6266: filename* (RFC 5987, UTF-8 percent-encoded) wins over filename."""
    m = re.match(r"\s*([A-Za-z-]+)\s*", value)
    assert m, value
    kind, rest = m.group(1).lower(), value[m.end():]
    params = {}
    token = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    for pm in re.finditer(r';\s*(%s)\s*=\s*("(?:[^"\\]|\\.)*"|%s)\s*' % (token, token), rest):
        name, raw = pm.group(1).lower(), pm.group(2)
        assert name not in params, "parameter %s twice in %r" % (name, value)
        params[name] = (re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw)
    consumed = "".join(p.group(0) for p in re.finditer(
        r';\s*(%s)\s*=\s*("(?:[^"\\]|\\.)*"|%s)\s*' % (token, token), rest))
    assert consumed == rest, "unparsed parts in %r" % value
    if "filename*" in params:
        charset, _, encoded = params["filename*"].split("'", 2)
        assert charset.upper() == "UTF-8"
        return kind, unquote(encoded, encoding="utf-8", errors="strict"), params
    return kind, params["filename"], params


def make_pdf(d, s3, name="f.pdf", data=b"%PDF-1.4 x"):
    up = grant(d, filename=name, size=len(data))
    assert put(up, data).status_code == 200
    return up["file_key"], data


LONG_NAME = "\u00e9" * 98 + ".pdf"          # 200 bytes of UTF-8
DOWNLOAD_NAMES = [
    "na\u00efve caf\u00e9.pdf",
    "it's \"quoted\".pdf",
    "semi;colon; filename=evil.pdf",
    "back\\slash.pdf",
    "emoji \U0001F600 \U0001F4C4.pdf",
    LONG_NAME,
    "100% sure.pdf",
    "comma, equals=plus+.pdf",
    "\u6587\u4ef6 \u0444\u0430\u0439\u043b.pdf",
]


def test_download_names_round_trip(presignd, s3):
    assert len(LONG_NAME.encode()) == 200
    d = presignd(DEFAULT_TYPES)
    key, data = make_pdf(d, s3)
    urls = []
    for name in DOWNLOAD_NAMES:
        r = d.post("/download-url", json={"file_key": key, "filename": name})
        assert r.status_code == 200, r.text
        down = r.json()
        assert down["filename"] == name
        g = requests.get(down["presigned_url"], timeout=30)
        assert g.status_code == 200 and g.content == data
        cd = g.headers["Content-Disposition"]
        assert cd == down["content_disposition"]
        # Header-safe: ASCII only, no quote or backslash in the fallback.
        cd.encode("ascii")
        kind, decoded, params = rfc6266_filename(cd)
        assert kind == "attachment"
        assert decoded == name, (cd, decoded)
        assert not set(params["filename"]) & set('"\\%;')
        urls.append(down["presigned_url"])
    # And what a browser makes of it.
    saved = chromium_names(urls)
    for name, got in zip(DOWNLOAD_NAMES, saved):
        # Chromium replaces what no file name may hold on any platform
        # ('"' and '\\' among them); everything else comes through exactly.
        expect = re.sub(r'["\\*:<>?|/]', "_", name)
        assert got == expect, (name, got)


def chromium_names(urls):
    harness.require(os.access(CHROMIUM, os.X_OK), "no chromium at %s" % CHROMIUM)
    harness.require((ROOT / "tests" / "node_modules" / "playwright-core").is_dir(),
                    "tests/node_modules/playwright-core is missing")
    out = subprocess.run(["node", str(BROWSER / "download_names.spec.mjs")],
                         cwd=ROOT / "tests", env=dict(os.environ, URLS=json.dumps(urls),
                                                      CHROMIUM=CHROMIUM),
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])["names"]


def test_download_defaults_to_the_uploaded_name(presignd, s3):
    d = presignd(DEFAULT_TYPES)
    name = "na\u00efve caf\u00e9.pdf"
    key, _ = make_pdf(d, s3, name)
    assert "%C3" not in key and key.endswith("-" + name)
    down = d.post("/download-url", json={"file_key": key}).json()
    assert down["filename"] == name
    g = requests.get(down["presigned_url"], timeout=30)
    assert rfc6266_filename(g.headers["Content-Disposition"])[:2] == ("attachment", name)
    down = d.post("/download-url", json={"file_key": key, "disposition": "inline"}).json()
    g = requests.get(down["presigned_url"], timeout=30)
    assert rfc6266_filename(g.headers["Content-Disposition"])[:2] == ("inline", name)
    assert chromium_names([d.post("/download-url", json={"file_key": key}).json()
                           ["presigned_url"]]) == [name]


@pytest.mark.parametrize("body", [
    {"disposition": "evil"},
    {"disposition": "Attachment"},
    {"disposition": ""},
    {"filename": ""},
    {"filename": "a\nb.pdf"},
    {"filename": "a\u0000b.pdf"},
    {"filename": "evil\u202efdp.exe"},
    {"filename": "zero\u200bwidth.pdf"},
    {"filename": "x" * 256},
    {"filename": 5},
])
def test_download_name_errors(presignd, body):
    d = presignd(DEFAULT_TYPES)
    r = d.post("/download-url", json=dict(body, file_key="uploads/x.pdf"))
    assert error_shape_problem(r, 400, "invalid_field") is None


# ------------------------------------------------------------ upload-complete

def test_upload_complete(presignd, s3):
    d = presignd(DEFAULT_TYPES)
    data = os.urandom(777)
    up = grant(d, filename="done.csv", size=len(data), content_type="text/csv; charset=utf-8",
               md5=md5_of(data))
    key = up["file_key"]
    r = d.post("/upload-complete", json={"file_key": key})
    assert error_shape_problem(r, 404, "file_not_found") is None
    assert put(up, data).status_code == 200

    r = d.post("/upload-complete", json={"file_key": key})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["file_key"] == key and c["size"] == len(data)
    assert c["content_type"] == "text/csv; charset=utf-8"
    assert c["etag"] == hashlib.md5(data).hexdigest()
    assert c["last_modified"].endswith("Z")
    assert c["checks"] == {} and c["matches"] is True

    c = d.post("/upload-complete", json={"file_key": key, "size": len(data),
                                         "content_type": "TEXT/CSV; charset=utf-8",
                                         "md5": md5_of(data)}).json()
    assert c["checks"] == {"size": True, "content_type": True, "md5": True}
    assert c["matches"] is True

    c = d.post("/upload-complete", json={"file_key": key, "size": len(data) + 1,
                                         "md5": md5_of(b"other")}).json()
    assert c["checks"] == {"size": False, "md5": False} and c["matches"] is False
    c = d.post("/upload-complete", json={"file_key": key, "content_type": "text/plain"}).json()
    assert c["checks"] == {"content_type": False} and c["matches"] is False


@pytest.mark.parametrize("body,status,code", [
    ({}, 400, "missing_field"),
    ({"file_key": "elsewhere/x.pdf"}, 400, "invalid_file_key"),
    ({"file_key": "uploads/../x.pdf"}, 400, "invalid_file_key"),
    ({"file_key": "uploads/x.pdf", "size": -1}, 400, "invalid_field"),
    ({"file_key": "uploads/x.pdf", "md5": "nope"}, 400, "invalid_field"),
    ({"file_key": "uploads/x.pdf", "etag": "x"}, 400, "unknown_field"),
])
def test_upload_complete_errors(presignd, body, status, code):
    d = presignd(DEFAULT_TYPES)
    assert error_shape_problem(d.post("/upload-complete", json=body), status, code) is None


# ------------------------------------------------------------ old clients

def test_old_service_meta_routes(presignd):
    d = presignd(DEFAULT_TYPES)
    root = d.get("/").json()
    assert isinstance(root["message"], str) and root["message"]
    # Both docs pages are where they were: Swagger UI and ReDoc.
    for page, renderer in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        r = d.get(page)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert renderer in r.text


def test_old_python_example(presignd, s3, tmp_path):
    """The previous service's README example, word for word but the URL."""
    path = tmp_path / "test.pdf"
    path.write_bytes(b"%PDF-1.4 " + os.urandom(5000))

    def example(base):
        response = requests.post(base + "/upload-url", json={
            "filename": "test.pdf",
            "content_type": "application/pdf"
        })
        upload_data = response.json()
        with open(path, "rb") as f:
            put = requests.put(upload_data["presigned_url"], data=f, headers={
                "Content-Type": "application/pdf"
            })
        return response, put

    old = presignd(OLD_CLIENTS)
    response, r = example(old.url)
    assert response.status_code == 200 and r.status_code == 200, r.text
    assert stored(s3, response.json()["file_key"])[0] == path.read_bytes()
    # On the defaults it is told what is missing rather than given a URL
    # that would take any length.
    new = presignd(DEFAULT_TYPES)
    r = new.post("/upload-url", json={"filename": "test.pdf", "content_type": "application/pdf"})
    assert error_shape_problem(r, 400, "size_required") is None


@pytest.fixture
def old_page(s3, http_stub):
    """tests/browser/old-service/ on a free port, and the bucket's CORS
    rules (aws/bucket-cors.json) for its origin."""
    origin = http_stub(harness.serve_directory(BROWSER / "old-service")).endpoint
    cors = json.loads((ROOT / "aws" / "bucket-cors.json").read_text())
    for rule in cors["CORSRules"]:
        rule["AllowedOrigins"] = [origin]
    client = s3.client()
    client.put_bucket_cors(Bucket=s3.bucket, CORSConfiguration=cors)
    try:
        yield origin
    finally:
        client.delete_bucket_cors(Bucket=s3.bucket)


def test_bucket_cors_allows_every_signed_header(presignd, old_page):
    """aws/bucket-cors.json (the Terraform rule is the same, test_terraform)
    lets a page send every header an upload URL can sign."""
    d = presignd(DEFAULT_TYPES)
    up = grant(d, filename="a.pdf", size=3, md5=md5_of(b"abc"), sha256=sha256_of(b"abc"))
    # Content-Length is the browser's own, never in a preflight.
    wanted = sorted(h.lower() for h in up["headers"] if h != "Content-Length")
    assert len(wanted) == 5
    r = requests.options(up["presigned_url"], headers={
        "Origin": old_page, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": ",".join(wanted)}, timeout=10)
    assert r.status_code == 200, r.text
    allowed = {h.strip().lower() for h in
               r.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert set(wanted) <= allowed, (wanted, allowed)
    assert "etag" in r.headers.get("Access-Control-Expose-Headers", "").lower() or \
        r.request.method == "OPTIONS"


def test_old_service_page_in_chromium(presignd, old_page):
    harness.require(os.access(CHROMIUM, os.X_OK), "no chromium at %s" % CHROMIUM)
    harness.require((ROOT / "tests" / "node_modules" / "playwright-core").is_dir(),
                    "tests/node_modules/playwright-core is missing")
    assert shutil.which("node"), "node is not installed"
    d = presignd(dict(OLD_CLIENTS, cors={"allow_origins": [old_page]},
                      uploads={"allowed_types": None, "require_size": False, "overwrite": True,
                               "prefix": "old-page-%s/" % uuid.uuid4().hex[:12]}))
    files = [
        {"name": "notes.txt", "mimeType": "text/plain", "data": b"old page \xe2\x9c\x93\n"},
        # What Windows reports for a .zip, and a file the browser has no type for.
        {"name": "archive.zip", "mimeType": "application/x-zip-compressed",
         "data": b"PK\x05\x06" + bytes(18)},
        {"name": "caf\u00e9 menu.pdf", "mimeType": "", "data": b"%PDF-1.4 " + os.urandom(2000)},
        {"name": "song.mp3", "mimeType": "audio/mpeg", "data": os.urandom(3000)},
    ]
    spec = [{"name": f["name"], "mimeType": f["mimeType"], "base64": b64(f["data"])}
            for f in files]
    out = subprocess.run(["node", str(BROWSER / "old_service.spec.mjs")], cwd=ROOT / "tests",
                         env=dict(os.environ, FILES=json.dumps(spec), CHROMIUM=CHROMIUM,
                                  PAGE_URL="%s/index.html?api=%s" % (old_page, d.url)),
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, "%s\n%s\n--- presignd log:\n%s" % (out.stdout, out.stderr,
                                                                   d.log()[-3000:])
    done = [json.loads(line[len("old page: ok "):]) for line in out.stdout.splitlines()
            if line.startswith("old page: ok ")]
    assert [x["name"] for x in done] == [f["name"] for f in files]
    for x in done:
        # Saved under its own name, not the key's last segment.
        assert x["savedAs"] == x["name"], x
    assert d.get("/files").json()["count"] == 0


def test_contract_under_sanitizers(presignd_asan, s3):
    """Every new path once under ASan/UBSan (teardown fails on a report)."""
    d = presignd_asan(DEFAULT_TYPES)
    data = os.urandom(300)
    up = grant(d, filename="caf\u00e9.csv", size=len(data), content_type="text/csv; charset=utf-8",
               md5=md5_of(data), sha256=sha256_of(data))
    assert put(up, data).status_code == 200
    for body in ({"filename": "a.pdf"}, {"filename": "a.pdf", "size": 1, "md5": "x"},
                 {"filename": "a.pdf", "size": 1, "content_type": "image/png"},
                 {"filename": "a.pdf", "size": 1, "content_type": ""}):
        d.post("/upload-url", json=body)
    for name in DOWNLOAD_NAMES + [None]:
        body = {"file_key": up["file_key"], "disposition": "inline"}
        if name:
            body["filename"] = name
        assert d.post("/download-url", json=body).status_code == 200
    assert d.post("/download-url", json={"file_key": up["file_key"],
                                         "filename": "a\u202eb"}).status_code == 400
    c = d.post("/upload-complete", json={"file_key": up["file_key"], "size": 1,
                                         "content_type": "x", "md5": md5_of(b"")})
    assert c.status_code == 200 and c.json()["matches"] is False
    assert d.post("/upload-complete", json={"file_key": up["file_key"] + "x"}).status_code == 404
    assert d.get("/redoc").status_code == 200
