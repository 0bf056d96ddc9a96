"""presignd under valgrind memcheck: a mixed load over every endpoint (good
requests, errors, clients that hang up during S3 calls), reloads with HUP
while requests are in flight, USR1 (also while the old workers exit), then
a TERM stop. Every process (the
master and each generation's workers, which valgrind follows across fork)
must end with no memory error and no definitely or indirectly lost block.

This covers what the sanitizer build cannot: the normal -O2 binary, and
leaks in the reload and stop paths of processes that exit normally.
"""

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import time
import uuid

import pytest
import requests

import harness
from harness import raw_request, send_and_leave, send_raw

VALGRIND = shutil.which("valgrind")


@pytest.fixture(autouse=True)
def _need_valgrind():
    harness.require(VALGRIND is not None, "valgrind is not installed (scripts/bootstrap installs it)")


def _wrapper(tmp_path, binary):
    """A script the harness runs as the daemon: valgrind around BINARY,
    one log per process."""
    logs = tmp_path / "vg"
    logs.mkdir()
    script = tmp_path / "presignd-valgrind"
    script.write_text(
        "#!/bin/sh\n"
        "exec %s --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect "
        "--errors-for-leak-kinds=definite,indirect --child-silent-after-fork=no "
        "--trace-children=yes --num-callers=30 --error-exitcode=99 "
        "--log-file=%s/vg.%%p.log %s \"$@\"\n" % (VALGRIND, logs, binary))
    script.chmod(0o755)
    return script, logs


def _mixed_round(d):
    u = d.url
    data = b"valgrind"
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    r = requests.post(u + "/upload-url", json={"filename": "vg %s.txt" % uuid.uuid4().hex[:8],
                                               "size": len(data), "md5": md5}, timeout=30)
    assert r.status_code == 200, r.text
    j = r.json()
    put = requests.put(j["presigned_url"], data=data, headers=j["headers"], timeout=30)
    assert put.status_code == 200, put.text
    key = j["file_key"]
    r = requests.post(u + "/upload-complete", json={"file_key": key, "size": len(data),
                                                    "content_type": "text/plain", "md5": md5},
                      timeout=30)
    assert r.status_code == 200 and r.json()["matches"] is True, r.text
    assert requests.post(u + "/download-url", json={"file_key": key}, timeout=30).status_code == 200
    assert requests.get(u + "/files", params={"max_keys": 5}, timeout=30).status_code == 200
    assert requests.delete(u + "/files/" + key, timeout=30).status_code == 200
    assert requests.post(u + "/download-url", json={"file_key": "uploads/vg-none.pdf"},
                         timeout=30).status_code == 404
    for p in ("/", "/health", "/metrics", "/openapi.json", "/docs", "/redoc", "/nope"):
        requests.get(u + p, timeout=30)
    # The documentation pages' files (built in, hashed on first use), and
    # one of another version.
    for page in ("/docs", "/redoc"):
        for asset in re.findall(r'(?:src|href)="(docs/assets/[^"]+)"',
                                requests.get(u + page, timeout=30).text):
            assert requests.get(u + "/" + asset, timeout=60).status_code == 200, asset
    requests.get(u + "/docs/assets/0000000000000000/docs.js", timeout=30)
    requests.head(u + "/health", timeout=30)
    requests.options(u + "/upload-url", headers={"Origin": "https://evil.example",
                                                 "Access-Control-Request-Method": "POST"},
                     timeout=30)
    for body in (b"[]", b"{", b'{"filename":"a.exe","size":1}', b'{"filename":"a.pdf"}',
                 b"x" * 20000, b"[" * 3000 + b"]" * 3000,
                 b'{"filename":"a.pdf","filename":"b.pdf"}'):
        send_raw(d.port, raw_request("POST", "/upload-url", ["Content-Type: application/json"],
                                     body))
    send_raw(d.port, b"GARBAGE\r\n\r\n")
    send_raw(d.port, raw_request("POST", "/upload-url", ["Content-Length: 99999999"]))
    send_raw(d.port, raw_request("GET", "/files?max_keys=0"))
    send_raw(d.port, raw_request("DELETE", "/files/uploads/%2e%2e/x"))
    # Clients that hang up while their S3 call is in flight.
    for data in (raw_request("POST", "/download-url", ["Content-Type: application/json"],
                             b'{"file_key":"uploads/vg-gone.pdf"}'),
                 raw_request("GET", "/files"), raw_request("GET", "/health"),
                 raw_request("DELETE", "/files/uploads/vg-gone.pdf")):
        send_and_leave(d.port, data)


def _in_flight(d):
    """Requests left waiting on S3 while a reload drains their worker."""
    socks = []
    for data in (raw_request("GET", "/files?max_keys=3"),
                 raw_request("POST", "/download-url", ["Content-Type: application/json"],
                             b'{"file_key":"uploads/vg-x.pdf"}')):
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(data)
        socks.append(s)
    return socks


def _usr1_while_old_workers_exit(d):
    """The master forwards USR1 to draining workers too. Under valgrind a
    worker takes seconds to leave; a USR1 that lands after it freed its
    signal events must not kill it half-way through its exit handlers
    (the report would then lack OpenSSL's cleanup and show a leak)."""
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        d.signal(signal.SIGUSR1)
        time.sleep(0.05)


def test_no_memory_errors_or_leaks_under_load_reload_and_stop(presignd, tmp_path):
    binary = os.environ.get("PRESIGND_BIN") or str(harness.ROOT / "build" / "presignd")
    script, logs = _wrapper(tmp_path, binary)
    d = presignd(overrides={"server": {"shutdown_timeout": 3}}, workers=1,
                 binary=str(script), start=False)
    d.READY_TIMEOUT = 90
    d.start()
    for i in range(4):
        _mixed_round(d)
        if i % 2 == 1:
            socks = _in_flight(d)
            d.reload(timeout=60)
            for s in socks:
                s.close()
            _usr1_while_old_workers_exit(d)
    d.signal(signal.SIGUSR1)
    _mixed_round(d)
    # One reload that is rejected (a broken file) must leak nothing either.
    d.write_config("server: [\n")
    d.reload(expect_ok=False, timeout=60)
    d.write_config({})
    code = d.stop(timeout=60)
    assert code == 0, d.log()[-3000:]
    killed = [l for l in d.log().splitlines() if "killed by signal" in l]
    assert not killed, killed
    time.sleep(0.5)   # the last worker's valgrind finishes its report

    reports = sorted(logs.glob("vg.*.log"))
    assert len(reports) >= 4, "expected the master and 3 generations of workers: %s" % reports
    problems = []
    for f in reports:
        text = f.read_text(errors="replace")
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if not m:
            problems.append("%s: no ERROR SUMMARY (process killed?)\n%s" % (f.name, text[-1500:]))
            continue
        lost = re.findall(r"(definitely|indirectly) lost: ([\d,]+) bytes", text)
        if m.group(1) != "0" or any(n != "0" for _, n in lost):
            problems.append("%s:\n%s" % (f.name, text[-6000:]))
    assert not problems, "\n\n".join(problems)
