"""test_credentials.py - where presignd's S3 client finds AWS credentials
(common/creds.c, common/s3.c), checked through build/tools/s3cli against the
`s3` fixture (Ceph RGW verifies every signature):

  config > environment > shared credentials file (AWS_PROFILE,
  AWS_SHARED_CREDENTIALS_FILE) > EC2 IMDSv2, here a local stub
  (harness.ImdsStub) that insists on the session-token handshake, counts
  calls and serves the RGW user's keys with an Expiration it chooses.

Refresh is proven by serving a wrong secret first, with a short lifetime,
and the right one afterwards: S3 calls only succeed once the client has
refreshed, and it must do so before the first credentials expire. Presigned
URLs never outlive the credentials that signed them; without any
credentials calls and presigning fail with "no_credentials".
"""

import datetime
import time

import pytest
import requests

import harness
from test_s3client import S3CLI, clean_env, one, run, s3_section, unique, write_config


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def creds_doc(s3, lifetime, secret=None):
    # RGW has no STS here: a session token would make it look for one, so
    # the stub serves none (an empty Token, as the client must accept).
    return {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
            "AccessKeyId": s3.access_key, "SecretAccessKey": secret or s3.secret_key,
            "Token": "", "Expiration": iso(time.time() + lifetime)}


@pytest.fixture
def imds(http_stub):
    """imds(creds) -> a started harness.ImdsStub serving CREDS (a function
    of the fetch number: a credentials document or an HTTP status)."""
    return lambda creds: http_stub(harness.ImdsStub(creds))


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


def keyless(s3, tmp_path, imds_endpoint=None, name="keyless.yaml", **over):
    """A config without keys, so the rest of the chain is consulted."""
    sec = s3_section(s3, access_key_id=None, secret_access_key=None, **over)
    # Without a stub, IMDS is a closed local port: fail fast, never 169.254.
    sec["imds_endpoint"] = imds_endpoint or "http://127.0.0.1:%d" % harness.free_port()
    sec["connect_timeout_ms"] = 500
    return write_config(tmp_path, sec, name=name)


@pytest.fixture(autouse=True)
def _need_tool():
    if not S3CLI.exists():
        harness.require(False, "build/tools/s3cli not built (make tools)")


# ------------------------------------------------------------ static chain

def test_environment_credentials(s3, tmp_path, home):
    cfgp = keyless(s3, tmp_path)
    env = clean_env(HOME=str(home), AWS_ACCESS_KEY_ID=s3.access_key,
                    AWS_SECRET_ACCESS_KEY=s3.secret_key)
    r = one(cfgp, "head-bucket", env=env)
    assert r["status"] == "ok", r
    r = one(cfgp, "credentials", env=env)
    assert r["expiry"] == 0 and r["pending"] is False     # static: never expire

    env["AWS_SECRET_ACCESS_KEY"] = "wrong" * 8
    r = one(cfgp, "head-bucket", env=env)
    assert r["status"] == "error" and r["http_status"] == 403


def test_config_beats_environment(s3, tmp_path, home):
    cfgp = write_config(tmp_path, s3_section(s3))
    env = clean_env(HOME=str(home), AWS_ACCESS_KEY_ID="AKIWRONG",
                    AWS_SECRET_ACCESS_KEY="wrong" * 8)
    assert one(cfgp, "head-bucket", env=env)["status"] == "ok"


def test_half_set_environment_is_an_error(s3, tmp_path, home):
    cfgp = keyless(s3, tmp_path)
    env = clean_env(HOME=str(home), AWS_ACCESS_KEY_ID=s3.access_key)
    lines, err = run(cfgp, "head-bucket", env=env, check=False)
    assert lines == []
    assert "AWS_SECRET_ACCESS_KEY" in err
    assert s3.secret_key not in err


def test_shared_credentials_file_and_profile(s3, tmp_path, home):
    aws = home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
        "# the right ones\n[ci]\naws_access_key_id=%s\naws_secret_access_key=%s\n"
        % (s3.access_key, "wrong" * 8, s3.access_key, s3.secret_key))
    cfgp = keyless(s3, tmp_path)

    r = one(cfgp, "head-bucket", env=clean_env(HOME=str(home)))
    assert r["status"] == "error" and r["http_status"] == 403     # [default]: wrong secret
    r = one(cfgp, "head-bucket", env=clean_env(HOME=str(home), AWS_PROFILE="ci"))
    assert r["status"] == "ok", r

    # AWS_SHARED_CREDENTIALS_FILE wins over ~/.aws/credentials.
    other = tmp_path / "elsewhere.ini"
    other.write_text("[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n"
                     % (s3.access_key, s3.secret_key))
    r = one(cfgp, "head-bucket",
            env=clean_env(HOME=str(home), AWS_SHARED_CREDENTIALS_FILE=str(other)))
    assert r["status"] == "ok", r

    # A profile asked for by name and absent is an error, not a fallback.
    lines, err = run(cfgp, "head-bucket", env=clean_env(HOME=str(home), AWS_PROFILE="nope"),
                     check=False)
    assert lines == [] and "nope" in err


def test_no_credentials_anywhere(s3, tmp_path, home):
    cfgp = keyless(s3, tmp_path)             # IMDS: a closed port
    env = clean_env(HOME=str(home))
    t0 = time.monotonic()
    r = one(cfgp, "head-bucket", env=env)
    assert r["status"] == "no_credentials", r
    assert r["http_status"] == 0
    assert time.monotonic() - t0 < 10

    r = one(cfgp, "presign", "GET", "uploads/x.txt", env=env)
    assert r["status"] == "no_credentials"
    assert r["url"] is None
    assert "no AWS credentials available" in r["error"]
    r = one(cfgp, "credentials", env=env)
    assert r["expiry"] == -1


# ------------------------------------------------------------ IMDSv2

def test_imds_credentials(s3, tmp_path, home, imds):
    stub = imds(lambda n: creds_doc(s3, 3600))
    cfgp = keyless(s3, tmp_path, stub.endpoint)
    env = clean_env(HOME=str(home))

    r = one(cfgp, "head-bucket", env=env)
    assert r["status"] == "ok", r
    assert stub.calls == {"token": 1, "role": 1, "creds": 1, "refused": 0}

    key = "uploads/" + unique() + "imds.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"from imds")
    r = one(cfgp, "-e", "600", "presign", "GET", key, env=env)
    assert r["status"] == "ok" and r["expires_in"] == 600
    assert abs(r["credentials_expiry"] - (time.time() + 3600)) < 30
    g = requests.get(r["url"])
    assert g.status_code == 200 and g.content == b"from imds"


def test_imds_presign_capped_by_expiry(s3, tmp_path, home, imds):
    stub = imds(lambda n: creds_doc(s3, 300))
    cfgp = keyless(s3, tmp_path, stub.endpoint)
    env = clean_env(HOME=str(home))
    key = "uploads/" + unique() + "capped.txt"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"capped")

    r = one(cfgp, "-e", "3600", "presign", "GET", key, env=env)
    assert r["status"] == "ok", r
    expiry = r["credentials_expiry"]
    # The URL ends a safety margin before the credentials do.
    assert r["expires_in"] < 3600
    assert r["now"] + r["expires_in"] <= expiry - 59
    assert r["expires_in"] >= 300 - 60 - 10
    q = dict(x.split("=", 1) for x in r["url"].split("?", 1)[1].split("&"))
    assert int(q["X-Amz-Expires"]) == r["expires_in"]
    assert requests.get(r["url"]).status_code == 200

    # Shorter than the cap: as asked.
    r = one(cfgp, "-e", "60", "presign", "GET", key, env=env)
    assert r["expires_in"] == 60


def test_imds_credentials_too_close_to_expiry(s3, tmp_path, home, imds):
    imds_stub = imds(lambda n: creds_doc(s3, 45))     # inside the 60 s margin
    cfgp = keyless(s3, tmp_path, imds_stub.endpoint)
    r = one(cfgp, "presign", "GET", "uploads/x.txt", env=clean_env(HOME=str(home)))
    assert r["status"] == "no_credentials" and r["url"] is None
    assert "expire" in r["error"]


def test_imds_refresh_before_expiry(s3, tmp_path, home, imds):
    """First credentials: a wrong secret living 20 s; every later fetch: the
    right secret for an hour. The client must refresh on its own, before
    the first ones expire, and sign with the new ones from then on."""
    lifetime = 20
    stub = imds(lambda n: creds_doc(s3, lifetime, secret="wrong" * 8) if n == 1
                else creds_doc(s3, 3600))
    cfgp = keyless(s3, tmp_path, stub.endpoint)
    env = clean_env(HOME=str(home))

    t0 = time.time()
    lines, err = run(cfgp, "-w", str(lifetime * 0.5 + 4), "head-bucket", env=env, timeout=60)
    events = [l for l in lines if l.get("event") == "credentials"]
    result = lines[-1]
    expiries = [e["expiry"] for e in events if e["expiry"] > 0]
    assert len(expiries) >= 2, lines
    first, second = expiries[0], expiries[1]
    assert abs(first - (t0 + lifetime)) < 5
    refreshed_at = next(e["now"] for e in events if e["expiry"] == second)
    assert refreshed_at < first, "refreshed only after the credentials expired"
    assert second > first
    assert stub.calls["creds"] >= 2
    assert stub.calls["token"] == 1            # the IMDS session token is reused
    assert stub.calls["refused"] == 0
    assert result["status"] == "ok", (result, err)
    assert "refreshed from instance metadata" in err
    assert s3.secret_key not in err and "wrong" * 8 not in err


def test_imds_refresh_retried_while_old_ones_valid(s3, tmp_path, home, imds):
    """The refresh fails (IMDS answers 500 to one whole fetch, all its
    attempts); the client keeps the old credentials, retries with back-off,
    and gets new ones before the old ones expire."""
    lifetime = 20

    def creds(n):
        if n == 1:
            return creds_doc(s3, lifetime)
        if n <= 4:                   # the first refresh: 3 attempts, all 500
            return 500
        return creds_doc(s3, 3600)
    stub = imds(creds)
    cfgp = keyless(s3, tmp_path, stub.endpoint)
    t0 = time.time()
    lines, err = run(cfgp, "-w", "16", "head-bucket", env=clean_env(HOME=str(home)),
                     timeout=60)
    events = [l for l in lines if l.get("event") == "credentials"]
    expiries = [e["expiry"] for e in events if e["expiry"] > 0]
    assert len(expiries) == 2, lines
    assert abs(expiries[0] - (t0 + lifetime)) < 5
    assert abs(expiries[1] - (t0 + 3600)) < 30
    refreshed_at = events[-1]["now"]
    assert refreshed_at < expiries[0]
    assert stub.calls["creds"] == 5
    # Failure noticed after half the lifetime, next try about a second later.
    assert stub.fetch_times[4] - stub.fetch_times[3] >= 0.9
    assert "keeping the current ones until they expire" in err
    assert lines[-1]["status"] == "ok"


def test_imds_first_credentials_are_used(s3, tmp_path, home, imds):
    """The counterpart of the refresh test: right after start, the client
    signs with what IMDS served first (here a wrong secret)."""
    stub = imds(lambda n: creds_doc(s3, 3600, secret="wrong" * 8))
    cfgp = keyless(s3, tmp_path, stub.endpoint)
    r = one(cfgp, "head-bucket", env=clean_env(HOME=str(home)))
    assert r["status"] == "error" and r["http_status"] == 403


def test_imds_unusable_answers(s3, tmp_path, home, imds):
    stub = imds(lambda n: {"Code": "Failure", "Message": "no role"})
    cfgp = keyless(s3, tmp_path, stub.endpoint)
    lines, err = run(cfgp, "head-bucket", env=clean_env(HOME=str(home)))
    assert lines[-1]["status"] == "no_credentials"
    assert "Failure" in err
