"""faultproxy.py - an HTTP proxy that sits between presignd and the test S3
(Ceph RGW) and injects the faults of a real S3: error answers, reset
connections, answers that never come.

presignd signs its requests for the host it talks to: point s3.endpoint at
the proxy (.endpoint) and every request goes on to RGW byte for byte (the
Host header included, so RGW checks the signature presignd made), and every
answer comes back byte for byte. The proxy reads HTTP/1.1 framing only to
tell one request and one answer from the next on a kept-alive connection
(Content-Length, chunked, or the end of the connection); each client
connection gets its own connection to S3.

Each request the proxy receives is counted (in all, by S3 operation and by
what was done to it) and then, as drawn from the shares the test sets (and
can change at any time, for the requests that arrive next):

  error500    answered by the proxy: 500 with S3's InternalError document
  error503    answered by the proxy: 503 without a body (a front end's)
  slowdown    answered by the proxy: 503 with S3's SlowDown document
  reset       the connection is reset (SO_LINGER 0, then close), unanswered
  stall       never answered: the connection stays open and silent until the
              client gives up (or the proxy stops)
  stall_body  forwarded; the answer's head and half of its body go back,
              then nothing more (a body-less answer: its head without the
              blank line that ends it)
  delay       forwarded after .delay_s seconds (a slow S3)

An answer of the proxy's own keeps the connection alive, as S3's do. The
test may also queue faults for the next requests (fail_next), which go
before the shares. `only` (an S3 operation name, or several) restricts
faults to those operations; the others always go through.

Operations are named after S3's API from the method and the query, for
path-style requests (/bucket/key): HeadObject, HeadBucket, GetObject,
ListObjectsV2, ListParts, PutObject, UploadPart, DeleteObject,
CreateMultipartUpload, CompleteMultipartUpload, AbortMultipartUpload, ...

Only the standard library; one thread per connection.
"""

import collections
import random
import select
import socket
import struct
import threading
import time
import urllib.parse

FAULTS = ("error500", "error503", "slowdown", "reset", "stall", "stall_body", "delay")

_ERROR_DOC = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
              '<Message>%s</Message><RequestId>faultproxy-%d</RequestId></Error>')
_ERRORS = {
    "error500": (500, "Internal Server Error", "InternalError",
                 "We encountered an internal error. Please try again."),
    "error503": (503, "Service Unavailable", None, None),
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
}


def s3_operation(method, target):
    """The S3 operation of a path-style request METHOD TARGET."""
    path, _, query = target.partition("?")
    params = {urllib.parse.unquote(p.split("=", 1)[0]) for p in query.split("&") if p}
    on_object = len([s for s in path.split("/") if s]) >= 2
    if method == "HEAD":
        return "HeadObject" if on_object else "HeadBucket"
    if method == "GET":
        if "uploadId" in params:
            return "ListParts"
        if on_object:
            return "GetObject"
        if "list-type" in params:
            return "ListObjectsV2"
        return "ListMultipartUploads" if "uploads" in params else "ListObjects"
    if method == "PUT":
        if "partNumber" in params:
            return "UploadPart"
        return "PutObject" if on_object else "CreateBucket"
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload"
        if "uploadId" in params:
            return "CompleteMultipartUpload"
        return "DeleteObjects" if "delete" in params else "PostObject"
    if method == "DELETE":
        if "uploadId" in params:
            return "AbortMultipartUpload"
        return "DeleteObject" if on_object else "DeleteBucket"
    return method


class _Closed(Exception):
    """The peer closed the connection (or the proxy is stopping)."""


class _Reader:
    """Buffered reads off a socket; every byte read is kept in .raw until
    take() so that what was read can be passed on unchanged."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.raw = b""

    def _fill(self):
        try:
            b = self.sock.recv(65536)
        except OSError:
            b = b""
        if not b:
            raise _Closed()
        self.buf += b

    def _take_bytes(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        self.raw += out
        return out

    def until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise _Closed()
            self._fill()
        return self._take_bytes(self.buf.index(sep) + len(sep))

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        return self._take_bytes(n)

    def to_end(self):
        while True:
            try:
                self._fill()
            except _Closed:
                return self._take_bytes(len(self.buf))

    def take(self):
        out, self.raw = self.raw, b""
        return out

    def idle(self):
        return not self.buf


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), v.strip())
    return first, headers


def _read_body(reader, headers, to_end_ok):
    """Read a message body framed by HEADERS; returns True when it was
    delimited by the end of the connection."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.until(b"\r\n") != b"\r\n":     # trailers
                    pass
                return False
            reader.exactly(size + 2)
    n = headers.get("content-length")
    if n is not None:
        reader.exactly(int(n))
        return False
    if to_end_ok:
        reader.to_end()
        return True
    return False


class FaultProxy:
    """The proxy (see the module's docstring). start() returns it; stop()
    is idempotent and closes every connection."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1", seed=None):
        self.upstream = (upstream_host, upstream_port)
        self.port = None
        self.delay_s = 1.0
        self._rnd = random.Random(seed)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._shares = {}
        self._only = None
        self._queue = collections.deque()
        self._stopping = threading.Event()
        self._sock = None
        self._thread = None
        self._socks = set()
        self._threads = []
        self._ids = 0
        self.reset_counts()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    # ------------------------------------------------------------ control
    def set_faults(self, only=None, delay_s=None, **shares):
        """Shares (0..1, summing to at most 1) of the requests that get each
        fault from now on, e.g. set_faults(error500=0.1, reset=0.05); faults
        not named get none. ONLY: the operation name(s) they apply to.
        DELAY_S: seconds a "delay" holds a request."""
        unknown = set(shares) - set(FAULTS)
        if unknown:
            raise ValueError("unknown faults %s (known: %s)" % (sorted(unknown), FAULTS))
        if sum(shares.values()) > 1.0 + 1e-9 or any(v < 0 for v in shares.values()):
            raise ValueError("shares must be >= 0 and sum to at most 1: %r" % (shares,))
        with self._lock:
            self._shares = dict(shares)
            self._only = self._names(only)
            if delay_s is not None:
                self.delay_s = delay_s

    def clear_faults(self):
        """Everything goes through from now on (queued faults included)."""
        with self._lock:
            self._shares = {}
            self._only = None
            self._queue.clear()

    def fail_next(self, fault, n=1, only=None):
        """The next N requests (of the operations ONLY, when given) get
        FAULT, whatever the shares say."""
        if fault not in FAULTS:
            raise ValueError("unknown fault %r" % fault)
        with self._lock:
            for _ in range(n):
                self._queue.append((fault, self._names(only)))

    @staticmethod
    def _names(only):
        if only is None:
            return None
        return {only} if isinstance(only, str) else set(only)

    def _draw(self, op):
        with self._lock:
            for i, (fault, only) in enumerate(self._queue):
                if only is None or op in only:
                    del self._queue[i]
                    return fault
            if self._only is not None and op not in self._only:
                return None
            x = self._rnd.random()
            for fault in FAULTS:
                share = self._shares.get(fault, 0)
                if x < share:
                    return fault
                x -= share
            return None

    # ------------------------------------------------------------- counts
    def reset_counts(self):
        with self._lock:
            self._total = 0
            self._by_op = collections.Counter()
            self._by_fault = collections.Counter()
            self._log = []

    def _count(self, op, fault):
        with self._cond:
            self._total += 1
            self._by_op[op] += 1
            self._by_fault[fault or "forwarded"] += 1
            self._log.append((time.monotonic(), op, fault))
            self._cond.notify_all()

    def total(self):
        """Requests received since start (or reset_counts())."""
        with self._lock:
            return self._total

    def counts(self):
        """{"total": n, "by_op": {operation: n}, "by_fault": {fault or
        "forwarded": n}} since start (or reset_counts())."""
        with self._lock:
            return {"total": self._total, "by_op": dict(self._by_op),
                    "by_fault": dict(self._by_fault)}

    def log(self):
        """Every request received: (time.monotonic(), operation, fault)."""
        with self._lock:
            return list(self._log)

    def wait_requests(self, n, timeout=10):
        """Wait until N requests in all were received; returns the total."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._total < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the fault proxy received %d requests in %.1fs, "
                                         "expected %d" % (self._total, timeout, n))
                self._cond.wait(left)
            return self._total

    # ---------------------------------------------------------- lifecycle
    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name="faultproxy")
        self._thread.start()
        return self

    def stop(self):
        """Close the listening socket and every connection (idempotent)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(5)
        self._thread = None
        self._sock.close()
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)

    def _track(self, s):
        with self._lock:
            self._socks.add(s)

    def _untrack_close(self, s, reset=False):
        if s is None:
            return
        with self._lock:
            self._socks.discard(s)
        if reset:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._track(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True,
                                 name="faultproxy-conn")
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)
            t.start()

    # ------------------------------------------------------ a connection
    def _hold(self, client):
        """Keep CLIENT open and unanswered until it goes away or we stop."""
        while not self._stopping.is_set():
            try:
                r, _, _ = select.select([client], [], [], 0.1)
                if r and not client.recv(65536):
                    return
            except (OSError, ValueError):
                return

    def _error_answer(self, fault, method, close):
        status, reason, code, message = _ERRORS[fault]
        with self._lock:
            self._ids += 1
            rid = self._ids
        body = (_ERROR_DOC % (code, message, rid)).encode() if code else b""
        head = ["HTTP/1.1 %d %s" % (status, reason),
                "x-amz-request-id: faultproxy-%d" % rid,
                "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())]
        if body:
            head.append("Content-Type: application/xml")
        head.append("Content-Length: %d" % len(body))
        head.append("Connection: %s" % ("close" if close else "keep-alive"))
        return ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body)

    def _connect_upstream(self):
        u = socket.create_connection(self.upstream, timeout=60)
        u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(u)
        return u

    def _exchange(self, up, request, method):
        """Send REQUEST upstream and read one final answer; returns (head
        bytes, body bytes, close after it)."""
        up.sendall(request)
        reader = _Reader(up)
        while True:
            head = reader.until(b"\r\n\r\n")
            first, headers = _parse_head(head)
            status = int(first[1]) if len(first) > 1 and first[1].isdigit() else 0
            if 100 <= status < 200 and status != 101:
                continue            # an interim answer: passed on with the final one
            break
        head_len = len(reader.raw)
        if method == "HEAD" or status in (204, 304):
            to_end = False
        else:
            to_end = _read_body(reader, headers, to_end_ok=True)
        raw = reader.take()
        close = to_end or headers.get("connection", "").lower() == "close" or \
            first[0] == "HTTP/1.0"
        return raw[:head_len], raw[head_len:], close

    def _serve(self, client):
        up = None
        reader = _Reader(client)
        try:
            while not self._stopping.is_set():
                head = reader.until(b"\r\n\r\n")
                first, headers = _parse_head(head)
                if len(first) < 3:
                    return
                method, target = first[0], first[1]
                _read_body(reader, headers, to_end_ok=False)
                request = reader.take()
                client_close = headers.get("connection", "").lower() == "close"
                op = s3_operation(method, target)
                fault = self._draw(op)
                self._count(op, fault)
                if fault == "reset":
                    self._untrack_close(client, reset=True)
                    client = None
                    return
                if fault == "stall":
                    self._hold(client)
                    return
                if fault in _ERRORS:
                    client.sendall(self._error_answer(fault, method, client_close))
                    if client_close:
                        return
                    continue
                if fault == "delay" and self._stopping.wait(self.delay_s):
                    return
                # Forward. A kept-alive connection to S3 may have been closed
                # by S3 meanwhile: then once more on a new one.
                for tries in (1, 2):
                    if up is None:
                        up = self._connect_upstream()
                    try:
                        rhead, rbody, close = self._exchange(up, request, method)
                        break
                    except (_Closed, OSError):
                        self._untrack_close(up)
                        up = None
                        if tries == 2 or self._stopping.is_set():
                            raise _Closed()
                if fault == "stall_body":
                    if len(rbody) >= 2:
                        client.sendall(rhead + rbody[:len(rbody) // 2])
                    else:
                        client.sendall(rhead[:-2])
                    self._hold(client)
                    return
                client.sendall(rhead + rbody)
                if close or client_close:
                    return
        except (_Closed, OSError, ValueError):
            return
        finally:
            self._untrack_close(up)
            self._untrack_close(client)
