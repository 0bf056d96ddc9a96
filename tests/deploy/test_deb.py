"""The Debian package `make deb` builds (debian/): it builds, lintian finds
no error, it holds the expected files and conffiles, depends on the shared
libraries through ${shlibs:Depends}, and it installs, upgrades, removes and
purges cleanly without ever starting the service on its own.

The package is built once per module (about 10 s). Installing happens in a
throwaway root (Sandbox below): the machine's own / seen through an overlay
whose writable layer is a tmpfs, in a private mount namespace, so dpkg runs
for real (its database, the dependency check against the libraries really
installed, the maintainer scripts) and whatever it does disappears with the
namespace: nothing on the host changes. `dpkg -x` into a directory alone
would never run the maintainer scripts, which decide whether the service is
enabled and started, and a `dpkg --root` into an empty directory has neither
the dependencies nor a shell for the scripts.

In the sandbox, systemctl is a stand-in that records its calls and makes
the maintainer scripts believe systemd runs (/run/systemd/system), so the
test sees what an install, an upgrade and a removal would ask of systemd.
"""
import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import harness
from test_unitfile import MAX_EXPOSURE, analyze_verify, security_exposure

ROOT = Path(__file__).resolve().parents[2]
UNIT_SRC = ROOT / "systemd" / "presignd.service"

# Every file of the package (directories aside) and its mode; all root:root.
FILES = {
    "etc/logrotate.d/presignd": 0o644,
    "etc/presignd/presignd.yaml": 0o644,
    "lib/systemd/system/presignd.service": 0o644,
    "usr/sbin/presignd": 0o755,
    "usr/share/doc/presignd/README.Debian": 0o644,
    "usr/share/doc/presignd/README.md.gz": 0o644,
    "usr/share/doc/presignd/changelog.Debian.gz": 0o644,
    "usr/share/doc/presignd/copyright": 0o644,
    "usr/share/man/man8/presignd.8.gz": 0o644,
}
CONFFILES = {"/etc/presignd/presignd.yaml", "/etc/logrotate.d/presignd"}

# The runtime libraries' packages (Debian 12 names; "t64" is the suffix the
# 64-bit time_t transition gave some of them in later releases).
LIBRARY_PACKAGES = ("libevent-2.1-7", "libcurl4", "libssl3", "libyaml-0-2", "libjson-c5",
                    "libuuid1", "libexpat1")

# lintian warnings the package is known to get, each with the reason it is
# accepted. Any other warning, and any error, fails the test.
KNOWN_LINTIAN_WARNINGS = {
    "initial-upload-closes-no-bugs":
        "presignd is not uploaded to Debian, so its first changelog entry has no "
        "ITP bug to close",
}

WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/presignd.service"


def upstream_version():
    m = re.search(r"^VERSION\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "no VERSION in the Makefile"
    return m.group(1)


def run(cmd, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def need(*tools):
    for t in tools:
        harness.require(shutil.which(t) is not None,
                        f"{t} is not installed (scripts/bootstrap deb)")


@functools.lru_cache(maxsize=None)
def build_deb():
    """`make deb`, once per test run (test_terraform.py installs the same
    package): {"deb", "changes", "version", "arch", "seconds"}."""
    need("dpkg-buildpackage", "dh", "lintian")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    start = time.monotonic()
    r = run(["make", "-s", "-C", str(ROOT), "deb"], env=env, timeout=600)
    seconds = time.monotonic() - start
    assert r.returncode == 0, f"make deb failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    version = upstream_version() + "-1"
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    path = ROOT / "build" / f"presignd_{version}_{arch}.deb"
    # make deb names what it made, the package among them.
    assert f"build/{path.name}" in r.stdout.split(), r.stdout
    assert path.is_file(), path
    print(f"make deb: {seconds:.1f} s")
    return {"deb": path, "changes": ROOT / "build" / f"presignd_{version}_{arch}.changes",
            "version": version, "arch": arch, "seconds": seconds}


@pytest.fixture(scope="module")
def deb():
    return build_deb()


def test_make_deb_builds_the_package(deb):
    fields = run(["dpkg-deb", "-f", str(deb["deb"]), "Package", "Version", "Architecture",
                  "Section", "Priority"]).stdout
    assert f"Package: presignd\nVersion: {deb['version']}\nArchitecture: {deb['arch']}\n" in fields
    assert re.search(r"^Section: (net|web)$", fields, re.M), fields
    assert "Priority: optional" in fields
    assert deb["changes"].is_file()
    # Well under a minute (a fresh compile, with DEB_BUILD_OPTIONS=parallel).
    assert deb["seconds"] < 60, deb["seconds"]


def test_lintian_reports_no_errors(deb):
    r = run(["lintian", "--display-level", ">=warning", str(deb["changes"])], timeout=300)
    tags = re.findall(r"^([EW]): \S+: (\S+)", r.stdout, re.M)
    print(r.stdout)
    errors = [t for level, t in tags if level == "E"]
    assert not errors, r.stdout
    unknown = [t for level, t in tags if level == "W" and t not in KNOWN_LINTIAN_WARNINGS]
    assert not unknown, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


def test_file_list(deb):
    listing = run(["dpkg-deb", "-c", str(deb["deb"])]).stdout
    files = {}
    for line in listing.splitlines():
        perms, owner, _size, _date, _time, name = line.split(None, 5)
        assert owner == "root/root", line
        assert name.startswith("./"), line
        if perms.startswith("d"):
            continue
        assert perms.startswith("-"), f"not a plain file: {line}"
        mode = sum(1 << (8 - i) for i, c in enumerate(perms[1:10]) if c != "-")
        files[name[2:]] = mode
    assert files == FILES, set(files) ^ set(FILES)


def test_conffiles(deb, tmp_path):
    control = tmp_path / "DEBIAN"
    r = run(["dpkg-deb", "-e", str(deb["deb"]), str(control)])
    assert r.returncode == 0, r.stderr
    assert set((control / "conffiles").read_text().split()) == CONFFILES


def test_depends_on_the_shared_libraries(deb):
    depends = run(["dpkg-deb", "-f", str(deb["deb"]), "Depends"]).stdout
    names = {re.match(r"\s*([a-z0-9][a-z0-9.+-]*)", alt).group(1)
             for dep in depends.split(",") for alt in dep.split("|")}
    for lib in LIBRARY_PACKAGES:
        assert lib in names or lib + "t64" in names, (lib, depends)
    # They come from ${shlibs:Depends}, not from a hand-written list.
    control = (ROOT / "debian" / "control").read_text()
    binary = control[control.index("\nPackage: presignd"):]
    m = re.search(r"^Depends:((?:\n .*)+|.*)$", binary, re.M)
    assert [d.strip() for d in m.group(1).split(",") if d.strip()] == \
        ["${shlibs:Depends}", "${misc:Depends}"], m.group(0)


def test_unpacked_package_runs(deb, tmp_path):
    """`dpkg -x` alone: the binary runs, accepts the shipped configuration,
    and the unit is the project's with the package's paths filled in."""
    top = tmp_path / "x"
    r = run(["dpkg-deb", "-x", str(deb["deb"]), str(top)])
    assert r.returncode == 0, r.stderr
    v = run([str(top / "usr/sbin/presignd"), "-V"])
    assert v.returncode == 0 and v.stdout.strip() == "presignd " + upstream_version(), v
    conf = top / "etc/presignd/presignd.yaml"
    t = run([str(top / "usr/sbin/presignd"), "-t", "-c", str(conf)])
    assert t.returncode == 0, t.stdout + t.stderr
    assert conf.read_text() == (ROOT / "etc" / "presignd.yaml").read_text()
    unit = (top / "lib/systemd/system/presignd.service").read_text()
    assert unit == UNIT_SRC.read_text().replace("@BINDIR@", "/usr/sbin") \
        .replace("@SYSCONFDIR@", "/etc")


# ---------------------------------------------------------------------------
# the throwaway root

SANDBOX_SETUP = r"""
root=$1 rw=$2
mount -t tmpfs -o mode=0755 presignd-test "$rw"
mkdir "$rw/upper" "$rw/work"
mount -t overlay presignd-test -o "lowerdir=/,upperdir=$rw/upper,workdir=$rw/work" "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
echo ready
exec sleep 3600
"""

# Runs inside the sandbox once, before any test step.
SANDBOX_PREPARE = r"""
set -e
# The host may have a policy-rc.d that forbids every start; the test wants
# to see what the maintainer scripts ask for, so none here.
rm -f /usr/sbin/policy-rc.d
# man-db's trigger would rebuild the whole index on each install.
rm -f /var/lib/man-db/auto-update
# What the maintainer scripts look at to know that systemd runs.
mkdir -p /run/systemd/system
mv /usr/bin/systemctl /usr/bin/systemctl.real
cat > /usr/bin/systemctl <<'EOF'
#!/bin/sh
# systemctl stand-in of tests/deploy/test_deb.py: records each call, lets
# the real one answer what it answers from the unit files and links alone
# (is-enabled, enable, preset, ...: --root=/ makes it read them instead of
# asking a systemd that is not there), reports every unit inactive and
# starts or stops nothing.
echo "$*" >> /var/log/systemctl-calls
for a in "$@"; do
    case "$a" in
    is-enabled|enable|disable|preset|mask|unmask) exec /usr/bin/systemctl.real --root=/ "$@" ;;
    is-active) exit 3 ;;
    esac
done
exit 0
EOF
chmod 0755 /usr/bin/systemctl
: > /var/log/systemctl-calls
"""


class Sandbox:
    """A root where dpkg may do anything: see the module docstring."""

    def __init__(self, base):
        self.root = base / "root"
        rw = base / "rw"
        self.root.mkdir()
        rw.mkdir()
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", SANDBOX_SETUP,
             "sandbox", str(self.root), str(rw)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait(10)
            harness.require(False, "cannot make a throwaway root (a private mount namespace "
                            "with an overlay of /, as root): " + self.proc.stderr.read().strip())
        r = self.sh(SANDBOX_PREPARE)
        assert r.returncode == 0, r.stderr

    def sh(self, script, check=False, shell="sh"):
        """Run SCRIPT with SHELL inside the sandbox (chrooted)."""
        r = run([*self.prefix, shell, "-c", script])
        if check:
            assert r.returncode == 0, f"{script}\n{r.stdout}\n{r.stderr}"
        return r

    @property
    def prefix(self):
        """A command prefix that runs a command inside the sandbox."""
        return ("nsenter", "--target", str(self.proc.pid), "--mount", "--", "chroot",
                str(self.root))

    def copy_in(self, src, dest):
        with open(src, "rb") as f:
            r = subprocess.run([*self.prefix, "sh", "-c", 'cat > "$1"', "copy", dest], stdin=f,
                               capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def systemctl_calls(self):
        """The calls since the last look, one string each."""
        r = self.sh("cat /var/log/systemctl-calls && : > /var/log/systemctl-calls", check=True)
        return [ln for ln in r.stdout.splitlines() if ln.strip()]

    def exists(self, path):
        return self.sh(f'test -e "{path}" || test -L "{path}"').returncode == 0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def sandbox(deb, tmp_path):
    harness.require(os.geteuid() == 0, "installing the package needs root")
    need("unshare", "nsenter", "chroot")
    box = Sandbox(tmp_path)
    try:
        box.copy_in(deb["deb"], "/tmp/presignd.deb")
        yield box
    finally:
        box.close()


def starts(calls):
    """The calls that would start or restart presignd."""
    return [c for c in calls if "presignd" in c and
            re.search(r"\b(start|restart|try-restart|reload-or-restart|enable --now)\b", c)]


def test_install_starts_nothing_and_runs(sandbox, deb):
    r = sandbox.sh("dpkg -i /tmp/presignd.deb")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sandbox.sh("dpkg-query -W -f '${Status} ${Version}' presignd").stdout == \
        f"install ok installed {deb['version']}"

    # Not enabled, not started: systemd was asked to reload its units and
    # whether presignd is enabled, nothing else about it.
    calls = sandbox.systemctl_calls()
    assert any("daemon-reload" in c for c in calls), calls
    assert not starts(calls), calls
    assert not sandbox.exists(WANTS_LINK)
    assert sandbox.sh("systemctl is-enabled presignd.service").stdout.strip() == "disabled"

    v = sandbox.sh("presignd -V")
    assert v.returncode == 0 and v.stdout.strip() == "presignd " + upstream_version(), v
    t = sandbox.sh("presignd -t -c /etc/presignd/presignd.yaml")
    assert t.returncode == 0, t.stdout + t.stderr
    assert set(sandbox.sh("dpkg-query -W -f '${Conffiles}' presignd").stdout.split()) >= CONFFILES
    assert sandbox.sh("man -w presignd").stdout.strip() == "/usr/share/man/man8/presignd.8.gz"

    # logrotate reads the file and would rotate /var/log/presignd/*.log.
    lr = sandbox.sh("mkdir -p /var/log/presignd && echo x > /var/log/presignd/error.log && "
                    "logrotate -d -f /etc/logrotate.d/presignd")
    assert lr.returncode == 0, lr.stdout + lr.stderr
    assert "/var/log/presignd/error.log" in lr.stdout + lr.stderr
    assert "error:" not in (lr.stdout + lr.stderr).lower(), lr.stdout + lr.stderr


def test_installed_unit_passes_systemd_analyze(sandbox):
    """The checks test_unitfile.py makes on systemd/presignd.service, on the
    unit as installed: verify finds /usr/sbin/presignd and presignd(8)."""
    sandbox.sh("dpkg -i /tmp/presignd.deb", check=True)
    unit = "/lib/systemd/system/presignd.service"
    findings, lines = analyze_verify(unit, prefix=sandbox.prefix)
    assert not findings, "\n".join(lines)
    score, report = security_exposure(unit, prefix=sandbox.prefix)
    print(f"systemd-analyze security exposure of the installed unit: {score}")
    assert score <= MAX_EXPOSURE, report


def test_upgrade_remove_purge(sandbox):
    sandbox.sh("dpkg -i /tmp/presignd.deb", check=True)
    sandbox.systemctl_calls()
    # The administrator configures and enables it, as README.Debian says.
    sandbox.sh("sed -i 's/my-company-uploads/acme-uploads/' /etc/presignd/presignd.yaml && "
               "systemctl enable presignd.service", check=True)
    assert sandbox.exists(WANTS_LINK)
    sandbox.systemctl_calls()

    # An upgrade (the same package again) keeps the edited conffile without
    # asking and restarts the enabled service.
    r = sandbox.sh("dpkg -i /tmp/presignd.deb")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "acme-uploads" in sandbox.sh("cat /etc/presignd/presignd.yaml").stdout
    calls = sandbox.systemctl_calls()
    assert any(re.search(r"\brestart presignd\.service", c) for c in calls), calls
    assert sandbox.exists(WANTS_LINK)

    # Remove: stopped, files gone, the configuration kept.
    r = sandbox.sh("dpkg -r presignd")
    assert r.returncode == 0, r.stdout + r.stderr
    calls = sandbox.systemctl_calls()
    assert any(re.search(r"\bstop presignd\.service", c) for c in calls), calls
    assert not sandbox.exists("/usr/sbin/presignd")
    assert not sandbox.exists("/lib/systemd/system/presignd.service")
    assert sandbox.exists("/etc/presignd/presignd.yaml")

    # Purge: the configuration and the enablement go too.
    r = sandbox.sh("dpkg -P presignd")
    assert r.returncode == 0, r.stdout + r.stderr
    for path in ("/etc/presignd", "/etc/logrotate.d/presignd", WANTS_LINK):
        assert not sandbox.exists(path), path
    assert sandbox.sh("dpkg-query -W -f '${Status}' presignd").stdout in ("", "unknown ok not-installed")
