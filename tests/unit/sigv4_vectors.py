#!/usr/bin/python3
"""Print SigV4 test vectors produced by botocore, for tests/unit/test_sigv4.c.

botocore's own S3 client signs every case at a fixed timestamp (its clock is
replaced), so the vectors are what boto3 users actually send: presigned URLs
from generate_presigned_url() and the Authorization header of real
HeadObject / HeadBucket / ListObjectsV2 / DeleteObject calls, caught just
before they would leave the machine; a few hand-made requests signed by
botocore.auth.S3SigV4Auth add what the client never sends (repeated query
names, names whose raw and encoded sort orders differ, header values with
odd whitespace). Keys, secrets and tokens come from a seeded generator, so
the file is the same on every run of one botocore.

Output: one case per line, tab-separated; every field that can hold arbitrary
bytes is hex-encoded UTF-8, so tabs and newlines in keys cannot break rows.

  0 name        ascii label
  1 kind        "presign" or "header"
  2 method      GET PUT HEAD DELETE
  3 scheme      http or https
  4 host        hex
  5 path        hex, raw (unencoded) path
  6 region      ascii
  7 access key  hex
  8 secret      hex
  9 token       hex ("" when none)
 10 time        unix seconds
 11 expires     seconds (presign) or 0
 12 payload     hex of x-amz-content-sha256 (header) or ""
 13 query       comma-separated hexname:hexvalue, raw values, in URL order
 14 headers     comma-separated hexname:hexvalue, headers the caller signs
 15 expected    hex: the full URL (presign) or the Authorization value (header)
"""

import calendar
import datetime
import random
import sys
import types
from urllib.parse import unquote_to_bytes, urlsplit

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode

# ---- fixed clock for botocore.auth


class _Clock:
    now = datetime.datetime(2024, 3, 5, 12, 34, 56)


class _FixedDateTime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return _Clock.now


botocore.auth.datetime = types.SimpleNamespace(datetime=_FixedDateTime)

TIMES = [
    datetime.datetime(2024, 3, 5, 12, 34, 56),
    datetime.datetime(2013, 5, 24, 0, 0, 0),
    datetime.datetime(2031, 12, 31, 23, 59, 59),
]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2"]
STYLES = ["virtual", "path"]
PATH_ENDPOINT = "http://127.0.0.1:7480"
BUCKET = "presignd-test-bucket"

rng = random.Random(20240305)

SPECIAL = "+=&%~'\"()*!$,;:@#?[]{}<>|^`\\ "
UNICODE = ["é", "日本", "😀", "ß", "Ω", "ü", "\u00a0", "中文", "🚀"]


def gen_key(i):
    """Keys built to hit every encoding rule at least once."""
    fixed = [
        "simple.txt",
        "uploads/a b.pdf",
        "uploads/file with  two  spaces.txt",
        "uploads/é.jpg",
        "uploads/日本語のファイル.pdf",
        "uploads/emoji 😀🚀.png",
        "uploads/plus+sign.txt",
        "uploads/eq=amp&pct%25.txt",
        "uploads/tilde~under_dash-dot.",
        "uploads/quote'dq\"paren().txt",
        "uploads/star*bang!dollar$comma,semi;colon:.txt",
        "uploads/at@hash#question?.txt",
        "uploads//double//slash",
        "uploads/./dot/../dotdot",
        "/leading-slash",
        "trailing-slash/",
        "uploads/%2F already encoded %20",
        "uploads/brackets[]{}<>|^`\\.bin",
        "a",
        "~",
        "uploads/" + "x" * 990,
        "uploads/" + "é" * 500,
        "uploads/" + "日本" * 160,
        "uploads/" + "😀" * 250,
        "uploads/tab\there",
        "uploads/space at end ",
        " space at start",
        "uploads/nbsp\u00a0inside",
        "uploads/UPPER lower MiXeD.PDF",
        "uploads/9f1c2e4a-3b5d-4c6e-8f7a-0b1c2d3e4f5a-report.pdf",
    ]
    if i < len(fixed):
        return fixed[i]
    parts = []
    target = rng.choice([8, 20, 60, 200, 900])
    size = 0
    while size < target:
        r = rng.random()
        if r < 0.45:
            s = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
                        for _ in range(rng.randint(1, 8)))
        elif r < 0.65:
            s = rng.choice(SPECIAL)
        elif r < 0.8:
            s = rng.choice(UNICODE)
        elif r < 0.9:
            s = "/"
        elif r < 0.95:
            s = "//"
        else:
            s = rng.choice(["./", "../", " ", "  "])
        parts.append(s)
        size += len(s.encode())
    key = "uploads/" + "".join(parts)
    while len(key.encode()) > 1024:
        key = key[:-1]
    return key


def gen_secret():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(rng.choice(alphabet) for _ in range(40))


def gen_akid():
    return "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def gen_token():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    return "FwoGZXIvYXdzE" + "".join(rng.choice(alphabet) for _ in range(rng.choice([40, 300, 700])))


# ---- clients, one per (region, style, credentials)

_session = botocore.session.get_session()
_clients = {}


class _Caught(Exception):
    def __init__(self, request):
        super().__init__("caught")
        self.request = request


def _catch(request, **_kw):
    raise _Caught(request)


def client(region, style, creds):
    k = (region, style, creds)
    if k not in _clients:
        akid, secret, token = creds
        c = _session.create_client(
            "s3", region_name=region,
            endpoint_url=PATH_ENDPOINT if style == "path" else None,
            aws_access_key_id=akid, aws_secret_access_key=secret,
            aws_session_token=token or None,
            config=Config(signature_version="s3v4",
                          s3={"addressing_style": style},
                          retries={"max_attempts": 1}))
        c.meta.events.register("before-send.s3", _catch)
        _clients[k] = c
    return _clients[k]


def hx(s):
    if isinstance(s, str):
        s = s.encode()
    return s.hex()


def kvs(pairs):
    return ",".join(hx(n) + ":" + hx(v) for n, v in pairs)


def split_query(query):
    """Raw (decoded) name/value pairs of an encoded query, in order; '+' is
    left alone because botocore never writes one unencoded."""
    out = []
    for part in query.split("&") if query else []:
        n, _, v = part.partition("=")
        out.append((unquote_to_bytes(n), unquote_to_bytes(v)))
    return out


def raw_path(style, key):
    if style == "path":
        return "/" + BUCKET + ("/" + key if key is not None else "")
    return "/" + (key or "")


ROWS = []


def emit(name, kind, method, url, region, creds, when, expires, path,
         query, headers, payload, expected):
    parts = urlsplit(url)
    # The URL must carry exactly the path we hand to the C signer: proves
    # botocore neither normalized nor double-encoded it.
    got = unquote_to_bytes(parts.path)
    if got != path.encode():
        raise SystemExit(f"{name}: botocore path {got!r} != {path!r}")
    akid, secret, token = creds
    ROWS.append("\t".join([
        name, kind, method, parts.scheme, hx(parts.netloc), hx(path), region,
        hx(akid), hx(secret), hx(token or ""),
        str(calendar.timegm(when.timetuple())), str(expires), hx(payload or ""),
        kvs(query), kvs(headers), hx(expected),
    ]))


def presign(name, method, key, region, style, creds, when, expires,
            extra_params=None, extra_headers=(), op=None):
    _Clock.now = when
    op = op or {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object",
                "DELETE": "delete_object"}[method]
    params = {"Bucket": BUCKET, "Key": key}
    params.update(extra_params or {})
    url = client(region, style, creds).generate_presigned_url(
        op, Params=params, ExpiresIn=expires)
    query = urlsplit(url).query
    op_query = query.split("X-Amz-Algorithm=")[0].rstrip("&")
    emit(name, "presign", method, url, region, creds, when, expires,
         raw_path(style, key), split_query(op_query), list(extra_headers),
         None, url)


def header_auth(name, op, region, style, creds, when, key=None, **kw):
    _Clock.now = when
    c = client(region, style, creds)
    try:
        getattr(c, op)(Bucket=BUCKET, **({"Key": key} if key is not None else {}), **kw)
    except _Caught as e:
        req = e.request
    else:
        raise SystemExit(f"{name}: request was not caught")
    hdrs = {k.lower(): (v.decode() if isinstance(v, bytes) else v)
            for k, v in req.headers.items()}
    auth = hdrs["authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    own = {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
    extra = [(h, hdrs[h]) for h in signed if h not in own]
    parts = urlsplit(req.url)
    path = raw_path(style, key) if op not in ("head_bucket", "list_objects_v2") \
        else ("/" + BUCKET if style == "path" else "/")
    emit(name, "header", req.method, req.url, region, creds, when, 0, path,
         split_query(parts.query), extra, hdrs["x-amz-content-sha256"], auth)


def post_policy(name, key, region, creds, when, fields, conditions):
    """botocore's generate_presigned_post (S3SigV4PostAuth) at a fixed time:
    the C side must sign botocore's policy to botocore's signature and name
    the same credential scope. Row: payload = the base64 policy, query =
    x-amz-credential and x-amz-date, expected = x-amz-signature."""
    _Clock.now = when
    akid, secret, token = creds
    post = client(region, "virtual", creds).generate_presigned_post(
        BUCKET, key, Fields=dict(fields), Conditions=list(conditions), ExpiresIn=3600)
    f = post["fields"]
    if (token or None) != f.get("x-amz-security-token"):
        raise SystemExit(f"{name}: security token field")
    ROWS.append("\t".join([
        name, "post", "POST", "https", hx(""), hx(""), region,
        hx(akid), hx(secret), hx(token or ""),
        str(calendar.timegm(when.timetuple())), "3600", hx(f["policy"]),
        kvs([("x-amz-credential", f["x-amz-credential"]), ("x-amz-date", f["x-amz-date"])]),
        "", hx(f["x-amz-signature"]),
    ]))


def raw_header_auth(name, method, scheme, host, path, params, headers,
                    region, creds, when):
    """S3SigV4Auth on a hand-made request: for what the client never sends
    (repeated query names, names whose raw and encoded orders differ, header
    values with odd whitespace)."""
    _Clock.now = when
    akid, secret, token = creds
    url = "%s://%s%s" % (scheme, host, percent_encode(path, safe="/~"))
    req = AWSRequest(method=method, url=url, params=list(params),
                     headers=dict(headers))
    botocore.auth.S3SigV4Auth(Credentials(akid, secret, token or None),
                              "s3", region).add_auth(req)
    hdrs = {k.lower(): v for k, v in req.headers.items()}
    ROWS.append("\t".join([
        name, "header", method, scheme, hx(host), hx(path), region,
        hx(akid), hx(secret), hx(token or ""),
        str(calendar.timegm(when.timetuple())), "0",
        hx(hdrs["x-amz-content-sha256"]), kvs(params), kvs(headers.items()),
        hx(hdrs["authorization"]),
    ]))


def main():
    n_keys = 110
    keys = [gen_key(i) for i in range(n_keys)]
    cred_sets = []
    for i in range(6):
        token = gen_token() if i % 2 else ""
        cred_sets.append((gen_akid(), gen_secret(), token))
    # The documented example credentials, with and without a token.
    cred_sets.append(("AKIAIOSFODNN7EXAMPLE",
                      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""))
    content_types = ["application/pdf", "image/jpeg", "image/png",
                     "text/plain; charset=utf-8", "application/octet-stream",
                     "  text/csv;   header=present  ", "video/mp4"]
    expires_values = [1, 60, 600, 3600, 86400, 604800]
    methods = ["GET", "PUT", "HEAD", "DELETE"]

    for i, key in enumerate(keys):
        region = REGIONS[i % 3]
        style = STYLES[(i // 3) % 2]
        creds = cred_sets[i % len(cred_sets)]
        when = TIMES[i % len(TIMES)]
        expires = expires_values[i % len(expires_values)]
        method = methods[i % 4]
        extra = {}
        hdrs = []
        if method == "PUT":
            ctype = content_types[i % len(content_types)]
            extra["ContentType"] = ctype
            hdrs.append(("content-type", ctype))
            if i % 3 == 0:
                extra["ContentLength"] = 1000 + i
                hdrs.append(("content-length", str(1000 + i)))
        presign(f"presign-{method.lower()}-{i}", method, key, region, style,
                creds, when, expires, extra, hdrs)
        # Every key also as a GET in the other addressing style and region.
        presign(f"presign-get-alt-{i}", "GET", key, REGIONS[(i + 1) % 3],
                STYLES[((i // 3) + 1) % 2], cred_sets[(i + 1) % len(cred_sets)],
                TIMES[0], 600)
        header_auth(f"head-object-{i}", "head_object", region, style, creds,
                    when, key=key)
        if i % 3 == 0:
            header_auth(f"delete-object-{i}", "delete_object",
                        REGIONS[(i + 2) % 3], style,
                        cred_sets[(i + 3) % len(cred_sets)], when, key=key)

    # Presigned UploadPart: uploadIds carry characters that need encoding.
    upload_ids = ["2~EGHvcgi4GEZ0XIEqE3XnD43QESHKKpq", "VXBsb2FkIElE+/=", "a b~c%d"]
    for i, uid in enumerate(upload_ids):
        for style in STYLES:
            presign(f"presign-upload-part-{i}-{style}", "PUT", keys[i + 5], REGIONS[i % 3],
                    style, cred_sets[i % len(cred_sets)], TIMES[i % 3], 600,
                    {"UploadId": uid, "PartNumber": i * 4000 + 1}, op="upload_part")

    # POST policies: tokens, metadata, odd keys and types in the document.
    for i in range(12):
        key = keys[i * 7 % n_keys]
        post_policy(f"post-{i}", key, REGIONS[i % 3], cred_sets[i % len(cred_sets)],
                    TIMES[i % 3],
                    {"Content-Type": content_types[i % len(content_types)],
                     "x-amz-meta-caption": "caf\u00e9 %d" % i},
                    [["eq", "$Content-Type", content_types[i % len(content_types)]],
                     ["content-length-range", 0, 1000 * (i + 1)],
                     {"x-amz-meta-caption": "caf\u00e9 %d" % i}])

    # Presigned GETs with response-* overrides: query values with odd bytes.
    dispositions = ['attachment; filename="é x.pdf"', "inline",
                    "attachment; filename*=UTF-8''%E6%97%A5.txt",
                    "a/b+c=d&e f~g"]
    for i, d in enumerate(dispositions):
        for style in STYLES:
            presign(f"presign-response-{i}-{style}", "GET", keys[i + 1],
                    REGIONS[i % 3], style, cred_sets[i % len(cred_sets)],
                    TIMES[0], 900,
                    {"ResponseContentDisposition": d,
                     "ResponseContentType": "text/plain; charset=utf-8"})

    # ListObjectsV2: prefixes and continuation tokens with odd characters.
    list_cases = [
        {"Prefix": "uploads/"},
        {"Prefix": "uploads/", "MaxKeys": 100},
        {"Prefix": "uploads/a b", "MaxKeys": 1},
        {"Prefix": "uploads/é日本😀", "MaxKeys": 1000},
        {"Prefix": "uploads/+=&%~'\"()*!$,;:@#", "MaxKeys": 7},
        {"Prefix": "", "MaxKeys": 0},
        {"Prefix": "uploads/", "ContinuationToken": "1/2+3=4&5 6%7"},
        {"Prefix": "uploads/x", "MaxKeys": 50,
         "ContinuationToken": "AbC+/dEf==?#~"},
        {"Prefix": "uploads//double", "StartAfter": "uploads/é"},
        {"Delimiter": "/", "Prefix": "uploads/"},
    ]
    n = 0
    for region in REGIONS:
        for style in STYLES:
            for j, case in enumerate(list_cases):
                creds = cred_sets[(n + j) % len(cred_sets)]
                header_auth(f"list-{region}-{style}-{j}", "list_objects_v2",
                            region, style, creds, TIMES[(n + j) % 3], **case)
            n += 1

    # HeadBucket for every region, style and credential kind.
    for region in REGIONS:
        for style in STYLES:
            for ci in (0, 1, 6):
                header_auth(f"head-bucket-{region}-{style}-{ci}", "head_bucket",
                            region, style, cred_sets[ci], TIMES[ci % 3])

    # Hand-made requests: sorting and whitespace corner cases.
    raw = [
        # Encoded order differs from raw order: "a%2F" < "a." but "a." < "a/".
        ([("a/", "1"), ("a.", "2")], {}),
        # Repeated names: sorted by (encoded) value.
        ([("tag", "b"), ("tag", "a"), ("tag", "a b"), ("tag", "a+b")], {}),
        # Empty values and names that need encoding.
        ([("uploads", ""), ("x y", "z"), ("\u00e9", "\u65e5")], {}),
        ([("prefix", "uploads/"), ("list-type", "2"), ("max-keys", "1000"),
          ("continuation-token", "a/b+c=d&e f%g~h")], {}),
        ([], {"Range": "bytes=0-9", "X-Amz-Meta-Note": "  a   b\tc  \t "}),
        ([], {"Content-Type": "text/plain;  charset=utf-8",
              "X-Amz-Meta-Empty": "", "x-amz-meta-UPPER": "MiXeD"}),
        ([("versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")],
         {"If-None-Match": "\"etag\""}),
    ]
    for j, (params, headers) in enumerate(raw):
        for k, (scheme, host, path) in enumerate([
                ("https", BUCKET + ".s3.eu-west-3.amazonaws.com", "/" + keys[j]),
                ("http", "127.0.0.1:7480", "/" + BUCKET + "/" + keys[j + 7])]):
            raw_header_auth(f"raw-{j}-{k}", ("GET", "HEAD", "DELETE")[(j + k) % 3],
                            scheme, host, path, params, headers,
                            REGIONS[(j + k) % 3], cred_sets[(j + k) % len(cred_sets)],
                            TIMES[j % 3])

    sys.stdout.write("\n".join(ROWS) + "\n")
    print(f"{len(ROWS)} vectors from botocore {botocore.__version__}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
