"""Every make goal works as the first command on a fresh machine.

On a machine where scripts/bootstrap has not run yet, the -dev packages
are missing, so pkg-config knows none of the libraries. A Makefile that
asks pkg-config when make starts builds with no include paths and fails
(`fatal error: json.h: No such file or directory`) before the bootstrap it
was about to run could install them.

This simulates that machine in a copy of the source tree: a pkg-config that
knows nothing, a dpkg-query that finds nothing, and an apt-get that records
what it is asked to install and from then on lets the real pkg-config and
dpkg-query answer (the real packages are on this machine, so "installing"
them is only the switch). Each goal runs first in a fresh copy.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

import harness

ROOT = Path(__file__).resolve().parents[2]

FAKES = {
    "pkg-config": """#!/bin/sh
# The .pc files come with the -dev packages, which are not installed yet.
[ -e "$FRESH_STATE/installed" ] && exec /usr/bin/pkg-config "$@"
echo "pkg-config: called before bootstrap: $*" >> "$FRESH_STATE/early-pkg-config.log"
echo "Package libevent was not found in the pkg-config search path." >&2
exit 1
""",
    "dpkg-query": """#!/bin/sh
[ -e "$FRESH_STATE/installed" ] && exec /usr/bin/dpkg-query "$@"
echo "dpkg-query: no packages found matching $*" >&2
exit 1
""",
    "apt-get": """#!/bin/sh
echo "$*" >> "$FRESH_STATE/apt-get.log"
[ "$1" = install ] && touch "$FRESH_STATE/installed"
exit 0
""",
}


def _tree_files():
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], capture_output=True, check=True).stdout
    return [f for f in out.decode().split("\0")
            if f and not f.startswith(("build/", "tests/node_modules/"))]


@pytest.fixture
def fresh(tmp_path):
    """A copy of the source tree and an environment that looks like a
    machine where nothing was installed yet."""
    # .git is a file in a linked worktree (git worktree add), a directory otherwise.
    harness.require(os.path.exists(ROOT / ".git"), "not a git checkout")
    src = tmp_path / "src"
    for rel in _tree_files():
        p = ROOT / rel
        if not p.is_file():
            continue        # deleted in the working tree
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(p.read_bytes())
        dst.chmod(p.stat().st_mode & 0o777)
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name, text in FAKES.items():
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PRESIGND_BIN",
                        "PRESIGND_ASAN_BIN", "PRESIGND_TOOLS", "BUILD")}
    env["PATH"] = "%s:%s" % (fake, env.get("PATH", "/usr/bin:/bin"))
    env["FRESH_STATE"] = str(state)

    class Fresh:
        pass
    f = Fresh()
    f.src, f.state, f.env = src, state, env
    return f


def _make(f, *args, timeout=300):
    r = subprocess.run(["make", "-C", str(f.src), *args], env=f.env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "make %s failed as the first command:\n%s\n%s" % (
        " ".join(args), r.stdout[-3000:], r.stderr[-3000:])
    return r


def _installed_first(f):
    """apt-get installed the build packages, and pkg-config was not asked
    anything before that."""
    log = (f.state / "apt-get.log").read_text()
    assert "install" in log and "libjson-c-dev" in log and "libevent-dev" in log, log
    early = f.state / "early-pkg-config.log"
    assert not early.exists(), "pkg-config ran before bootstrap:\n" + early.read_text()


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_simulated_machine_is_fresh(fresh):
    """The fakes do what they claim: before bootstrap, pkg-config fails."""
    r = subprocess.run(["pkg-config", "--cflags", "json-c"], env=fresh.env,
                       capture_output=True, text=True)
    assert r.returncode != 0
    (fresh.state / "early-pkg-config.log").unlink()
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libjson-c-dev"], env=fresh.env,
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_make(fresh):
    _make(fresh, "-j2")
    _installed_first(fresh)
    v = subprocess.run([str(fresh.src / "build" / "presignd"), "-V"], capture_output=True,
                       text=True, check=True)
    assert v.stdout.startswith("presignd ")


def test_make_install(fresh, tmp_path):
    dest = tmp_path / "dest"
    _make(fresh, "install", "DESTDIR=%s" % dest, "PREFIX=/usr/local")
    _installed_first(fresh)
    assert (dest / "usr/local/sbin/presignd").is_file()


def test_make_dist(fresh):
    _make(fresh, "dist")
    _installed_first(fresh)
    assert list((fresh.src / "build").glob("presignd-*.tar.gz"))


def test_make_deb(fresh):
    """make deb installs the packaging tools (its bootstrap group) with the
    build packages before anything asks pkg-config, then builds the .deb
    (with PRESIGND_BOOTSTRAP=no inside: the build installs nothing itself)."""
    r = _make(fresh, "deb")
    _installed_first(fresh)
    log = (fresh.state / "apt-get.log").read_text()
    assert "debhelper" in log and "lintian" in log, log
    installs = [ln for ln in log.splitlines() if ln.startswith("install")]
    assert len(installs) == 1, "the package build ran apt-get again:\n" + log
    assert "bootstrap (deb)" in r.stdout
    assert "bootstrap (build)" not in r.stdout + r.stderr, "the package build ran the bootstrap"
    assert any(ln.startswith("build/presignd_") and ln.endswith(".deb") for ln in r.stdout.split())


def test_make_fuzz(fresh):
    _make(fresh, "fuzz", "FUZZ_SECONDS=1", "FUZZ_TARGETS=fuzz_keys", timeout=600)
    _installed_first(fresh)


def test_make_bench(fresh):
    r = _make(fresh, "bench", "BENCH_ARGS=--duration 1 --warmup 1 --rounds 1", timeout=600)
    _installed_first(fresh)
    assert "upload-url" in r.stdout


def test_make_run(fresh, tmp_path):
    """`make run` as the first command: builds, starts the local S3 and
    presignd, which answers /health; Ctrl-C stops all of it."""
    api, s3, pages = harness.free_port(), harness.free_port(), harness.free_port()
    cfg = yaml.safe_load((ROOT / "etc" / "presignd.dev.yaml").read_text())
    cfg["server"]["listen"] = "127.0.0.1:%d" % api
    cfg["s3"]["endpoint"] = "http://127.0.0.1:%d" % s3
    conf = tmp_path / "run.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    env = dict(fresh.env, RUN_CONFIG=str(conf), RUN_PAGES_PORT=str(pages))
    log = open(tmp_path / "make-run.log", "wb")
    proc = subprocess.Popen(["make", "-C", str(fresh.src), "run"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        def healthy():
            assert proc.poll() is None, "make run exited:\n" + \
                (tmp_path / "make-run.log").read_text()[-3000:]
            try:
                return requests.get("http://127.0.0.1:%d/health" % api, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        harness.wait_for(healthy, 180, interval=0.5, what="presignd of make run to be healthy")
        _installed_first(fresh)
        # The example pages are served beside it (by a process of their own).
        harness.wait_for(lambda: _answers("http://127.0.0.1:%d/" % pages), 30,
                         what="the example pages of make run")
        # The Uppy page, and the bundle it loads (installed by the bootstrap).
        for path in ("uppy.html", "node_modules/uppy/dist/uppy.min.js"):
            assert _answers("http://127.0.0.1:%d/%s" % (pages, path)), path
    finally:
        # Ctrl-C in the terminal: the whole foreground process group.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    # run-local stopped the S3 cluster it started: nothing listens any more.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get("http://127.0.0.1:%d/" % s3, timeout=1)
        except requests.RequestException:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the local S3 of make run still answers after Ctrl-C")
