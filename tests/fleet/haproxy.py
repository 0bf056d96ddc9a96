"""haproxy.py - the load balancer of `make fleet`: an HAProxy configuration
made from the ALB and target group in terraform/ec2.tf (scaled in time),
its runtime API (register, drain, deregister instances; read their state)
and its request log.

What is the ALB's, and what is not:
- health check: GET PATH, expect MATCHER, every INTERVAL, TIMEOUT, up after
  HEALTHY_THRESHOLD passes, down after UNHEALTHY_THRESHOLD failures; a
  newly registered instance gets no traffic until it passed
  HEALTHY_THRESHOLD checks (the ALB's "initial" state);
- deregistration: no new requests ("drain"), the delay, then the target is
  removed; round robin; idle timeout; /metrics answered 404 by the LB;
- NOT the ALB's: HAProxy retries a request on another instance when the
  connection fails, when the instance closes it without answering, and
  when it answers 503 (retry-on, option redispatch). presignd's API is
  safe to replay (signing, HEAD, list, an idempotent DELETE). To replay a
  request HAProxy must hold all of it, so it waits for the whole body
  before it picks an instance (http-buffer-request). An ALB
  retries none of these: the fleet counts every retried request (the
  request log's retry field) and prints it per scenario, so what an ALB
  would have passed to clients is on the page.
"""

import socket
import time


def _secs(x):
    """HAProxy time value for X seconds, in milliseconds."""
    return "%dms" % max(1, round(x * 1000))


LOG_FORMAT = "%Ts.%ms %b %s %ST %rc %tsc %Ta %HM %HU"


def render_config(tg, lb, hidden, scale, bind, sock, servers, backend="presignd"):
    """The haproxy.cfg text. TG: Deployment.target_group(); LB:
    Deployment.load_balancer(); HIDDEN: Deployment.hidden_paths();
    SERVERS: [(name, ip)]."""
    if not tg.get("enabled", True) or tg.get("protocol", "HTTP") != "HTTP":
        raise ValueError("target group health check is not enabled HTTP: %r" % tg)
    if not str(tg["matcher"]).isdigit():
        raise ValueError("matcher %r: only a single status is supported" % tg["matcher"])
    paths, status, ctype, body = hidden
    conds = []
    for p in paths:
        conds.append("{ path_beg %s }" % p[:-1] if p.endswith("*") else "{ path %s }" % p)
    if "'" in body:
        raise ValueError("fixed response body with a single quote")
    idle = _secs(lb["idle_timeout"] * scale)
    timeout = _secs(tg["timeout"] * scale)
    lines = [
        "# Written by scripts/fleet from terraform/ec2.tf; times scaled by %g." % scale,
        "global",
        "    stats socket %s mode 600 level admin" % sock,
        "    log stdout format raw local0",
        "",
        "defaults",
        "    mode http",
        "    log global",
        '    log-format "%s"' % LOG_FORMAT,
        "    option dontlognull",
        "    timeout connect %s" % timeout,
        "    timeout client %s" % idle,
        "    timeout server %s" % idle,
        "    timeout http-keep-alive %s" % idle,
        "    # Not the ALB's (see tests/fleet/haproxy.py): retries, counted.",
        "    option http-buffer-request",
        "    retries 2",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response 503",
        "",
        "frontend api",
        "    bind %s:80" % bind,
        "    http-request return status %s content-type %s string '%s' if %s"
        % (status, ctype, body, " || ".join(conds)),
        "    default_backend %s" % backend,
        "",
        "backend %s" % backend,
        "    balance roundrobin",
        "    option httpchk",
        "    http-check send meth GET uri %s ver HTTP/1.1 hdr Host fleet-lb" % tg["path"],
        "    http-check expect status %s" % tg["matcher"],
        "    timeout check %s" % timeout,
        "    default-server %s" % server_params(tg, scale),
    ]
    for name, ip in servers:
        lines.append("    server %s %s:%d" % (name, ip, tg["port"]))
    return "\n".join(lines) + "\n"


def server_params(tg, scale):
    return "check inter %s fall %d rise %d" % (
        _secs(tg["interval"] * scale), tg["unhealthy_threshold"], tg["healthy_threshold"])


class Runtime:
    """HAProxy's runtime API on its stats socket."""

    def __init__(self, sock, backend="presignd"):
        self.sock = sock
        self.backend = backend

    def cmd(self, line, timeout=5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        finally:
            s.close()
        return out.decode()

    def stats(self):
        """{server name: row} for the backend's servers (show stat CSV)."""
        text = self.cmd("show stat")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            raise RuntimeError("unexpected show stat answer: %r" % text[:200])
        head = lines[0][2:].split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("pxname") == self.backend and row.get("svname") not in (
                    "BACKEND", "FRONTEND", None):
                out[row["svname"]] = row
        return out

    def status(self, server):
        row = self.stats().get(server)
        return row["status"] if row else None

    def register(self, name, ip, port, params):
        """Add a server the way an ALB registers a target: it must pass
        the healthy threshold before it gets a request. HAProxy puts a
        server that leaves maintenance straight UP, so its health is
        forced down in the same command line, before any request can be
        balanced to it."""
        b = self.backend
        out = self.cmd("add server %s/%s %s:%d %s disabled" % (b, name, ip, port, params))
        if "New server registered" not in out:
            raise RuntimeError("add server %s: %s" % (name, out.strip()))
        out = self.cmd("enable health %s/%s; enable server %s/%s; set server %s/%s health down"
                       % (b, name, b, name, b, name))
        if out.strip():
            raise RuntimeError("enable %s: %s" % (name, out.strip()))

    def drain(self, name):
        out = self.cmd("set server %s/%s state drain" % (self.backend, name))
        if out.strip():
            raise RuntimeError("drain %s: %s" % (name, out.strip()))

    def maint(self, name):
        out = self.cmd("set server %s/%s state maint" % (self.backend, name))
        if out.strip():
            raise RuntimeError("maint %s: %s" % (name, out.strip()))

    def delete(self, name, timeout=10):
        """Remove a server in maintenance (HAProxy refuses while it still
        has connections: retried until TIMEOUT)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.cmd("del server %s/%s" % (self.backend, name))
            if "Server deleted" in out:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("del server %s: %s" % (name, out.strip()))
            time.sleep(0.1)


def parse_log(path):
    """The request log: dicts with t (accept time), backend, server,
    status, retries, redispatched, term (termination state), ta (ms),
    method, uri."""
    out = []
    try:
        f = open(path, errors="replace")
    except FileNotFoundError:
        return out
    with f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 8)
            if len(parts) != 9:
                continue
            try:
                t = float(parts[0])
                status = int(parts[3])
                rc = parts[4]
                retries = int(rc.lstrip("+"))
                ta = int(parts[6])
            except ValueError:
                continue
            out.append({"t": t, "backend": parts[1], "server": parts[2],
                        "status": status, "retries": retries,
                        "redispatched": rc.startswith("+"), "term": parts[5],
                        "ta": ta, "method": parts[7], "uri": parts[8]})
    return out
