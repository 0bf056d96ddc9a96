"""The systemd unit: `systemd-analyze verify` is clean and the offline
security score is 2.0 or lower.

Both commands work on a unit file given by path and need no running systemd
(they also work in a container whose PID 1 is not systemd). `verify` checks
that every Exec*= binary exists and is executable, so the unit is rendered
with the same substitution `make install` does, pointing at a copy of the
real binary and a config file in a temporary tree.

analyze_verify() and security_exposure() are the checks themselves;
tests/deploy/test_deb.py runs them on the unit the Debian package installs.
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT_SRC = os.path.join(ROOT, "systemd", "presignd.service")
MAN_SRC = os.path.join(ROOT, "man", "presignd.8")
MAX_EXPOSURE = 2.0

# Lines `systemd-analyze verify` may print that say nothing about this unit.
# Each entry is a regex and the reason it is harmless. Empty today: any
# output is a finding.
HARMLESS_VERIFY_LINES = []


def _binary():
    path = os.environ.get("PRESIGND_BIN") or os.path.join(ROOT, "build", "presignd")
    if not os.access(path, os.X_OK):
        pytest.fail(f"presignd binary not built: {path} (run make)")
    return path


def _analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze not installed (apt-get install systemd)")
    return exe


@pytest.fixture
def unit(tmp_path):
    """The unit rendered as `make install` does, into tmp_path; returns its path."""
    bindir = tmp_path / "sbin"
    sysconfdir = tmp_path / "etc"
    bindir.mkdir()
    (sysconfdir / "presignd").mkdir(parents=True)
    shutil.copy2(_binary(), bindir / "presignd")
    example = os.path.join(ROOT, "etc", "presignd.yaml")
    if os.path.exists(example):
        shutil.copy(example, sysconfdir / "presignd" / "presignd.yaml")
    else:
        (sysconfdir / "presignd" / "presignd.yaml").write_text("s3:\n  bucket: b\n")
    with open(UNIT_SRC) as f:
        text = f.read()
    text = text.replace("@BINDIR@", str(bindir)).replace("@SYSCONFDIR@", str(sysconfdir))
    path = tmp_path / "presignd.service"
    path.write_text(text)
    return path


def _directives(text):
    """[(section, key, value)] of a unit file, comments and blanks dropped."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def test_placeholders_are_the_ones_make_install_substitutes():
    with open(UNIT_SRC) as f:
        text = f.read()
    assert set(re.findall(r"@[A-Z_]+@", text)) == {"@BINDIR@", "@SYSCONFDIR@"}


def test_unit_has_the_required_settings():
    with open(UNIT_SRC) as f:
        d = {(s, k): v for s, k, v in _directives(f.read())}
    svc = lambda k: d.get(("Service", k))  # noqa: E731
    assert svc("Type") == "notify"
    assert svc("NotifyAccess") == "main"
    assert svc("ExecStart") == "@BINDIR@/presignd -c @SYSCONFDIR@/presignd/presignd.yaml"
    assert svc("ExecStartPre") == "@BINDIR@/presignd -t -c @SYSCONFDIR@/presignd/presignd.yaml"
    assert svc("ExecReload") == "@BINDIR@/presignd -R $MAINPID"
    assert svc("KillMode") == "mixed"
    assert svc("Restart") == "on-failure"
    assert svc("DynamicUser") == "yes" or svc("User")
    assert svc("ConfigurationDirectory") == "presignd"
    assert svc("CapabilityBoundingSet") == ""
    assert svc("RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6"
    assert svc("MemoryDenyWriteExecute") == "yes"
    assert svc("NoNewPrivileges") == "yes"
    assert svc("ProtectSystem") == "strict"
    assert int(svc("LimitNOFILE")) >= 65536
    assert int(svc("WatchdogSec")) > 0
    # The daemon's own drain deadline (server.shutdown_timeout, 30 s unless
    # the example config says otherwise) must fire before systemd's SIGKILL.
    shutdown_timeout = 30
    example = os.path.join(ROOT, "etc", "presignd.yaml")
    if os.path.exists(example):
        import yaml
        with open(example) as f:
            conf = yaml.safe_load(f) or {}
        shutdown_timeout = int((conf.get("server") or {}).get("shutdown_timeout", 30))
    assert int(svc("TimeoutStopSec")) > shutdown_timeout
    with open(UNIT_SRC) as f:
        filters = [v for s, k, v in _directives(f.read()) if k == "SystemCallFilter"]
    assert "@system-service" in filters


def analyze_verify(unit_path, man_dir=None, prefix=(), options=()):
    """The lines `systemd-analyze verify UNIT_PATH` prints that are findings
    (not in HARMLESS_VERIFY_LINES), and all its lines; a non-zero exit is a
    finding too. MAN_DIR: a MANPATH where Documentation=man:presignd(8) is
    found (None: the system's, as on an installed system). PREFIX: a
    command that runs it elsewhere, e.g. chrooted into a root where the
    Debian package is installed (tests/deploy/test_deb.py). OPTIONS: more
    options of verify."""
    cmd = [*prefix, _analyze(), "verify", *options, str(unit_path)]
    env = dict(os.environ)
    if man_dir is not None:
        env["MANPATH"] = str(man_dir)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
    findings = [ln for ln in lines
                if not any(re.search(rx, ln) for rx, _why in HARMLESS_VERIFY_LINES)]
    if r.returncode != 0:
        findings.append(f"exit code {r.returncode}")
    return findings, lines


def security_exposure(unit_path, prefix=()):
    """The overall exposure `systemd-analyze security --offline=yes` gives
    UNIT_PATH, and its report. PREFIX as for analyze_verify."""
    r = subprocess.run([*prefix, _analyze(), "security", "--offline=yes", str(unit_path)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1)), r.stdout


def test_systemd_analyze_verify_is_clean(unit, tmp_path):
    man_dir, options = None, ()
    if os.path.exists(MAN_SRC):
        # Documentation=man:presignd(8) is checked too: let verify find the
        # page the way an installed system would.
        man8 = tmp_path / "man" / "man8"
        man8.mkdir(parents=True)
        shutil.copy(MAN_SRC, man8 / "presignd.8")
        man_dir = tmp_path / "man"
    else:
        options = ("--man=no",)
    findings, lines = analyze_verify(unit, man_dir=man_dir, options=options)
    assert not findings, "\n".join(lines)


def test_systemd_analyze_security_score(unit):
    score, report = security_exposure(unit)
    print(f"systemd-analyze security exposure: {score}")
    assert score <= MAX_EXPOSURE, report


def test_security_score_check_can_fail(tmp_path):
    """The parser above sees a real score: an unhardened unit scores high."""
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nExecStart=/bin/true\n")
    score, _report = security_exposure(bare)
    assert score > MAX_EXPOSURE
