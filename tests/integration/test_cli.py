"""The command line exactly as specified: -t (success line, or one
FILE:LINE:COL line per problem and exit 1), -V, and a bad config at start
that exits non-zero with the same lines before binding anything."""
import os
import re
import socket
import subprocess

import harness

BIN = os.environ.get("PRESIGND_BIN", os.path.join(os.path.dirname(__file__),
                                                   "..", "..", "build", "presignd"))

BAD = ("s3:\n"
       "  bucket: abc\n"
       "  colour: blue\n"
       "server:\n"
       "  workers: 0\n")


def run(*args, timeout=10):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def test_check_success_line(tmp_path):
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    for name in ("presignd.yaml", "presignd.dev.yaml"):
        path = os.path.join(root, "etc", name)
        r = run("-t", "-c", path)
        assert r.returncode == 0, r
        assert r.stdout.strip() == "configuration file %s test is successful" % path


def test_check_failure_is_one_line_per_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    r = run("-t", "-c", str(path))
    assert r.returncode == 1
    lines = (r.stdout + r.stderr).splitlines()
    assert len(lines) == 2, lines
    for line in lines:
        assert re.match(r"^%s:\d+:\d+: \S" % re.escape(str(path)), line), line
    assert lines[0].startswith("%s:3:3:" % path), lines
    assert lines[1].startswith("%s:5:12:" % path), lines


def test_version():
    r = run("-V")
    assert r.returncode == 0
    assert re.match(r"^presignd \d+\.\d+\.\d+$", r.stdout.strip()), r.stdout


def test_bad_config_at_start_exits_before_binding(tmp_path):
    port = harness.free_port()
    path = tmp_path / "bad.yaml"
    path.write_text(BAD + '  listen: "127.0.0.1:%d"\n' % port)
    r = run("-c", str(path))
    assert r.returncode != 0
    lines = (r.stdout + r.stderr).splitlines()
    assert any(line.startswith("%s:3:3:" % path) for line in lines), lines
    # Nothing was left listening on the configured port.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
