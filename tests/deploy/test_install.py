"""`make install`, `make uninstall` and `make dist` lay out what an operator
(or the Terraform user-data) expects, and the man page renders cleanly.

Layout with PREFIX=/usr/local (SYSCONFDIR and UNITDIR do not follow PREFIX,
as on Debian):
    usr/local/sbin/presignd
    etc/presignd/presignd.yaml
    lib/systemd/system/presignd.service   (@BINDIR@/@SYSCONFDIR@ substituted)
    usr/local/share/man/man8/presignd.8
"""
import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAN_SRC = os.path.join(ROOT, "man", "presignd.8")

BIN = "usr/local/sbin/presignd"
CONF = "etc/presignd/presignd.yaml"
UNIT = "lib/systemd/system/presignd.service"
MAN = "usr/local/share/man/man8/presignd.8"
LAYOUT = {BIN: 0o755, CONF: 0o644, UNIT: 0o644, MAN: 0o644}


def make(*args, check=True):
    env = dict(os.environ)
    # Run as a top-level make, whatever make runs these tests.
    for k in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(k, None)
    r = subprocess.run(["make", "-s", "-C", ROOT, *args], capture_output=True, text=True,
                       env=env, timeout=600)
    if check and r.returncode != 0:
        pytest.fail(f"make {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def files_under(top):
    out = set()
    for d, _dirs, files in os.walk(top):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), top))
    return out


def check_layout(top):
    for rel, mode in LAYOUT.items():
        path = os.path.join(top, rel)
        assert os.path.isfile(path), f"missing {rel}"
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, f"{rel}: mode {oct(os.stat(path).st_mode)}"
    assert files_under(top) == set(LAYOUT), files_under(top) ^ set(LAYOUT)

    with open(os.path.join(top, UNIT)) as f:
        unit = f.read()
    assert not re.search(r"@[A-Z_]+@", unit), "unsubstituted placeholder"
    assert "ExecStart=/usr/local/sbin/presignd -c /etc/presignd/presignd.yaml\n" in unit
    assert "ExecStartPre=/usr/local/sbin/presignd -t -c /etc/presignd/presignd.yaml\n" in unit
    assert "ExecReload=/usr/local/sbin/presignd -R $MAINPID\n" in unit

    # The installed binary runs and accepts the installed example config.
    exe = os.path.join(top, BIN)
    v = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10)
    assert v.returncode == 0 and v.stdout.strip(), v
    conf = os.path.join(top, CONF)
    t = subprocess.run([exe, "-t", "-c", conf], capture_output=True, text=True, timeout=10)
    assert t.returncode == 0, t.stdout + t.stderr
    assert f"configuration file {conf} test is successful" in t.stdout + t.stderr
    with open(os.path.join(ROOT, "etc", "presignd.yaml")) as a, open(conf) as b:
        assert a.read() == b.read()


def test_install_and_uninstall(tmp_path):
    dest = tmp_path / "root"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    check_layout(str(dest))

    # A second install keeps an edited configuration and puts the new
    # example beside it.
    conf = dest / CONF
    conf.write_text(conf.read_text() + "# edited by the operator\n")
    make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    assert conf.read_text().endswith("# edited by the operator\n")
    assert (dest / (CONF + ".dist")).is_file()

    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local")
    for rel in (BIN, UNIT, MAN, CONF + ".dist"):
        assert not (dest / rel).exists(), f"{rel} left after uninstall"
    # The operator's configuration stays, like a Debian "remove" (not purge).
    assert conf.read_text().endswith("# edited by the operator\n")
    assert files_under(str(dest)) == {CONF}


def test_dist_tarball_has_the_install_layout(tmp_path):
    r = make("dist")
    tarballs = [ln.strip() for ln in r.stdout.splitlines() if ln.strip().endswith(".tar.gz")]
    assert tarballs, r.stdout
    tarball = os.path.join(ROOT, tarballs[-1])
    assert re.fullmatch(r"presignd-\d+\.\d+\.\d+\.tar\.gz", os.path.basename(tarball))
    with tarfile.open(tarball) as tf:
        for m in tf.getmembers():
            name = os.path.normpath(m.name)
            assert not name.startswith(("/", "..")), m.name
            assert m.isfile() or m.isdir(), f"{m.name}: not a plain file or directory"
        tf.extractall(tmp_path / "x")
    check_layout(str(tmp_path / "x"))


def _man_env():
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    return env


def test_man_page_renders_without_warnings():
    if not os.path.exists(MAN_SRC):
        pytest.fail("man/presignd.8 is missing (make install needs it)")
    if shutil.which("groff") is None:
        pytest.fail("groff not installed (apt-get install groff-base)")
    # -ww: all warnings; -z: format but print nothing but diagnostics.
    r = subprocess.run(["groff", "-man", "-t", "-Tutf8", "-ww", "-z", MAN_SRC],
                       capture_output=True, text=True, timeout=60, env=_man_env())
    assert r.returncode == 0 and r.stderr == "", r.stderr

    r = subprocess.run(["man", "--warnings", "-l", MAN_SRC], capture_output=True, text=True,
                       timeout=60, env=_man_env())
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr
    text = re.sub(r".\x08", "", r.stdout)
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "SIGNALS", "FILES"):
        assert re.search(rf"(?m)^{section}\b", text), f"no {section} section"
    for word in ("-c", "-t", "-V", "HUP", "TERM", "USR1", "/etc/presignd/presignd.yaml",
                 "shutdown_timeout", "allowed_types"):
        assert word in text, f"man page does not mention {word}"

    # whatis/apropos can index it (a proper NAME line: "presignd \- ...").
    if shutil.which("lexgrog"):
        g = subprocess.run(["lexgrog", MAN_SRC], capture_output=True, text=True, timeout=30)
        assert g.returncode == 0 and "presignd" in g.stdout, g.stdout + g.stderr
