"""topology.py - the network and the processes of `make fleet`: network
namespaces joined by one bridge, and every process the fleet starts,
recorded by pid so that the teardown (or the next run, after a crash)
stops exactly those and nothing else.

The bridge lives in a namespace of its own ("hub"), so the host's network
is never touched: no interface, route or firewall rule is added outside the
namespaces, and deleting them removes every veth with them. Each node (the
S3 server, the load balancer, the clients, every instance) is a namespace
with lo and one veth (eth0) on the bridge, in one /24.
"""

import json
import os
import signal
import subprocess
import time

SUBNET = "10.231.0"     # the fleet's /24; exists only inside the namespaces


class CommandError(Exception):
    pass


def run(argv, check=True, timeout=60):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise CommandError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                               (r.stderr or r.stdout).strip()))
    return r


def proc_start_ticks(pid):
    """Start time of PID in clock ticks since boot (None when gone or a
    zombie): with the pid, it names one process for good."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def proc_children(pid):
    """Pids of the live children of PID."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(name))
    return sorted(out)


class Registry:
    """What this run created, kept in STATE_PATH as it changes: the
    namespaces, the processes (pid + start ticks), the S3 cluster's
    directory. A later run that finds the file of a run that is gone
    cleans up after it (cleanup_stale)."""

    def __init__(self, state_path):
        self.path = state_path
        self.state = {"owner": os.getpid(), "owner_start": proc_start_ticks(os.getpid()),
                      "namespaces": [], "procs": [], "s3dirs": []}
        self.popens = {}

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self.path)

    # -- processes ------------------------------------------------------
    def spawn(self, what, argv, ns=None, stdout=None, stderr=None, env=None,
              stdin=subprocess.DEVNULL, text=False):
        """Start ARGV (inside namespace NS) and record it. `ip netns exec`
        execs the command itself, so the pid is the program's own."""
        if ns:
            argv = ["ip", "netns", "exec", ns] + list(argv)
        p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                             env=env, close_fds=True, text=text)
        self.popens[p.pid] = p
        self.state["procs"].append({"what": what, "pid": p.pid,
                                    "start": proc_start_ticks(p.pid)})
        self.save()
        return p

    def forget(self, pid):
        self.state["procs"] = [x for x in self.state["procs"] if x["pid"] != pid]
        self.popens.pop(pid, None)
        self.save()

    def alive(self, pid):
        p = self.popens.get(pid)
        if p is not None and p.poll() is not None:
            return False
        return proc_start_ticks(pid) is not None

    def wait(self, pid, timeout):
        """Wait for PID to exit; its exit status, or None on timeout."""
        p = self.popens.get(pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p is not None:
                rc = p.poll()
                if rc is not None:
                    return rc
            elif proc_start_ticks(pid) is None:
                return 0
            time.sleep(0.02)
        return None

    def send(self, pid, sig):
        """Send SIG to PID if it still is the process we started."""
        rec = next((x for x in self.state["procs"] if x["pid"] == pid), None)
        if rec is None or proc_start_ticks(pid) != rec["start"]:
            return False
        try:
            os.kill(pid, sig)
            return True
        except ProcessLookupError:
            return False

    def stop(self, pid, timeout=10.0, sig=signal.SIGTERM):
        """SIG, wait, then KILL; forget PID."""
        if self.alive(pid):
            self.send(pid, sig)
            if self.wait(pid, timeout) is None:
                self.send(pid, signal.SIGKILL)
                self.wait(pid, 5)
        self.forget(pid)

    def stop_all(self):
        for rec in reversed(list(self.state["procs"])):
            self.stop(rec["pid"], timeout=5)

    # -- namespaces -------------------------------------------------------
    def add_namespace(self, ns):
        self.state["namespaces"].append(ns)
        self.save()

    def remove_namespace(self, ns):
        if ns in self.state["namespaces"]:
            self.state["namespaces"].remove(ns)
            self.save()

    def add_s3dir(self, d):
        self.state["s3dirs"].append(d)
        self.save()


def existing_namespaces():
    r = run(["ip", "netns", "list"], check=False)
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def delete_namespace(ns):
    if ns in existing_namespaces():
        run(["ip", "netns", "del", ns], check=False)


def cleanup_stale(state_path, s3_local, log):
    """If STATE_PATH is left by a run that is gone, stop what it started
    (pids whose start ticks still match, its S3 cluster) and delete its
    namespaces. Returns False when that run is still going."""
    try:
        with open(state_path) as f:
            st = json.load(f)
    except (OSError, ValueError):
        return True
    if proc_start_ticks(st.get("owner", 0)) == st.get("owner_start") and \
            st.get("owner") != os.getpid():
        return False
    log("cleaning up after an earlier run that did not finish (pid %s)" % st.get("owner"))
    for rec in st.get("procs", []):
        if proc_start_ticks(rec["pid"]) == rec["start"]:
            for child in proc_children(rec["pid"]):
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.kill(rec["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
    for d in st.get("s3dirs", []):
        if os.path.exists(os.path.join(d, "state.json")):
            run(["/usr/bin/python3", s3_local, "stop", d], check=False, timeout=120)
    for ns in st.get("namespaces", []):
        delete_namespace(ns)
    os.unlink(state_path)
    return True


class Network:
    """The hub namespace with its bridge, and one namespace per node."""

    def __init__(self, registry, prefix):
        self.reg = registry
        self.prefix = prefix
        self.hub = prefix + "-hub"
        self.nodes = {}

    def ns(self, name):
        return "%s-%s" % (self.prefix, name)

    def create(self):
        self._add_ns(self.hub)
        run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.hub, "link", "set", "br0", "up"])

    def _add_ns(self, ns):
        run(["ip", "netns", "add", ns])
        self.reg.add_namespace(ns)
        run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_node(self, name, host):
        """Namespace NAME with eth0 = SUBNET.HOST/24 on the bridge."""
        ns = self.ns(name)
        self._add_ns(ns)
        veth = "v-" + name            # hub side; at most 15 characters
        run(["ip", "-n", self.hub, "link", "add", veth, "type", "veth",
             "peer", "name", "eth0", "netns", ns])
        run(["ip", "-n", self.hub, "link", "set", veth, "master", "br0", "up"])
        ip = "%s.%d" % (SUBNET, host)
        run(["ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        self.nodes[name] = (ns, ip)
        return ns, ip

    def remove_node(self, name):
        """Delete the node's namespace (its veth goes with it). Its
        processes must have been stopped."""
        ns, _ = self.nodes.pop(name)
        delete_namespace(ns)
        self.reg.remove_namespace(ns)

    def destroy(self):
        for name in list(self.nodes):
            self.remove_node(name)
        delete_namespace(self.hub)
        self.reg.remove_namespace(self.hub)
