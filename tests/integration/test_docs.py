"""The API's documentation: /openapi.json, /docs (Swagger UI) and /redoc
(ReDoc), and the files they load (/docs/assets/{hash}/{name}).

- In chromium (tests/browser/docs.spec.mjs): Authorize with an API key,
  "Try it out" on POST /upload-url, the 200 with a presigned_url; every
  path of the document on /redoc; no CSP violation, no request to another
  origin.
- Over HTTP: the pages' headers (policy, caching), every asset the pages
  name served with immutable caching and byte for byte the file of the
  tree, other versions and names 404; server.docs: false makes all of it
  an unknown route.
- The document passes an OpenAPI validator from npm
  (@apidevtools/swagger-parser, tests/package.json), and every error code
  the daemon's sources use is in its Error schema.
- daemon/vendor/ is what daemon/vendor/SHA256SUMS and PACKAGES say.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from harness import error_shape_problem, raw_request, send_raw

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
DAEMON = ROOT / "daemon"
VENDOR = DAEMON / "vendor"
SPEC = TESTS / "browser" / "docs.spec.mjs"
ARTIFACTS = TESTS / "browser" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

IMMUTABLE = "public, max-age=31536000, immutable"

# Where each asset name the pages use comes from in the tree.
ASSET_FILES = {
    "docs.js": DAEMON / "docs.js",
    "redoc.js": DAEMON / "redoc.js",
    "docs.css": DAEMON / "docs.css",
    "swagger-ui-bundle.js": VENDOR / "swagger-ui-dist" / "swagger-ui-bundle.js",
    "swagger-ui.css": VENDOR / "swagger-ui-dist" / "swagger-ui.css",
    "swagger-ui-bundle.js.LICENSE.txt":
        VENDOR / "swagger-ui-dist" / "swagger-ui-bundle.js.LICENSE.txt",
    "swagger-ui-dist.LICENSE": VENDOR / "swagger-ui-dist" / "LICENSE",
    "swagger-ui-dist.NOTICE": VENDOR / "swagger-ui-dist" / "NOTICE",
    "redoc.standalone.js": VENDOR / "redoc" / "redoc.standalone.js",
    "redoc.standalone.js.LICENSE.txt": VENDOR / "redoc" / "redoc.standalone.js.LICENSE.txt",
    "d87bcbdbea8f8f5aa26f.worker.js.LICENSE.txt":
        VENDOR / "redoc" / "d87bcbdbea8f8f5aa26f.worker.js.LICENSE.txt",
    "redoc.LICENSE": VENDOR / "redoc" / "LICENSE",
}
TYPES = {".js": "text/javascript", ".css": "text/css"}


def asset_url(name):
    """The URL a page names for asset NAME: its hash is the start of the
    SHA-256 of the file in the tree."""
    digest = hashlib.sha256(ASSET_FILES[name].read_bytes()).hexdigest()
    return "/docs/assets/%s/%s" % (digest[:16], name)


def page_assets(html):
    """The asset URLs a page names (relative to the page: docs/assets/...),
    as absolute paths."""
    return ["/" + u for u in re.findall(r'(?:src|href)="(docs/assets/[^"]+)"', html)]


def api_key_overrides(key):
    return {"auth": {"mode": "api_key", "api_keys": [
        {"name": "docs", "sha256": hashlib.sha256(key.encode()).hexdigest(), "prefix": "",
         "permissions": ["upload", "download", "list", "delete"]}]}}


# ------------------------------------------------------------ in chromium

def test_docs_in_chromium(presignd):
    """Swagger UI's "Try it out" with an API key, ReDoc showing every
    path, no CSP violation and no request elsewhere (docs.spec.mjs), with
    a CORS rule that does not name presignd's own origin."""
    if not (TESTS / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/node_modules/playwright-core is missing: run scripts/bootstrap")
    assert os.access(CHROMIUM, os.X_OK), f"no chromium at {CHROMIUM} (apt-get install chromium)"
    assert shutil.which("node"), "node is not installed"
    key = "docs-" + uuid.uuid4().hex
    # CORS allows another origin only: the pages call their own origin, so
    # they need none.
    d = presignd(overrides=dict(api_key_overrides(key),
                                cors={"allow_origins": ["https://app.example"]}))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PRESIGND_URL=d.url, API_KEY=key, CHROMIUM=CHROMIUM,
               ARTIFACTS=str(ARTIFACTS))
    out = subprocess.run(["node", str(SPEC)], cwd=TESTS, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n--- presignd log:\n{d.log()[-3000:]}"
    assert "docs-browser: ok" in out.stdout
    # The upload-url call went through the pipeline with the key.
    assert "Try it out on POST /upload-url: 200" in out.stdout


# ------------------------------------------------------------- over HTTP

@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_are_served_with_their_policy(presignd, page):
    d = presignd()
    r = d.get(page)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = dict(p.strip().split(" ", 1) for p in r.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"          # no inline script, no eval
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    html = r.text
    # No inline script or style, nothing from elsewhere (no CDN).
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), html
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "openapi.json" in html
    assert "@" not in html                         # every asset mark filled in
    urls = page_assets(html)
    assert len(urls) >= 5, urls
    for u in urls:
        assert u == asset_url(u.rsplit("/", 1)[1]), u


def test_assets_are_the_files_of_the_tree_cached_for_good(presignd):
    d = presignd()
    named = set(page_assets(d.get("/docs").text)) | set(page_assets(d.get("/redoc").text))
    assert named == {asset_url(n) for n in ASSET_FILES}
    for name, path in ASSET_FILES.items():
        r = d.get(asset_url(name))
        assert r.status_code == 200, (name, r.text)
        assert r.content == path.read_bytes(), name
        assert r.headers["Cache-Control"] == IMMUTABLE, name
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        want = TYPES.get(Path(name).suffix, "text/plain")
        assert r.headers["Content-Type"] == want + "; charset=utf-8", name
        h = d.head(asset_url(name))
        assert h.status_code == 200 and h.content == b""
        assert h.headers["Content-Length"] == str(len(r.content))
    # Pipelined on one connection: the 1.7 MB script, then another request.
    big = asset_url("swagger-ui-bundle.js")
    r = send_raw(d.port, raw_request("GET", big, close=False) + raw_request("GET", "/health"),
                 timeout=10)
    assert r.status_line.startswith("HTTP/1.1 200"), r
    assert r.body == ASSET_FILES["swagger-ui-bundle.js"].read_bytes()
    assert r.rest.startswith(b"HTTP/1.1 "), r.rest[:100]


def test_other_versions_and_names_are_404(presignd):
    d = presignd()
    good = asset_url("docs.js")
    h = good.split("/")[3]
    other = "0" * 16 if h != "0" * 16 else "1" * 16
    for path in (good.replace(h, other), good.replace(h, h[:15]), good.replace(h, h + "0"),
                 good.replace(h, h.upper()), good + "x", "/docs/assets/%s/nope.js" % h,
                 "/docs/assets/%s" % h, "/docs/assets/", "/docs/assets/%s/docs.js/x" % h,
                 "/docs/assets/%s/openapi.json" % h, "/docs/assets/%s/docs.html" % h):
        r = d.get(path)
        assert error_shape_problem(r, 404, "not_found") is None, path
        assert "immutable" not in r.headers.get("Cache-Control", ""), path
    # Names are compared as sent (requests would decode this one).
    r = send_raw(d.port, raw_request("GET", good.replace("docs.js", "docs%2Ejs")))
    assert error_shape_problem(r, 404, "not_found") is None
    r = d.post(good, data=b"{}", headers={"Content-Type": "application/json"})
    assert error_shape_problem(r, 405, "method_not_allowed") is None
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_docs_need_no_credentials(presignd):
    d = presignd(overrides=api_key_overrides("k-" + uuid.uuid4().hex), workers=1)
    for path in ("/openapi.json", "/docs", "/redoc", asset_url("swagger-ui-bundle.js")):
        assert d.get(path).status_code == 200, path
    # The document asks for the bearer scheme on every route but the public
    # ones, which is what makes Swagger UI's Authorize send it.
    doc = d.get("/openapi.json").json()
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"]}
    assert "security" not in doc["paths"]["/upload-url"]["post"]
    assert doc["paths"]["/docs"]["get"]["security"] == []


def test_docs_off_is_an_unknown_route(presignd):
    d = presignd({"server": {"docs": False}})
    on_paths = ("/openapi.json", "/docs", "/redoc", asset_url("docs.js"),
                asset_url("swagger-ui-bundle.js"), asset_url("redoc.standalone.js"))
    for path in on_paths:
        for method in ("GET", "HEAD", "POST", "DELETE"):
            r = d.request(method, path)
            assert r.status_code == 404, (method, path, r.status_code)
            assert "Allow" not in r.headers, (method, path)
            if method != "HEAD":
                assert error_shape_problem(r, 404, "not_found") is None, (method, path)
        # Not even a preflight: there is no route.
        r = d.options(path, headers={"Origin": "https://app.example",
                                     "Access-Control-Request-Method": "GET"})
        assert r.status_code == 404, path
    endpoints = d.get("/").json()["endpoints"]
    assert not [e for e in endpoints if e.split(" ")[1] in ("/openapi.json", "/docs", "/redoc")]
    assert "POST /upload-url" in endpoints
    # Counted as what they now are: unknown routes.
    metrics = d.get("/metrics").text
    assert 'route="/docs"' not in metrics and 'route="/openapi.json"' not in metrics
    # And the rest of the API is there.
    assert d.get("/health").status_code in (200, 503)
    assert d.post("/upload-url", json={"filename": "a.txt", "size": 1}).status_code == 200


def test_docs_on_by_default_and_in_the_endpoints(presignd):
    d = presignd()
    endpoints = d.get("/").json()["endpoints"]
    for e in ("GET /openapi.json", "GET /docs", "GET /redoc"):
        assert e in endpoints
    assert not [e for e in endpoints if "/docs/assets" in e]   # files, not endpoints


# ------------------------------------------------- the document itself

VALIDATE = r"""
const SwaggerParser = require('@apidevtools/swagger-parser');
const doc = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
SwaggerParser.validate(doc).then(
  (api) => { console.log('valid ' + api.openapi + ' ' + Object.keys(api.paths).length); },
  (e) => { console.error(e.message); process.exit(1); });
"""


@pytest.mark.parametrize("auth", ["none", "api_key"])
def test_document_passes_the_openapi_validator(presignd, tmp_path, auth):
    """@apidevtools/swagger-parser: the OpenAPI 3.0 schema, $refs, path
    parameters against their templates, unique operationIds."""
    node = shutil.which("node")
    assert node, "node is not installed"
    if not (TESTS / "node_modules" / "@apidevtools" / "swagger-parser").is_dir():
        pytest.fail("tests/node_modules/@apidevtools/swagger-parser is missing: "
                    "run scripts/bootstrap")
    d = presignd(overrides=api_key_overrides("k") if auth == "api_key" else None)
    path = tmp_path / "openapi.json"
    path.write_text(d.get("/openapi.json").text)
    out = subprocess.run([node, "-e", VALIDATE, str(path)], cwd=TESTS, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("valid 3.0.3 ")


def _c_strings(text):
    return re.findall(r'"((?:[^"\\\n]|\\.)*)"', text)


def _call_args(src, start):
    """The top-level arguments (as source text) of the call whose '(' is at
    START in SRC."""
    args, cur, depth, i = [], "", 0, start + 1
    while i < len(src):
        c = src[i]
        if c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            cur += src[i:j + 1]
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append(cur)
                return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append(cur)
            cur = ""
            i += 1
            continue
        cur += c
        i += 1
    raise AssertionError("unterminated call at %d" % start)


def daemon_error_codes():
    """Every error code daemon/*.c can answer with, file:line of each: the
    string literals of req_fail()'s code argument (also in a ?: between
    codes), the codes JSON text spells out, and those assigned to an
    error_code field."""
    found = {}
    for path in sorted(DAEMON.glob("*.c")):
        src = path.read_text()
        src = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), src, flags=re.S)

        def add(code, pos):
            found.setdefault(code, "%s:%d" % (path.name, src.count("\n", 0, pos) + 1))
        for m in re.finditer(r"(?<!void )\breq_fail\s*\(", src):   # calls, not the definition
            args = _call_args(src, m.end() - 1)
            # Literals of the expression itself, not of calls inside it
            # (strcmp(name, "file_key") ? "invalid_field" : ...).
            expr = args[2]
            while re.search(r"\w\s*\([^()]*\)", expr):
                expr = re.sub(r"\w+\s*\([^()]*\)", "0", expr)
            literals = _c_strings(expr)
            assert literals, "%s: req_fail with a code that is no literal: %s" % (
                path.name, args[2].strip())
            for code in literals:
                add(code, m.start())
        for m in re.finditer(r'\\"error_code\\"\s*:\s*\\"([a-z0-9_]+)\\"', src):
            add(m.group(1), m.start())
        # error_code = "x"; and snprintf(h->error_code, sizeof ..., "x");
        for m in re.finditer(r'error_code\s*=\s*"([a-z0-9_]+)"\s*;|'
                             r'printf\s*\([^;]*\berror_code\b[^;]*,\s*"([a-z0-9_]+)"\s*\)\s*;',
                             src):
            add(m.group(1) or m.group(2), m.start())
    return found


def test_every_error_code_is_in_the_error_schema():
    doc = json.loads((DAEMON / "openapi.json").read_text())
    enum = doc["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"]
    used = daemon_error_codes()
    # The reader sees the codes it should: a broken reader finds none.
    for code in ("invalid_json", "unauthorized", "rate_limited", "not_found",
                 "method_not_allowed", "file_too_large", "s3_unavailable",
                 "upload_not_found", "internal_error", "invalid_file_key"):
        assert code in used, code
    missing = {c: where for c, where in used.items() if c not in enum}
    assert not missing, "error codes used in daemon/*.c but not in the Error schema " \
        "of daemon/openapi.json: %s" % missing
    assert len(enum) == len(set(enum))
    unused = set(enum) - set(used)
    assert not unused, "the Error schema lists codes no source uses: %s" % sorted(unused)


# ------------------------------------------------------ vendored files

def test_vendored_files_are_the_pinned_ones():
    """SHA256SUMS covers exactly daemon/vendor/'s files and matches them;
    PACKAGES pins exact versions, which the bundles themselves state."""
    sums = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    on_disk = {str(p.relative_to(VENDOR)) for p in VENDOR.glob("*/*") if p.is_file()}
    assert set(sums) == on_disk
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    pinned = {}
    for line in (VENDOR / "PACKAGES").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version, integrity, *files = line.split()
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), line
            assert integrity.startswith("sha512-"), line
            assert {"%s/%s" % (name, f.rsplit("/", 1)[-1]) for f in files} <= set(sums)
            pinned[name] = version
    assert set(pinned) == {"swagger-ui-dist", "redoc"}
    bundle = (VENDOR / "swagger-ui-dist" / "swagger-ui-bundle.js").read_text()
    assert '"%s"' % pinned["swagger-ui-dist"] in bundle or \
        pinned["swagger-ui-dist"] in bundle[-200000:]
    assert 'Version: "%s"' % pinned["redoc"] in \
        (VENDOR / "redoc" / "redoc.standalone.js.LICENSE.txt").read_text()
    # Every vendored file is built in (the Makefile's ASSETS, assets.S).
    asm = (DAEMON / "assets.S").read_text()
    for name in sums:
        assert '"vendor/%s"' % name in asm, name
