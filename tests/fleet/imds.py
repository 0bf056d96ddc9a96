#!/usr/bin/python3
"""imds.py - the fake EC2 instance metadata service of one simulated
instance of `make fleet`. scripts/fleet starts one inside each instance's
network namespace, listening on 169.254.169.254:80, so that presignd finds
it at its default s3.imds_endpoint.

    imds.py --control FILE --log FILE [--listen 169.254.169.254] [--port 80]

It speaks IMDSv2 as EC2 does: PUT /latest/api/token with
X-aws-ec2-metadata-token-ttl-seconds (1..21600) gives a session token (a
PUT carrying X-Forwarded-For is refused, as EC2 refuses tokens for
proxied requests); every GET needs a live token (else 401);
/latest/meta-data/iam/security-credentials/ names the role and
.../ROLE answers the credentials document (Code, LastUpdated, Type,
AccessKeyId, SecretAccessKey, Token, Expiration). Token is empty: the
keys are a Ceph RGW user's, and RGW has no STS to check a session token.

Which keys and which Expiration: CONTROL (JSON, rewritten by scripts/fleet
whenever it rotates the role's keys; read again when it changes) holds the
role, a list of key sets each valid from a unix time, and a schedule of
rotation slots (origin, period). Why slots: presignd refreshes IMDS
credentials on a timer only (common/creds.c creds_refresh_at: never
before half of the remaining lifetime, and it stops signing 60 s before
Expiration), and does not react to S3 refusing its keys. On EC2 that is
enough because new keys appear at least 5 minutes before the old ones
expire. Here the old keys are removed from RGW seconds after a rotation,
so every presignd worker must come back to IMDS right after the rotation
instant. The stub does what EC2 does in slow motion: each document's
Expiration is set so that presignd's own rule brings the worker back just
after the next slot (Expiration = 2 * (slot + lag) - now: half of the
remaining lifetime ends at slot + lag), at least MIN_LEAD seconds away so
that presignd can sign all along. A rotation is announced for a slot; a
fetch whose next return would be after that slot already gets the new keys
(they exist in RGW from the announcement on).

Every credentials fetch is logged to LOG (JSON lines: time, client, key,
expiration, the slot the worker will come back at) for scripts/fleet.
"""

import argparse
import datetime
import http.server
import json
import math
import os
import secrets
import sys
import threading
import time

TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
CREDS_PATH = "/latest/meta-data/iam/security-credentials/"


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Control:
    """CONTROL, read again whenever its modification time changes."""

    def __init__(self, path):
        self.path = path
        self._mtime = None
        self._doc = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            st = os.stat(self.path)
            if st.st_mtime_ns != self._mtime:
                with open(self.path) as f:
                    self._doc = json.load(f)
                self._mtime = st.st_mtime_ns
            return self._doc


def credentials(doc, now):
    """The key set and Expiration served to a fetch at NOW, and the slot
    the worker will come back at."""
    origin, period = doc["slot_origin"], doc["slot_period"]
    lag, lead = doc["slot_lag"], doc["min_lead"]
    # The first slot whose (slot + lag) is at least LEAD seconds away.
    k = max(0, math.ceil((now + lead - lag - origin) / period))
    slot = origin + k * period
    back = slot + lag
    # presignd refreshes at now + (Expiration - now) / 2 for lifetimes
    # under 10 minutes; the ceil keeps it at or just after BACK.
    expiration = math.ceil(2 * back - now)
    # The newest key set valid before that return.
    keys = [ks for ks in doc["keys"] if ks["from"] < slot]
    if not keys:
        raise RuntimeError("no key set valid before %s" % iso(slot))
    ks = max(keys, key=lambda x: x["from"])
    return ks, expiration, slot


def make_handler(control, logf, loglock, tokens):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "EC2ws"
        sys_version = ""

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body=b"", ctype="text/plain"):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if self.path != "/latest/api/token":
                return self.reply(404)
            if self.headers.get("X-Forwarded-For"):
                return self.reply(403)
            try:
                ttl = int(self.headers.get(TOKEN_TTL_HEADER, ""))
            except ValueError:
                return self.reply(400)
            if not 1 <= ttl <= 21600:
                return self.reply(400)
            tok = secrets.token_urlsafe(32)
            tokens[tok] = time.monotonic() + ttl
            self.reply(200, tok)

        def do_GET(self):
            tok = self.headers.get(TOKEN_HEADER)
            if not tok or tokens.get(tok, 0) < time.monotonic():
                return self.reply(401)
            doc = control.get()
            role = doc["role"]
            if self.path == CREDS_PATH:
                return self.reply(200, role)
            if self.path != CREDS_PATH + role:
                return self.reply(404)
            now = time.time()
            ks, expiration, slot = credentials(doc, now)
            body = json.dumps({
                "Code": "Success",
                "LastUpdated": iso(ks["from"] if ks["from"] > 0 else doc["slot_origin"]),
                "Type": "AWS-HMAC",
                "AccessKeyId": ks["id"],
                "SecretAccessKey": ks["secret"],
                "Token": "",
                "Expiration": iso(expiration),
            }, indent=2)
            self.reply(200, body, "text/plain")
            with loglock:
                logf.write(json.dumps({"t": now, "client": self.client_address[1],
                                       "key": ks["id"], "expiration": expiration,
                                       "slot": slot}) + "\n")
                logf.flush()

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--listen", default="169.254.169.254")
    ap.add_argument("--port", type=int, default=80)
    args = ap.parse_args()

    control = Control(args.control)
    control.get()
    logf = open(args.log, "a")
    srv = http.server.ThreadingHTTPServer(
        (args.listen, args.port),
        make_handler(control, logf, threading.Lock(), {}))
    srv.daemon_threads = True
    print("ready", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.exit(main())
