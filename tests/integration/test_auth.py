"""Authentication, per-principal prefixes, rate limits and the audit log,
against the signature-checking S3 (Ceph RGW).

API keys and JWTs (made here with Debian's python3-jwt and
python3-cryptography, served from a JWKS stub the test runs): every
refusal has its case (no header, wrong key, expired, not yet valid, wrong
issuer or audience, alg none, HS256 signed with the RSA public key,
tampered payload, unknown kid, a sub of ../bob), principals cannot reach
each other's files, the permissions one by one, the rate limit across
three workers, and the audit log: one parseable line per decision, no
secret in it. The main flows run against the ASan+UBSan daemon too.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import threading
import time
import uuid
from urllib.parse import quote

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import harness
from harness import error_shape_problem, wait_for

ISS = "https://idp.example.com/"
AUD = "presignd"

KEYS = {"alice": "alice-key-" + uuid.uuid4().hex, "bob": "bob-key-" + uuid.uuid4().hex,
        "reader": "reader-key-" + uuid.uuid4().hex, "uploader": "up-key-" + uuid.uuid4().hex}


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


API_KEYS = [
    {"name": "alice", "sha256": sha256(KEYS["alice"]), "prefix": "alice/",
     "permissions": ["upload", "download", "list", "delete"]},
    {"name": "bob", "sha256": sha256(KEYS["bob"]), "prefix": "bob/",
     "permissions": ["upload", "download", "list", "delete"]},
    {"name": "reader", "sha256": sha256(KEYS["reader"]), "prefix": "",
     "permissions": ["list", "download"]},
    {"name": "uploader", "sha256": sha256(KEYS["uploader"]), "prefix": "",
     "permissions": ["upload"]},
]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def upload(d, token, name="a.txt", data=b"hello", status=200):
    r = d.post("/upload-url", json={"filename": name, "size": len(data)},
               headers=bearer(token) if token else {})
    assert r.status_code == status, r.text
    if status != 200:
        return r
    up = r.json()
    put = requests.put(up["presigned_url"], data=data, headers=up["headers"], timeout=10)
    assert put.status_code == 200, put.text
    return up


def refused(r, status, code):
    problem = error_shape_problem(r, status, code)
    assert problem is None, problem


# ------------------------------------------------------------------ API keys

def api_key_config(tmp_path, **over):
    cfg = {"auth": {"mode": "api_key", "api_keys": API_KEYS},
           "audit": {"log_file": str(tmp_path / "audit.log")}}
    return harness.deep_merge(cfg, over)


def test_without_auth_a_warning_says_so(presignd):
    d = presignd(workers=1)
    assert re.search(r"auth.mode is none: anyone who reaches presignd may sign", d.log())
    assert d.post("/upload-url", json={"filename": "a.txt", "size": 1}).status_code == 200


def test_missing_and_wrong_credentials(presignd, tmp_path):
    d = presignd(overrides=api_key_config(tmp_path), workers=1)
    for headers, given in (({}, False), ({"Authorization": "Basic YWxpY2U6eA=="}, True),
                           ({"Authorization": "Bearer"}, True),
                           ({"Authorization": "Bearer a b"}, True),
                           (bearer("not-a-key"), True),
                           (bearer(KEYS["alice"] + "x"), True),
                           (bearer(sha256(KEYS["alice"])), True)):
        for method, path, body in (("POST", "/upload-url", {"filename": "a.txt", "size": 1}),
                                   ("POST", "/download-url", {"file_key": "uploads/alice/x"}),
                                   ("GET", "/files", None),
                                   ("DELETE", "/files/uploads/alice/x", None)):
            r = d.request(method, path, json=body, headers=headers)
            refused(r, 401, "unauthorized")
            www = r.headers.get("WWW-Authenticate", "")
            assert www.startswith("Bearer"), www
            assert ('error="invalid_token"' in www) == given, (headers, www)


def test_public_routes_need_no_credentials(presignd, tmp_path):
    d = presignd(overrides=api_key_config(tmp_path, cors={"allow_origins": ["*"]}), workers=1)
    assert d.get("/health").status_code == 200
    assert d.get("/metrics").status_code == 200
    assert d.get("/").status_code == 200
    assert d.get("/openapi.json").status_code == 200
    assert d.get("/docs").status_code == 200
    r = d.options("/upload-url", headers={"Origin": "https://app.example",
                                          "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 204
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]


def test_principals_stay_in_their_prefix(presignd, s3, tmp_path):
    d = presignd(overrides=api_key_config(tmp_path))
    mine = upload(d, KEYS["alice"], "mine.txt", b"alice's")
    assert mine["file_key"].startswith("uploads/alice/")
    theirs = upload(d, KEYS["bob"], "theirs.txt", b"bob's")
    assert theirs["file_key"].startswith("uploads/bob/")

    # Alice reads her own file through the presigned URL...
    r = d.post("/download-url", json={"file_key": mine["file_key"]}, headers=bearer(KEYS["alice"]))
    assert r.status_code == 200, r.text
    assert requests.get(r.json()["presigned_url"], timeout=10).content == b"alice's"
    # ...and lists her prefix by default.
    r = d.get("/files", headers=bearer(KEYS["alice"]))
    assert r.status_code == 200
    assert [f["key"] for f in r.json()["files"]] == [mine["file_key"]]

    # Bob's file is out of her reach, whatever she sends.
    a = bearer(KEYS["alice"])
    refused(d.post("/download-url", json={"file_key": theirs["file_key"]}, headers=a),
            403, "forbidden")
    refused(d.delete("/files/" + quote(theirs["file_key"], safe="/"), headers=a), 403, "forbidden")
    for prefix in ("uploads/bob/", "uploads/", "uploads/b", "uploads/alic"):
        refused(d.get("/files", params={"prefix": prefix}, headers=a), 403, "forbidden")
    # Tricks to climb out of her prefix are not even valid keys...
    rel = theirs["file_key"][len("uploads/bob/"):]
    for trick in ("uploads/alice/../bob/" + rel, "uploads/alice//../bob/" + rel,
                  "uploads/alice/./../bob/" + rel):
        refused(d.post("/download-url", json={"file_key": trick}, headers=a),
                400, "invalid_file_key")
    refused(d.delete("/files/uploads/alice/..%2Fbob%2F" + quote(rel), headers=a),
            400, "invalid_file_key")
    # ...and an encoded one in a JSON key is a literal name in her own
    # prefix (S3 keys are not decoded): no such file, not bob's.
    refused(d.post("/download-url", json={"file_key": "uploads/alice/%2e%2e/bob/" + rel},
                   headers=a), 404, "file_not_found")
    # Bob's file is still there.
    assert s3.client().get_object(Bucket=s3.bucket, Key=theirs["file_key"])["Body"].read() == b"bob's"

    # Alice deletes her own.
    r = d.delete("/files/" + quote(mine["file_key"], safe="/"), headers=a)
    assert r.status_code == 200, r.text


def test_permissions_one_by_one(presignd, tmp_path):
    d = presignd(overrides=api_key_config(tmp_path), workers=1)
    key = upload(d, KEYS["alice"], "p.txt")["file_key"]
    up, rd = bearer(KEYS["uploader"]), bearer(KEYS["reader"])
    # uploader: upload only
    upload(d, KEYS["uploader"], "u.txt")
    refused(d.post("/download-url", json={"file_key": key}, headers=up), 403, "forbidden")
    refused(d.get("/files", headers=up), 403, "forbidden")
    refused(d.delete("/files/" + quote(key, safe="/"), headers=up), 403, "forbidden")
    # reader: list and download, over all of uploads/
    assert d.get("/files", headers=rd).status_code == 200
    assert d.post("/download-url", json={"file_key": key}, headers=rd).status_code == 200
    refused(d.post("/upload-url", json={"filename": "x.txt", "size": 1}, headers=rd),
            403, "forbidden")
    refused(d.delete("/files/" + quote(key, safe="/"), headers=rd), 403, "forbidden")


def test_keys_change_with_a_reload(presignd, tmp_path):
    d = presignd(overrides=api_key_config(tmp_path), workers=1)
    new = "new-key-" + uuid.uuid4().hex
    assert d.get("/files", headers=bearer(new)).status_code == 401
    keys = [k for k in API_KEYS if k["name"] != "bob"] + [
        {"name": "carol", "sha256": sha256(new), "prefix": "carol/", "permissions": ["list"]}]
    d.write_config({"auth": {"api_keys": keys}})
    d.reload()
    assert d.get("/files", headers=bearer(new)).status_code == 200
    refused(d.get("/files", headers=bearer(KEYS["bob"])), 401, "unauthorized")


# ---------------------------------------------------------------------- JWT

class Idp:
    """An identity provider: keys, a JWKS stub that counts its fetches, and
    tokens."""

    def __init__(self, http_stub):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.kids = {"rsa-1": self.rsa, "ec-1": self.ec}
        self.fetches = 0
        self.up = True
        self.stub = http_stub({"GET /jwks.json": self._jwks})

    def _jwks(self, req):
        self.fetches += 1
        if not self.up:
            return 503, {}, "down"
        keys = []
        for kid, k in self.kids.items():
            pub = k.public_key().public_numbers()
            if isinstance(k, rsa.RSAPrivateKey):
                n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
                keys.append({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                             "n": b64u(n), "e": b64u(pub.e.to_bytes(3, "big"))})
            else:
                keys.append({"kty": "EC", "kid": kid, "crv": "P-256",
                             "x": b64u(pub.x.to_bytes(32, "big")),
                             "y": b64u(pub.y.to_bytes(32, "big"))})
        return 200, {"Content-Type": "application/json", "Cache-Control": "max-age=3600"}, \
            json.dumps({"keys": keys})

    @property
    def url(self):
        return self.stub.endpoint + "/jwks.json"

    def token(self, kid="rsa-1", alg=None, **claims):
        c = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": int(time.time()) - 5,
             "exp": int(time.time()) + 300, "scope": "upload download list delete"}
        for k, v in claims.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        key = self.kids[kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(c, key, algorithm=alg, headers={"kid": kid})

    def rotate(self):
        """The IdP's new key; the old one stays published for a while."""
        self.kids["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_config(idp, tmp_path, **over):
    cfg = {"auth": {"mode": "jwt", "jwt": {"jwks_url": idp.url, "issuer": ISS,
                                           "audience": AUD, "prefix": "users/{sub}/"}},
           "audit": {"log_file": str(tmp_path / "audit.log")}}
    return harness.deep_merge(cfg, over)


@pytest.fixture
def idp(http_stub):
    return Idp(http_stub)


def test_jwt_accepted(presignd, idp, tmp_path):
    d = presignd(overrides=jwt_config(idp, tmp_path))
    up = upload(d, idp.token(), "j.txt", b"jwt")
    assert up["file_key"].startswith("uploads/users/alice/")
    up = upload(d, idp.token(kid="ec-1", sub="carol"), "e.txt", b"es256")
    assert up["file_key"].startswith("uploads/users/carol/")
    r = d.get("/files", headers=bearer(idp.token(sub="carol")))
    assert [f["key"] for f in r.json()["files"]] == [up["file_key"]]
    # Permissions as an array, with the presignd: prefix.
    t = idp.token(scope=None, perms=["presignd:list"])
    d.write_config({"auth": {"jwt": {"permissions_claim": "perms"}}})
    d.reload()
    assert d.get("/files", headers=bearer(t)).status_code == 200
    refused(d.post("/upload-url", json={"filename": "x.txt", "size": 1}, headers=bearer(t)),
            403, "forbidden")


def test_jwt_refusals(presignd, idp, tmp_path):
    d = presignd(overrides=jwt_config(idp, tmp_path), workers=1)
    now = int(time.time())
    good = idp.token()
    h, p, s = good.split(".")
    tampered = "%s.%s.%s" % (h, b64u(json.dumps({"iss": ISS, "aud": AUD, "sub": "bob",
                                                  "exp": now + 300}).encode()), s)
    pem = idp.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    signing = "%s.%s" % (b64u(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()), p)
    hs256 = signing + "." + b64u(hmac.new(pem, signing.encode(), hashlib.sha256).digest())
    none = "%s.%s." % (b64u(json.dumps({"alg": "none", "kid": "rsa-1"}).encode()), p)
    cases = {
        "expired": idp.token(exp=now - 120),
        "not yet valid": idp.token(nbf=now + 300),
        "wrong issuer": idp.token(iss="https://evil.example/"),
        "wrong audience": idp.token(aud="someone-else"),
        "alg none": none,
        "HS256 with the RSA public key": hs256,
        "tampered payload": tampered,
        "garbage": "a.b.c",
    }
    for name, token in cases.items():
        r = d.get("/files", headers=bearer(token))
        assert error_shape_problem(r, 401, "unauthorized") is None, (name, r.text)
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"], name
    assert d.get("/files", headers=bearer(good)).status_code == 200


def test_sub_that_would_climb_out_is_refused(presignd, idp, tmp_path, s3):
    d = presignd(overrides=jwt_config(idp, tmp_path), workers=1)
    for sub in ("../bob", "..", "bob/x", "a\u202eb", "x" * 129):
        r = d.post("/upload-url", json={"filename": "x.txt", "size": 1},
                   headers=bearer(idp.token(sub=sub)))
        assert error_shape_problem(r, 403, "forbidden") is None, (sub, r.text)
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="uploads/users/")
    assert all("bob" not in o["Key"] for o in listed.get("Contents", []))


def test_unknown_kid_fetches_the_jwks_again_once(presignd, idp, tmp_path):
    d = presignd(overrides=jwt_config(idp, tmp_path), workers=1)
    assert d.get("/files", headers=bearer(idp.token())).status_code == 200
    before = idp.fetches
    assert before >= 1
    idp.rotate()
    # A token of the new key: presignd fetches the set once, and accepts it.
    assert d.get("/files", headers=bearer(idp.token(kid="rsa-2"))).status_code == 200
    assert idp.fetches == before + 1
    # A kid nobody publishes: no second fetch within 30 s, just 401.
    idp.kids["ghost"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ghost = idp.token(kid="ghost")
    del idp.kids["ghost"]
    refused(d.get("/files", headers=bearer(ghost)), 401, "unauthorized")
    refused(d.get("/files", headers=bearer(ghost)), 401, "unauthorized")
    assert idp.fetches == before + 1


def test_no_jwks_means_503_never_a_pass(presignd, idp, tmp_path):
    idp.up = False
    d = presignd(overrides=jwt_config(idp, tmp_path), workers=1)
    wait_for(lambda: idp.fetches >= 1, 10, what="the first JWKS fetch")
    r = d.get("/files", headers=bearer(idp.token()))
    refused(r, 503, "auth_unavailable")
    assert "JWKS" in r.json()["detail"]
    # The IdP comes back: the next fetch (back-off) loads the keys.
    idp.up = True
    wait_for(lambda: d.get("/files", headers=bearer(idp.token())).status_code == 200, 15,
             interval=0.3, what="tokens accepted once the JWKS loads")


# -------------------------------------------------------------- rate limits

def test_rate_limit_is_shared_by_all_workers(presignd, tmp_path):
    """Fresh connections (so every worker takes some) for a few seconds:
    the 200s are burst + rate x seconds, for the three workers together."""
    rate, burst = 20.0, 15
    d = presignd(overrides=api_key_config(tmp_path, rate_limit={
        "requests_per_second": rate, "burst": burst}), workers=3)
    ok, limited, stamps, retry_after = [], [], [], set()
    lock = threading.Lock()
    stop = time.monotonic() + 3.0

    def client():
        while time.monotonic() < stop:
            r = requests.get(d.url + "/files", headers=dict(bearer(KEYS["reader"]),
                                                           Connection="close"), timeout=10)
            with lock:
                stamps.append(time.monotonic())
                if r.status_code == 200:
                    ok.append(r)
                else:
                    assert error_shape_problem(r, 429, "rate_limited") is None, r.text
                    retry_after.add(r.headers["Retry-After"])
                    limited.append(r)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(stamps) - min(stamps)
    expect = burst + rate * elapsed
    print("rate limit: %d accepted, %d refused in %.2f s; expected %.1f"
          % (len(ok), len(limited), elapsed, expect))
    assert limited, "nothing was refused"
    assert abs(len(ok) - expect) <= 0.2 * expect, (len(ok), expect)
    assert retry_after <= {"1"}
    # The accepted ones were answered by several workers: one limit for all.
    ids = {r.headers["X-Request-Id"] for r in ok}
    pids = set()
    for line in d.log().splitlines():
        if line.startswith("{") and '"status":200' in line:
            rec = json.loads(line)
            if rec["request_id"] in ids:
                pids.add(rec["worker_pid"])
    assert len(pids) >= 2, pids
    metrics = d.get("/metrics").text
    assert "presignd_rate_limited_total %d" % len(limited) in metrics


def test_rate_limit_by_client_address_without_auth(presignd):
    d = presignd(overrides={"rate_limit": {"requests_per_second": 0.5, "burst": 2,
                                           "trusted_proxies": ["127.0.0.1"]}}, workers=1)

    def files(xff=None):
        return d.get("/files", headers={"X-Forwarded-For": xff} if xff else {}).status_code

    # Each client behind the trusted proxy has its own bucket.
    assert [files("198.51.100.7") for _ in range(3)] == [200, 200, 429]
    assert [files("198.51.100.8") for _ in range(2)] == [200, 200]
    # X-Forwarded-For is believed only from a trusted peer, and only its
    # right-most untrusted entry: what the client wrote left of it is not.
    assert files("10.9.9.9, 198.51.100.7") == 429


# ----------------------------------------------------------------- the audit

def read_audit(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_audit_log_one_line_per_decision(presignd, tmp_path, s3):
    d = presignd(overrides=api_key_config(tmp_path, rate_limit={"requests_per_second": 1,
                                                                 "burst": 50}))
    a = bearer(KEYS["alice"])
    up = upload(d, KEYS["alice"], "audit.txt", b"audited")
    r = d.post("/download-url", json={"file_key": up["file_key"]}, headers=a)
    url = r.json()["presigned_url"]
    d.get("/files", headers=a)
    d.delete("/files/" + quote(up["file_key"], safe="/"), headers=a)
    d.get("/files")                                                         # 401
    d.get("/files", params={"prefix": "uploads/bob/"}, headers=a)           # 403
    d.post("/upload-url", json={"filename": "x.txt", "size": 1}, headers=bearer(KEYS["reader"]))
    d.get("/health")                                                        # no decision
    path = tmp_path / "audit.log"
    wait_for(lambda: path.exists() and len(read_audit(path)) >= 7, 5, what="7 audit lines")
    lines = read_audit(path)
    assert len(lines) == 7, lines
    fields = {"time", "request_id", "principal", "auth", "action", "size", "content_type",
              "client", "outcome", "expires_at"}
    for line in lines:
        assert fields <= set(line), line
        assert ("key" in line) != ("prefix" in line)
    got = [(l["principal"], l["action"], l["outcome"]) for l in lines]
    assert got == [("alice", "upload", "granted"), ("alice", "download", "granted"),
                   ("alice", "list", "granted"), ("alice", "delete", "granted"),
                   (None, "list", "unauthorized"), ("alice", "list", "forbidden"),
                   ("reader", "upload", "forbidden")]
    assert lines[0]["key"] == up["file_key"] and lines[0]["size"] == 7
    assert lines[0]["content_type"] == "text/plain" and lines[0]["auth"] == "api_key"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", lines[0]["expires_at"])
    assert lines[1]["size"] == 7 and lines[1]["expires_at"]
    assert lines[2]["prefix"] == "uploads/alice/" and lines[2]["expires_at"] is None
    assert lines[4]["auth"] == "none" and lines[4]["client"] == "127.0.0.1"
    # No secret, ever.
    text = path.read_text()
    for secret in list(KEYS.values()) + [s3.secret_key, "X-Amz-Signature", "X-Amz-Credential",
                                         url, up["presigned_url"]]:
        assert secret not in text


def test_audit_log_reopened_on_usr1(presignd, tmp_path):
    d = presignd(overrides=api_key_config(tmp_path), workers=1)
    path = tmp_path / "audit.log"
    d.get("/files", headers=bearer(KEYS["alice"]))
    wait_for(lambda: path.exists() and path.read_text(), 5, what="an audit line")
    os.rename(path, str(path) + ".1")
    d.signal(signal.SIGUSR1)
    wait_for(lambda: "log files reopened" in d.log(), 5, what="the reopen")
    time.sleep(0.2)     # the workers reopen on their own signal
    d.get("/files", headers=bearer(KEYS["alice"]))
    wait_for(lambda: path.exists() and len(read_audit(path)) == 1, 5,
             what="a line in the new audit log")


# ------------------------------------------------------------------- ASan

def test_auth_flows_under_asan(presignd_asan, idp, tmp_path):
    d = presignd_asan(overrides=api_key_config(tmp_path, rate_limit={
        "requests_per_second": 5, "burst": 3}), workers=2)
    upload(d, KEYS["alice"], "asan.txt")
    refused(d.get("/files", headers=bearer("wrong")), 401, "unauthorized")
    refused(d.get("/files", params={"prefix": "uploads/bob/"}, headers=bearer(KEYS["alice"])),
            403, "forbidden")
    codes = [d.get("/files", headers=bearer(KEYS["bob"])).status_code for _ in range(6)]
    assert 429 in codes
    # The rate limit was shown above; the JWT flows below must not meet it
    # on a fast machine (the reload keeps the other settings).
    d.write_config(jwt_config(idp, tmp_path, rate_limit={"requests_per_second": 0}))
    d.reload()
    upload(d, idp.token(), "asan-jwt.txt")
    refused(d.get("/files", headers=bearer(idp.token(exp=int(time.time()) - 300))),
            401, "unauthorized")
    idp.rotate()
    assert d.get("/files", headers=bearer(idp.token(kid="rsa-2"))).status_code == 200
    refused(d.post("/upload-url", json={"filename": "x.txt", "size": 1},
                   headers=bearer(idp.token(sub="../bob"))), 403, "forbidden")
    assert d.stop() == 0
