"""The upload page (examples/) in headless chromium, end to end.

presignd (the `presignd` fixture) and the page (examples/ served on a free
port) run on 127.0.0.1; the page uploads straight to the Ceph RADOS Gateway
through presigned URLs, so the bucket gets the CORS rules of
aws/bucket-cors.json for the page's origin, exactly as a real deployment
would. tests/browser/upload.spec.mjs (playwright-core) does the clicking:
upload, list, download and compare the bytes, delete. Its screenshots stay
in tests/browser/artifacts/.
"""
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

import harness

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SPEC = ROOT / "tests" / "browser" / "upload.spec.mjs"
ARTIFACTS = ROOT / "tests" / "browser" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def page_server(http_stub):
    """examples/ over HTTP on a free port, in a thread of this process."""
    return http_stub(harness.serve_directory(EXAMPLES)).endpoint


def bucket_cors_for(origin):
    """aws/bucket-cors.json (what setup-aws and the Terraform apply), for ORIGIN."""
    cors = json.loads((ROOT / "aws" / "bucket-cors.json").read_text())
    for rule in cors["CORSRules"]:
        rule["AllowedOrigins"] = [origin]
    return cors


@pytest.fixture
def cors_bucket(s3, page_server):
    client = s3.client()
    client.put_bucket_cors(Bucket=s3.bucket, CORSConfiguration=bucket_cors_for(page_server))
    try:
        yield page_server
    finally:
        client.delete_bucket_cors(Bucket=s3.bucket)


def test_bucket_cors_answers_preflight(s3, cors_bucket):
    """The gateway answers a browser's preflight for a presigned PUT."""
    origin = cors_bucket
    url = "%s/%s/uploads/%s-x.txt" % (s3.endpoint, s3.bucket, uuid.uuid4())
    r = requests.options(url, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    }, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    assert "PUT" in r.headers.get("Access-Control-Allow-Methods", "")
    assert "content-type" in r.headers.get("Access-Control-Allow-Headers", "").lower()
    # Another origin gets no permission.
    r = requests.options(url, headers={
        "Origin": "http://evil.example",
        "Access-Control-Request-Method": "PUT",
    }, timeout=10)
    assert "Access-Control-Allow-Origin" not in r.headers or \
        r.headers["Access-Control-Allow-Origin"] != "http://evil.example"


def test_upload_page_in_chromium(presignd, s3, cors_bucket):
    origin = cors_bucket
    if not (ROOT / "tests" / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/node_modules/playwright-core is missing: run scripts/bootstrap")
    assert os.access(CHROMIUM, os.X_OK), f"no chromium at {CHROMIUM} (apt-get install chromium)"
    assert shutil.which("node"), "node is not installed"

    # A prefix of its own: the page lists one page of files, and the shared
    # test bucket may hold many from other tests.
    d = presignd(overrides={"cors": {"allow_origins": [origin]},
                            "uploads": {"prefix": "browser-%s/" % uuid.uuid4().hex[:12]}})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ("uploaded.png", "deleted.png", "failure.png"):
        (ARTIFACTS / old).unlink(missing_ok=True)
    env = dict(os.environ, PRESIGND_URL=d.url, PAGE_URL=origin + "/index.html",
               CHROMIUM=CHROMIUM, ARTIFACTS=str(ARTIFACTS))
    out = subprocess.run(["node", str(SPEC)], cwd=ROOT / "tests", env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n--- presignd log:\n{d.log()[-3000:]}"
    assert "browser: ok" in out.stdout
    for shot in ("uploaded.png", "deleted.png"):
        path = ARTIFACTS / shot
        assert path.is_file() and path.stat().st_size > 1000, shot
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
