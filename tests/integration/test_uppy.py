"""Uppy's own bundles, unmodified, uploading through presignd to the Ceph
RADOS Gateway in headless chromium (tests/browser/uppy.spec.mjs drives the
pages of tests/browser/uppy/, which load the bundles pinned in
tests/package.json from tests/node_modules, as served pages):

  Uppy 4.18.3 (@uppy/aws-s3 4.3.2), Companion mode, `endpoint` + an API key
      in `headers`, presignd with auth.mode api_key
  Uppy 6.0.1 (@uppy/aws-s3 6.1.0), Companion mode, `companionEndpoint`,
      presignd without auth (Uppy 6 sends no headers to its backend)
  Uppy 6.0.1 with `signRequest`, POST /s3/sign with the API key

Each uploads a small file (one request: /s3/params, or a signed PUT) and a
120 MiB one (multipart: Uppy's default threshold is 100 MiB, parts of
5 MiB); the objects are read back from S3 and compared byte for byte, and
presignd's access log says what Uppy asked for. Run with -s for the figures
(upload time, parts, presignd requests per part). Then a multipart upload
stopped midway (the browser closed with parts in flight) and resumed after
the reload by GoldenRetriever, which must not send the finished parts again;
and the example page examples/uppy.html (Uppy 6's Dashboard, the bundle
pinned in examples/package.json).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit, unquote

import pytest

import harness

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
EXAMPLES = ROOT / "examples"
SPEC = TESTS / "browser" / "uppy.spec.mjs"
ARTIFACTS = TESTS / "browser" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MiB = 1024 * 1024
BIG = 120 * MiB
PART = 5 * MiB                     # Uppy's default part size for 120 MiB
KEY = "uppy-key-" + uuid.uuid4().hex
AUTH = {"auth": {"mode": "api_key", "api_keys": [{
    "name": "uppy", "sha256": hashlib.sha256(KEY.encode()).hexdigest(), "prefix": "",
    "permissions": ["upload", "download", "list", "delete"]}]}}
PART_SIGN = re.compile(r"^/s3/multipart/([^/]+)/(\d+)$")      # as the page sends it


def require_browser():
    harness.require((TESTS / "node_modules" / "uppy-4" / "dist" / "uppy.min.js").is_file() and
                    (TESTS / "node_modules" / "uppy-6" / "dist" / "uppy.min.js").is_file() and
                    (TESTS / "node_modules" / "playwright-core").is_dir(),
                    "tests/node_modules lacks uppy-4, uppy-6 or playwright-core "
                    "(scripts/bootstrap installs them)")
    harness.require(os.access(CHROMIUM, os.X_OK), "no chromium at %s" % CHROMIUM)
    harness.require(shutil.which("node") is not None, "node is not installed")


# ------------------------------------------------------------------ files

_BLOCK = os.urandom(MiB)


def make_file(path, size):
    """SIZE bytes at PATH: a random MiB repeated, each copy starting with its
    own number, so that a part sent twice or in the wrong place shows.
    Returns the SHA-256 of the content."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            block = (b"MiB %08d " % (i // MiB) + _BLOCK[13:])[:size - i]
            f.write(block)
            h.update(block)
    return h.hexdigest()


def stored_sha256(s3, key):
    """SHA-256 and size of the object KEY, read in chunks."""
    body = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"]
    h = hashlib.sha256()
    n = 0
    for chunk in iter(lambda: body.read(MiB), b""):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def objects(s3, prefix):
    out = {}
    for page in s3.client().get_paginator("list_objects_v2").paginate(
            Bucket=s3.bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


def check_stored(s3, prefix, name, size, digest):
    """The one object under PREFIX uploaded as NAME holds exactly the file."""
    keys = [k for k in objects(s3, prefix) if k.endswith("-" + name)]
    assert len(keys) == 1, (name, objects(s3, prefix))
    got, n = stored_sha256(s3, keys[0])
    assert (n, got) == (size, digest), "%s: S3 holds %d bytes that differ from the file" % (
        keys[0], n)
    return keys[0]


def clean_bucket(s3, prefix):
    """Delete what the test left under PREFIX, and give the memory back: the
    gateway keeps a deleted object's data (in the OSD's RAM, 1 GiB of it)
    until its garbage collection runs, once an hour, and these tests write
    over half a GiB."""
    c = s3.client()
    for key in objects(s3, prefix):
        c.delete_object(Bucket=s3.bucket, Key=key)
    for up in c.list_multipart_uploads(Bucket=s3.bucket, Prefix=prefix).get("Uploads", []):
        c.abort_multipart_upload(Bucket=s3.bucket, Key=up["Key"], UploadId=up["UploadId"])
    subprocess.run(["radosgw-admin", "-c", os.path.join(s3.dir, "ceph.conf"), "-n", "client.rgw",
                    "gc", "process", "--include-all"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


# ------------------------------------------------------------- the setup

def cors_for(s3, origin):
    """The bucket's CORS rules of aws/bucket-cors.json, for ORIGIN."""
    cors = json.loads((ROOT / "aws" / "bucket-cors.json").read_text())
    for rule in cors["CORSRules"]:
        rule["AllowedOrigins"] = [origin]
    s3.client().put_bucket_cors(Bucket=s3.bucket, CORSConfiguration=cors)


@pytest.fixture
def page_origin(s3, http_stub):
    """tests/ served on a free port (the pages under browser/uppy/ load
    ../../node_modules/uppy-N/dist/), and the bucket's CORS rules for that
    origin."""
    require_browser()
    origin = http_stub(harness.serve_directory(TESTS)).endpoint
    cors_for(s3, origin)
    try:
        yield origin
    finally:
        s3.client().delete_bucket_cors(Bucket=s3.bucket)


@pytest.fixture
def setup(presignd, s3, page_origin, tmp_path):
    """start(auth) -> a presignd for the pages, with its own uploads.prefix,
    access log and audit log; its objects are deleted afterwards."""
    made = []

    def start(auth, origin=page_origin, more=None):
        prefix = "uppy-%s/" % uuid.uuid4().hex[:12]
        cfg = {"cors": {"allow_origins": [origin]},
               "uploads": {"prefix": prefix, "max_multipart_size": 1024 * MiB},
               "server": {"access_log": str(tmp_path / "access.log")},
               "audit": {"log_file": str(tmp_path / "audit.log")}}
        if auth:
            cfg.update(AUTH)
        d = presignd(harness.deep_merge(cfg, more))
        d.prefix = prefix
        d.access_path = tmp_path / "access.log"
        d.audit_path = tmp_path / "audit.log"
        made.append(prefix)
        return d
    yield start
    for prefix in made:
        clean_bucket(s3, prefix)


def access_lines(d):
    if not d.access_path.exists():
        return []
    return [json.loads(x) for x in d.access_path.read_text().splitlines() if x.strip()]


def run_spec(tmp_path, env, timeout=300):
    result = tmp_path / ("result-%s.json" % uuid.uuid4().hex[:8])
    env = dict(os.environ, CHROMIUM=CHROMIUM, ARTIFACTS=str(ARTIFACTS), RESULT=str(result),
               **env)
    # A session of its own: should it hang, node and its chromium go together.
    proc = subprocess.Popen(["node", str(SPEC)], cwd=TESTS, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail("the spec hung for %d s:\n%s" % (timeout, stderr[-5000:]))
    assert proc.returncode == 0, "%s\n%s" % (stdout[-5000:], stderr[-5000:])
    return json.loads(result.read_text())


def page_url(origin, page, d, key=None, golden=False):
    q = {"api": d.url}
    if key:
        q["key"] = key
    if golden:
        q["golden"] = "1"
    return "%s/browser/uppy/%s?%s" % (origin, page, urlencode(q))


def describe(requests, s3, d):
    """The requests of one upload as short lines, runs of the same kind of
    part request folded into one line."""
    out = []
    for e in requests:
        u = urlsplit(e["url"])
        if u.netloc == urlsplit(s3.endpoint).netloc:
            q = dict(x.split("=", 1) if "=" in x else (x, "") for x in u.query.split("&") if x)
            sub = [k for k in ("uploads", "partNumber", "uploadId") if k in q]
            what = "S3 %s %s" % (e["method"], "?" + "&".join(
                "%s=N" % k if k == "partNumber" else k for k in sub) if sub else "object")
        else:
            path = PART_SIGN.sub(r"/s3/multipart/{uploadId}/N", u.path)
            path = re.sub(r"^/s3/multipart/[^/]+(/complete)?$",
                          lambda m: "/s3/multipart/{uploadId}" + (m.group(1) or ""), path)
            what = "presignd %s %s" % (e["method"], path)
            if e.get("body") is not None:
                b = e["body"]
                what += " {method: %s%s}" % (b.get("method"), ", partNumber" if "partNumber" in b
                                             else ", uploadId" if "uploadId" in b else "")
        what += " -> %s" % (e["status"] if e.get("status") is not None else e.get("failed"))
        out.append(what)
    # Fold runs of one line, or of a pair of lines (sign a part, send it).
    folded = []
    i = 0
    while i < len(out):
        for size in (1, 2):
            unit = out[i:i + size]
            n = 1
            while out[i + n * size:i + (n + 1) * size] == unit:
                n += 1
            if n > 1:
                break
        if n > 1:
            folded.append("%s  (x%d)" % (" + ".join(unit), n))
            i += n * size
        else:
            folded.append(out[i])
            i += 1
    return folded


def upload_files(d, s3, tmp_path, origin, page, files, key=None):
    """Upload FILES ([(name, size)]) through PAGE one after the other; returns
    [(upload result, access-log records of that upload)]."""
    out = []
    for name, size in files:
        path = tmp_path / name
        digest = make_file(path, size)
        before = len(access_lines(d))
        try:
            res = run_spec(tmp_path, {"PAGE_URL": page_url(origin, page, d, key),
                                      "FILES": json.dumps([str(path)])})
        finally:
            path.unlink()
        up = res["uploads"][0]
        up["label"] = res["label"]
        assert not res["problems"], res["problems"]
        assert [f["name"] for f in up["successful"]] == [name] and not up["failed"], up
        stored_key = check_stored(s3, d.prefix, name, size, digest)
        # Uppy's answer names the object too.
        url = up["successful"][0]["uploadURL"]
        assert unquote(urlsplit(url).path).endswith("/" + stored_key), (url, stored_key)
        harness.wait_for(lambda: len(access_lines(d)) > before, 5, what="access log")
        out.append((up, access_lines(d)[before:], stored_key))
    return out


def figures(mode, up, log, parts_signed, per_part):
    seconds = up["ms"] / 1000
    print("\n%s: 120 MiB in %.2f s (%.0f MiB/s), %d parts, %d presignd requests "
          "(%s), %.2f per part" % (
              mode, seconds, BIG / MiB / seconds, parts_signed, len(log),
              ", ".join("%s %s: %d" % (m, r, n) for (m, r), n in sorted(Counter(
                  routes(log)).items())), per_part))


def print_routes(title, up, s3, d):
    print("\n%s:\n  %s" % (title, "\n  ".join(describe(up["requests"], s3, d))))


def signed_parts(up):
    """partNumber -> how many times the page asked presignd to sign it
    (Companion's GET /s3/multipart/{uploadId}/{partNumber}, or POST /s3/sign
    with a partNumber): the browser's record, since the access log names
    routes, not upload ids or part numbers."""
    n = Counter()
    for e in up["requests"]:
        m = PART_SIGN.match(urlsplit(e["url"]).path)
        if m and e["method"] == "GET":
            n[int(m.group(2))] += 1
        elif e.get("body") is not None and "partNumber" in e["body"]:
            n[int(e["body"]["partNumber"])] += 1
    return n


def routes(log):
    """The access log's records as (method, route)."""
    return [(r["method"], r["route"]) for r in log]


PART_ROUTE = "/s3/multipart/{uploadId}/{partNumber}"


def uploaded_parts(up):
    """Part numbers of the part PUTs that S3 answered 200, in order."""
    nums = []
    for e in up["requests"]:
        q = urlsplit(e["url"]).query
        m = re.search(r"(?:^|&)partNumber=(\d+)", q)
        if m and e["method"] == "PUT" and e["status"] == 200:
            nums.append(int(m.group(1)))
    return nums


# ------------------------------------------------------------- the modes

def check_big(mode, up, log, parts_in_order):
    """The 120 MiB upload: every part signed once and sent once, nothing
    refused; prints the figures."""
    parts = -(-BIG // PART)
    assert signed_parts(up) == Counter(range(1, parts + 1)), signed_parts(up)
    sent = uploaded_parts(up)
    if parts_in_order:                # Uppy 6: one part after the other
        assert sent == list(range(1, parts + 1)), sent
    else:                             # Uppy 4: up to 6 at once
        assert sorted(sent) == list(range(1, parts + 1)), sent
    assert all(r["status"] < 300 for r in log), [r for r in log if r["status"] >= 300]
    figures(mode, up, log, parts, len(log) / parts)
    return parts


def test_uppy4_companion_mode(setup, s3, page_origin, tmp_path):
    d = setup(auth=True)
    small, big = upload_files(d, s3, tmp_path, page_origin, "v4-companion.html",
                              [("small-%s.txt" % uuid.uuid4().hex[:6], 300 * 1024 + 7),
                               ("big-%s.bin" % uuid.uuid4().hex[:6], BIG)], key=KEY)
    mode = "Uppy 4 (Companion mode, API key)"
    assert "@uppy/aws-s3 4.3.2," in small[0]["label"], small[0]["label"]
    print_routes(mode + ", small file, in order", small[0], s3, d)
    print_routes(mode + ", 120 MiB file, in order", big[0], s3, d)

    # Small: /s3/params (preflighted: the Authorization header) answers a
    # PUT, since the page put the size in the metadata; the PUT goes to S3.
    assert routes(small[1]) == [("OPTIONS", "/s3/params"), ("GET", "/s3/params")], small[1]
    to_s3 = [(e["method"], e["status"]) for e in small[0]["requests"]
             if urlsplit(e["url"]).netloc == s3.host]
    assert to_s3 == [("PUT", 200)], small[0]["requests"]

    # Big: create, a signature per part, complete; each preflighted.
    log = big[1]
    parts = check_big(mode, big[0], log, parts_in_order=False)
    n = Counter(routes(log))
    assert n[("POST", "/s3/multipart")] == 1 and n[("GET", PART_ROUTE)] == parts
    assert n[("POST", "/s3/multipart/{uploadId}/complete")] == 1
    assert sum(v for (m, _), v in n.items() if m != "OPTIONS") == parts + 2, n
    print("  without preflights: %.2f presignd requests per part" % ((parts + 2) / parts))

    # The audit log names the principal of every decision. (presignd also
    # writes a line for each CORS preflight, with no principal: left out.)
    audit = [json.loads(x) for x in d.audit_path.read_text().splitlines()]
    audit = [a for a in audit if a["auth"] != "none"]
    actions = Counter(a["action"] for a in audit if a["outcome"] == "granted")
    assert actions["upload"] == 1 and actions["multipart_create"] == 1, actions
    assert actions["multipart_sign_part"] == parts and actions["multipart_complete"] == 1
    assert {a["principal"] for a in audit} == {"uppy"}


def test_uppy6_companion_mode(setup, s3, page_origin, tmp_path):
    d = setup(auth=False)
    small, big = upload_files(d, s3, tmp_path, page_origin, "v6-companion.html",
                              [("small-%s.txt" % uuid.uuid4().hex[:6], 300 * 1024 + 7),
                               ("big-%s.bin" % uuid.uuid4().hex[:6], BIG)])
    mode = "Uppy 6 (Companion mode, no auth)"
    assert "@uppy/aws-s3 6.1.0," in small[0]["label"], small[0]["label"]
    print_routes(mode + ", small file, in order", small[0], s3, d)
    print_routes(mode + ", 120 MiB file, in order", big[0], s3, d)

    # Small: /s3/params is a POST policy (Uppy 6 sends no Accept:
    # application/json), and the browser form-POSTs to the bucket.
    assert routes(small[1]) == [("GET", "/s3/params")], small[1]
    to_s3 = [(e["method"], e["status"]) for e in small[0]["requests"]
             if urlsplit(e["url"]).netloc == s3.host]
    assert len(to_s3) == 1 and to_s3[0][0] == "POST" and to_s3[0][1] in (200, 201, 204), to_s3

    # Big: the GETs need no preflight, the two POSTs (JSON) do.
    log = big[1]
    parts = check_big(mode, big[0], log, parts_in_order=True)
    assert Counter(routes(log)) == Counter({
        ("OPTIONS", "/s3/multipart"): 1, ("POST", "/s3/multipart"): 1,
        ("GET", PART_ROUTE): parts,
        ("OPTIONS", "/s3/multipart/{uploadId}/complete"): 1,
        ("POST", "/s3/multipart/{uploadId}/complete"): 1}), Counter(routes(log))


def sign_calls(up):
    return [e["body"] for e in up["requests"] if e.get("body") is not None]


def test_uppy6_sign_request(setup, s3, page_origin, tmp_path):
    d = setup(auth=True)
    small, big = upload_files(d, s3, tmp_path, page_origin, "v6-sign.html",
                              [("small-%s.txt" % uuid.uuid4().hex[:6], 300 * 1024 + 7),
                               ("big-%s.bin" % uuid.uuid4().hex[:6], BIG)], key=KEY)
    mode = "Uppy 6 (signRequest, API key)"
    assert "@uppy/aws-s3 6.1.0," in small[0]["label"], small[0]["label"]
    print_routes(mode + ", small file, in order", small[0], s3, d)
    print_routes(mode + ", 120 MiB file, in order", big[0], s3, d)

    calls = sign_calls(small[0])
    assert [c["method"] for c in calls] == ["PUT"], calls
    # The key presignd minted, not the one Uppy proposed, is where the bytes
    # went (upload_files found it under the prefix).
    assert not calls[0]["key"].startswith(d.prefix)
    assert set(routes(small[1])) <= {("OPTIONS", "/s3/sign"), ("POST", "/s3/sign")}

    log = big[1]
    parts = check_big(mode, big[0], log, parts_in_order=True)
    kinds = Counter((c["method"], "uploadId" in c, "partNumber" in c)
                    for c in sign_calls(big[0]))
    assert kinds == Counter({("POST", False, False): 1, ("PUT", True, True): parts,
                             ("POST", True, False): 1}), kinds
    # The create and the complete went to S3 from the browser.
    s3_posts = [e for e in big[0]["requests"]
                if urlsplit(e["url"]).netloc == s3.host and e["method"] == "POST"]
    assert [e["status"] for e in s3_posts] == [200, 200], s3_posts
    assert Counter(routes(log))[("POST", "/s3/sign")] == parts + 2


# ---------------------------------------------------------------- resume

@pytest.mark.parametrize("page", ["v6-companion.html", "v4-companion.html"])
def test_uppy_resumes_after_reload(setup, s3, page_origin, tmp_path, page):
    """Companion mode with GoldenRetriever: the browser closes with parts 1-4
    in S3 and the next ones in flight; opened again, the page restores the
    file (its blob kept in IndexedDB: GoldenRetriever's limit raised from
    10 MiB) and Uppy asks which parts S3 has (ListParts), sends only the
    others, and completes."""
    v4 = page.startswith("v4")
    d = setup(auth=v4)
    name = "resume-%s.bin" % uuid.uuid4().hex[:6]
    path = tmp_path / name
    digest = make_file(path, BIG)
    profile = tmp_path / "profile"
    url = page_url(page_origin, page, d, key=KEY if v4 else None, golden=True)
    hold = 4
    try:
        resume_after_reload(d, s3, tmp_path, url, path, digest, profile, hold, v4)
    finally:
        shutil.rmtree(profile, ignore_errors=True)       # 120 MiB in IndexedDB
        path.unlink(missing_ok=True)


def resume_after_reload(d, s3, tmp_path, url, path, digest, profile, hold, v4):
    parts = -(-BIG // PART)
    stop = run_spec(tmp_path, {"PAGE_URL": url, "FILES": json.dumps([str(path)]),
                               "PHASE": "stop", "USER_DATA_DIR": str(profile),
                               "HOLD_AFTER_PART": str(hold)})
    path.unlink()          # from here on, only the browser's copy exists
    mp = stop["files"][0]["s3Multipart"]
    assert mp and mp["uploadId"] and mp["key"].startswith(d.prefix), stop["files"]
    assert stop["stored"] and stop["stored"][0]["size"] == BIG, stop["stored"]
    listed = s3.client().list_parts(Bucket=s3.bucket, Key=mp["key"],
                                    UploadId=mp["uploadId"]).get("Parts", [])
    in_s3 = [p["PartNumber"] for p in listed]
    assert in_s3 == list(range(1, hold + 1)), in_s3
    n_stop = len(access_lines(d))

    resume = run_spec(tmp_path, {"PAGE_URL": url, "PHASE": "resume",
                                 "USER_DATA_DIR": str(profile)})
    assert not resume["problems"], resume["problems"]
    restored = resume["restored"]
    assert len(restored) == 1 and restored[0]["isRestored"] and not restored[0]["isGhost"] \
        and restored[0]["hasData"], restored
    assert restored[0]["s3Multipart"]["uploadId"] == mp["uploadId"]
    log_resume = access_lines(d)[n_stop:]
    mode = "%s (Companion mode) with GoldenRetriever" % ("Uppy 4" if v4 else "Uppy 6")
    print_routes(mode + ", after the reload, in order", resume, s3, d)

    # ListParts first, no new multipart upload; the finished parts neither
    # signed nor sent again, the others once each.
    first = resume["requests"][0]
    assert first["method"] == "GET" and \
        unquote(urlsplit(first["url"]).path) == "/s3/multipart/" + mp["uploadId"], first
    assert ("POST", "/s3/multipart") not in routes(log_resume)
    assert [r for r in routes(log_resume) if r[0] != "OPTIONS"][0] == \
        ("GET", "/s3/multipart/{uploadId}"), log_resume[:2]
    before, after = signed_parts(stop), signed_parts(resume)
    # Signed before the stop: the parts in S3, and some that never got there
    # (held, or signed and not yet sent).
    assert set(in_s3) <= set(before) <= set(range(1, parts + 1)), before
    assert set(stop["held"]) <= set(before), (stop["held"], before)
    assert after == Counter(range(hold + 1, parts + 1)), after
    assert sorted(uploaded_parts(resume)) == list(range(hold + 1, parts + 1))
    sent_again = set(uploaded_parts(resume)) & set(in_s3)
    done = [e for e in resume["events"] if e["name"] == "upload-success"]
    assert len(done) == 1 and done[0]["body"]["key"] == mp["key"], done
    got, n = stored_sha256(s3, mp["key"])
    assert (n, got) == (BIG, digest)
    print("\n%s: parts %s in S3 when the browser closed, %s in flight; after the reload "
          "ListParts, then parts %d-%d (%d) in %.2f s; signatures per part before %s, after "
          "%s; finished parts sent again: %s" % (
              mode, in_s3, sorted(stop["held"]), hold + 1, parts, len(uploaded_parts(resume)),
              resume["ms"] / 1000, dict(sorted(before.items())), dict(sorted(after.items())),
              sorted(sent_again) or "none"))


# ----------------------------------------------------------- example page

def test_example_page(setup, s3, http_stub, tmp_path):
    """examples/uppy.html as `make run` serves it, clicked through Uppy's
    Dashboard: a small file (a form POST to the bucket) and one above
    presign.max_file_size, which the page sends in parts."""
    harness.require((EXAMPLES / "node_modules" / "uppy" / "dist" / "uppy.min.js").is_file(),
                    "examples/node_modules/uppy is missing (scripts/bootstrap installs it)")
    origin = http_stub(harness.serve_directory(EXAMPLES)).endpoint
    cors_for(s3, origin)
    try:
        d = setup(auth=False, origin=origin, more={"presign": {"max_file_size": 6 * MiB}})
        files = [("notes-%s.txt" % uuid.uuid4().hex[:6], 200 * 1024 + 3),
                 ("video-%s.bin" % uuid.uuid4().hex[:6], 7 * MiB + 5)]
        digests = {}
        for name, size in files:
            digests[name] = make_file(tmp_path / name, size)
        res = run_spec(tmp_path, {"PAGE_URL": "%s/uppy.html?%s" % (origin, urlencode(
                                      {"api": d.url})),
                                  "FILES": json.dumps([str(tmp_path / n) for n, _ in files]),
                                  "PHASE": "dashboard"})
    finally:
        s3.client().delete_bucket_cors(Bucket=s3.bucket)
    assert not res["problems"], res["problems"]
    stored = {x["name"]: x["key"] for x in res["stored"]}
    assert set(stored) == {n for n, _ in files}, res["stored"]
    for name, size in files:
        assert stored[name] == check_stored(s3, d.prefix, name, size, digests[name])
    assert res["status"] == "2 uploaded.", res["status"]
    got = Counter(routes(access_lines(d)))
    assert got[("GET", "/s3/params")] == 1 and got[("POST", "/s3/multipart")] == 1, got
    assert got[("GET", PART_ROUTE)] == 2, got
    print_routes("The example page (Uppy 6 Dashboard), a small and a 7 MiB file", res, s3, d)
