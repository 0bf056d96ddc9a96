"""Secrets in memory: what a worker no longer needs is not left behind in
its heap for a core file, a swap file or a memory disclosure to find. The
test reads a worker's memory (/proc/PID/mem, as root) and counts the
copies of a secret: the one in use must be found (the scan works), the
ones done with must not.
"""
import hashlib
import os
import time
import uuid
from datetime import datetime, timedelta, timezone

import harness

def memory_count(pid, needle):
    """Copies of NEEDLE in the readable memory of process PID."""
    n = 0
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            addr, perms = fields[0], fields[1]
            name = fields[5] if len(fields) > 5 else ""
            if "r" not in perms or name in ("[vvar]", "[vsyscall]", "[vdso]"):
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            n += data.count(needle)
    return n


def root_only():
    harness.require(os.geteuid() == 0, "reading another process's memory needs root")


def test_api_key_is_not_left_in_memory(presignd):
    root_only()
    key = "k-" + uuid.uuid4().hex + uuid.uuid4().hex
    cfg = {"auth": {"mode": "api_key", "api_keys": [
        {"name": "app", "sha256": hashlib.sha256(key.encode()).hexdigest(),
         "permissions": ["upload"]}]}}
    d = presignd(cfg, workers=1)
    (worker,) = d.worker_pids()
    import requests
    s = requests.Session()
    for i in range(50):
        r = s.post(d.url + "/upload-url", json={"filename": "a%d.txt" % i, "size": 1},
                   headers={"Authorization": "Bearer " + key}, timeout=10)
        assert r.status_code == 200, r.text
    s.close()
    time.sleep(0.3)
    # The scanner finds what is there: the key's hash, kept for checking.
    assert memory_count(worker, hashlib.sha256(key.encode()).digest()) >= 1
    left = memory_count(worker, key.encode())
    print("copies of the API key in the worker's memory after 50 requests: %d" % left)
    assert left == 0


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_replaced_credentials_are_not_left_in_memory(presignd, http_stub, tmp_path):
    """IMDS credentials A (about to expire) are replaced by B: A's secret
    and token are gone from the worker's memory, B's are there."""
    root_only()
    now = datetime.now(timezone.utc)
    sets = [("ASIA" + uuid.uuid4().hex[:16].upper(), "secret-A-" + uuid.uuid4().hex,
             "token-A-" + uuid.uuid4().hex * 4, now + timedelta(seconds=4)),
            ("ASIA" + uuid.uuid4().hex[:16].upper(), "secret-B-" + uuid.uuid4().hex,
             "token-B-" + uuid.uuid4().hex * 4, now + timedelta(hours=6))]

    def creds(n):
        ak, sk, tok, exp = sets[min(n, 2) - 1]
        return {"Code": "Success", "AccessKeyId": ak, "SecretAccessKey": sk, "Token": tok,
                "Expiration": iso(exp), "Type": "AWS-HMAC",
                "LastUpdated": iso(now)}
    imds = http_stub(harness.ImdsStub(creds))
    cfg = {"s3": {"access_key_id": None, "secret_access_key": None,
                  "imds_endpoint": imds.endpoint}}
    home = tmp_path / "home"
    home.mkdir()
    d = presignd(cfg, workers=1, env={"HOME": str(home), "AWS_EC2_METADATA_DISABLED": None,
                                      "AWS_SHARED_CREDENTIALS_FILE": None,
                                      "AWS_CONFIG_FILE": None})
    (worker,) = d.worker_pids()
    harness.wait_for(lambda: imds.calls["creds"] >= 2, 15, what="the second credentials fetch")
    # Sign with B, so that every signing path ran with the new ones.
    r = harness.wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        d.post("/upload-url", json={"filename": "a.txt", "size": 1})), 10,
        what="a URL signed with the new credentials")
    assert sets[1][0] in r.json()["presigned_url"]
    time.sleep(0.3)
    a_ak, a_sk, a_tok, _ = sets[0]
    b_ak, b_sk, b_tok, _ = sets[1]
    assert memory_count(worker, b_sk.encode()) >= 1
    assert memory_count(worker, b_tok.encode()) >= 1
    found = {"secret A": memory_count(worker, a_sk.encode()),
             "token A": memory_count(worker, a_tok.encode())}
    print("copies of replaced credentials in the worker's memory: %s" % found)
    assert found == {"secret A": 0, "token A": 0}


def test_configured_secret_is_kept_once(presignd, s3):
    """A secret_access_key from the file: the worker keeps the one copy it
    signs with; the file's text and the YAML parser's copies are gone."""
    root_only()
    d = presignd(workers=1)
    (worker,) = d.worker_pids()
    for i in range(5):
        assert d.post("/upload-url", json={"filename": "a.txt", "size": 1}).status_code == 200
    # The master keeps the configuration; a worker also the credentials it
    # signs with, made from it.
    found = {"master": memory_count(d.pid, s3.secret_key.encode()),
             "worker": memory_count(worker, s3.secret_key.encode())}
    print("copies of the configured secret: %s" % found)
    assert found == {"master": 1, "worker": 2}
