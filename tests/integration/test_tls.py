"""test_tls.py - HTTPS termination (server.tls) against the signature-verifying
S3 (Ceph RGW).

A throwaway PKI made with the `openssl` command (a root CA, an intermediate
CA, two server certificates for IP:127.0.0.1 with different serials, issued
by the intermediate and configured as full chains, and an unrelated key);
clients trust the root only, so a server that sent its leaf without the
chain would fail every test.

  - the API over HTTPS (requests, verify=the root): GET /, /health, an upload
    URL, the PUT to RGW (plain HTTP), a download URL, the bytes back; plain
    HTTP keeps serving on server.listen beside it;
  - what is refused: plain HTTP on the TLS port, TLS 1.0 and 1.1 (after
    checking that this machine's OpenSSL can speak them at all), TLS 1.2 when
    min_version is "1.3", a client offering only h2; ALPN picks http/1.1;
  - `presignd -t`: a missing certificate or key, a key of another
    certificate, a bad min_version, an address in both server.listen and
    server.tls.listen, each as FILE:LINE:COL at the right line;
  - the certificate replaced under load: clients opening a new TLS
    connection per request (each handshake shows the certificate's serial)
    while the files are replaced and a reload is sent: no request fails, the
    old serial until the reload, the new one after it;
  - a reload with a mismatched key is rejected and the old certificate
    served on;
  - session resumption: within a generation a ticket resumes (TLS 1.2 and
    1.3, on any worker); after a reload it does not (new ticket keys), after a
    rejected reload it still does;
  - server.header_timeout also bounds a TLS handshake: a connection that
    sends nothing, or trickles its ClientHello, or completes the handshake
    and sends no request, is closed within header_timeout + 1 s;
  - the same flows once against the AddressSanitizer build.
"""

import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
import warnings

import pytest
import requests
import yaml

import harness
from harness import RawResponse, free_port, raw_request, send_raw, wait_closed, wait_for

HEADER_TIMEOUT = 2          # seconds, for the handshake deadline test
SLACK = 1.0                 # what "closed within header_timeout" may take beyond it
UPLOAD = json.dumps({"filename": "tls.pdf", "size": 1024})


# ------------------------------------------------------------------ PKI

def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "openssl %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr)
    return r.stdout


class Pki:
    """Root CA -> intermediate CA -> two server certificates for 127.0.0.1
    (P-256 keys, as certbot makes by default). .chain[n] is server n's full
    chain (leaf then intermediate), .key[n] its key, .serial[n] its serial
    as upper-case hex (how Python's getpeercert() and presignd's log show
    it); .other_key belongs to no certificate."""

    def __init__(self, d):
        self.dir = str(d)
        self.ca = os.path.join(self.dir, "root.pem")
        self.chain, self.key, self.serial = {}, {}, {}
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        with open(os.path.join(self.dir, "ca.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        with open(os.path.join(self.dir, "server.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        openssl("req", "-x509", *ec, "-keyout", "root.key", "-out", "root.pem", "-days", "2",
                "-subj", "/CN=presignd test root", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        openssl("req", "-new", *ec, "-keyout", "inter.key", "-out", "inter.csr",
                "-subj", "/CN=presignd test intermediate", cwd=self.dir)
        openssl("x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key",
                "-set_serial", "0x" + self._new_serial(), "-days", "2", "-extfile", "ca.ext",
                "-out", "inter.pem", cwd=self.dir)
        for n in (1, 2):
            serial = self._new_serial()
            while serial in self.serial.values():
                serial = self._new_serial()
            openssl("req", "-new", *ec, "-keyout", "server%d.key" % n, "-out",
                    "server%d.csr" % n, "-subj", "/CN=127.0.0.1", cwd=self.dir)
            openssl("x509", "-req", "-in", "server%d.csr" % n, "-CA", "inter.pem",
                    "-CAkey", "inter.key", "-set_serial", "0x" + serial, "-days", "2",
                    "-extfile", "server.ext", "-out", "server%d.pem" % n, cwd=self.dir)
            chain = os.path.join(self.dir, "fullchain%d.pem" % n)
            with open(chain, "w") as out:
                for part in ("server%d.pem" % n, "inter.pem"):
                    with open(os.path.join(self.dir, part)) as f:
                        out.write(f.read())
            self.chain[n] = chain
            self.key[n] = os.path.join(self.dir, "server%d.key" % n)
            self.serial[n] = serial
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-out", "other.key", cwd=self.dir)
        self.other_key = os.path.join(self.dir, "other.key")

    @staticmethod
    def _new_serial():
        # 64 bits, top nibble 1..7: positive, 16 hex digits, no leading zero.
        return "%X" % (secrets.randbits(60) | (secrets.choice(range(1, 8)) << 60))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    harness.require(shutil.which("openssl") is not None,
                    "the openssl command is not installed (apt-get install openssl)")
    return Pki(tmp_path_factory.mktemp("pki"))


# -------------------------------------------------------------- daemons

class Tls:
    """One daemon with HTTPS on .port; its certificate and key are copies at
    .cert/.key (in the test's directory), so that a test can replace them."""

    def __init__(self, d, port, cert, key):
        self.d = d
        self.port = port
        self.cert = cert
        self.key = key
        self.url = "https://127.0.0.1:%d" % port

    def install(self, chain, key):
        """Replace the certificate and key files (each atomically)."""
        for src, dst in ((chain, self.cert), (key, self.key)):
            tmp = dst + ".new"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)


def tls_section(port, cert, key, min_version=None):
    t = {"listen": "127.0.0.1:%d" % port, "certificate": cert, "key": key}
    if min_version:
        t["min_version"] = min_version
    return t


def start_tls(factory, pki, tmp_path, n=1, min_version=None, overrides=None, workers=2):
    """A daemon (made by FACTORY, the presignd or presignd_asan fixture)
    serving HTTPS with server N's chain and key, plain HTTP beside it."""
    d_dir = tmp_path / ("tls-%s" % uuid.uuid4().hex[:6])
    d_dir.mkdir()
    cert, key = str(d_dir / "fullchain.pem"), str(d_dir / "privkey.pem")
    shutil.copyfile(pki.chain[n], cert)
    shutil.copyfile(pki.key[n], key)
    os.chmod(key, 0o600)
    port = free_port()
    o = harness.deep_merge({"server": {"tls": tls_section(port, cert, key, min_version)}},
                           overrides)
    d = factory(o, workers=workers)
    return Tls(d, port, cert, key)


# -------------------------------------------------------------- clients

def client_ctx(pki, maximum=None, minimum=None, alpn=None):
    """A client trusting the test root only. It takes an end of the
    connection without close_notify as the end (Debian's Python does so by
    default; presignd sends none, see test_connection_close_ends_with_close_notify)."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    if maximum:
        ctx.maximum_version = maximum
    if minimum:
        ctx.minimum_version = minimum
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def old_client_ctx(pki, version):
    """A client that speaks only VERSION (TLS 1.0 or 1.1): OpenSSL 3 needs
    security level 0 for their SHA-1 signatures."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version
        ctx.maximum_version = version
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class Answer:
    """One request on a new TLS connection: the response and the session."""

    def __init__(self, raw, sock):
        self.response = raw
        self.status = raw.status
        self.version = sock.version()
        self.cipher = sock.cipher()[0]
        self.reused = sock.session_reused
        self.alpn = sock.selected_alpn_protocol()
        self.serial = sock.getpeercert()["serialNumber"]
        self.session = sock.session

    def __repr__(self):
        return "<HTTP %s %s %s serial %s reused=%s>" % (self.status, self.version, self.cipher,
                                                        self.serial, self.reused)


def tls_connect(port, ctx, session=None, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(s, server_hostname="127.0.0.1", session=session)
    except BaseException:
        s.close()
        raise


def https(port, ctx, method="GET", path="/health", body=None, session=None, timeout=10):
    """METHOD PATH on a new TLS connection (Connection: close), read to the
    end; an Answer."""
    headers = ["Content-Type: application/json"] if body is not None else []
    with tls_connect(port, ctx, session, timeout) as s:
        s.sendall(raw_request(method, path, headers, body))
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        # The session (with the ticket a TLS 1.3 server sends after the
        # handshake) is complete once data has been read.
        return Answer(RawResponse(data, closed=True), s)


def handshake_fails(port, ctx):
    """The ssl.SSLError (or connection error) a handshake with CTX ends in,
    or None when it succeeds."""
    try:
        with tls_connect(port, ctx, timeout=5):
            return None
    except (ssl.SSLError, ConnectionError) as e:
        return e


def client_hello(pki):
    """The bytes of a TLS ClientHello, as a real client would send them."""
    ctx = client_ctx(pki)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def check_t(binary, cfg_path):
    r = subprocess.run([binary, "-t", "-c", cfg_path], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, (r.stdout + r.stderr).strip().splitlines()


def line_of(path, needle, after=None):
    """1-based number of the first line of PATH containing NEEDLE (after
    the first line containing AFTER, when given)."""
    with open(path) as f:
        lines = f.read().splitlines()
    start = 0
    if after is not None:
        start = next(i for i, ln in enumerate(lines) if after in ln) + 1
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


# ---------------------------------------------------- the API over HTTPS

def api_flow(t, s3, pki, name="tls"):
    """GET /, /health and an upload and a download through presigned URLs,
    the API calls over HTTPS."""
    base = t.url
    r = requests.get(base + "/", verify=pki.ca, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["service"] == "presignd"
    r = requests.get(base + "/health", verify=pki.ca, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "healthy"

    data = os.urandom(3000) + ("%s\n" % name).encode()
    # One session: the API calls go over one kept-alive connection. (verify
    # per request: requests lets REQUESTS_CA_BUNDLE override Session.verify.)
    with requests.Session() as api:
        r = api.post(base + "/upload-url", json={"filename": name + ".bin", "size": len(data)},
                     verify=pki.ca, timeout=10)
        assert r.status_code == 200, r.text
        up = r.json()
        # S3 is RGW on plain HTTP: the URL points there, not at presignd.
        assert up["presigned_url"].startswith(s3.endpoint + "/"), up["presigned_url"]
        r = requests.put(up["presigned_url"], data=data, headers=up["headers"], timeout=30)
        assert r.status_code == 200, r.text
        r = api.post(base + "/download-url", json={"file_key": up["file_key"]},
                     verify=pki.ca, timeout=10)
        assert r.status_code == 200, r.text
        down = r.json()
        assert down["size"] == len(data)
    r = requests.get(down["presigned_url"], timeout=30)
    assert r.status_code == 200
    assert r.content == data


def test_api_over_https_with_plain_http_beside_it(presignd, s3, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path)
    api_flow(t, s3, pki)
    # What the handshake shows: the chain (the client trusts only the
    # root), TLS 1.3 by default, http/1.1 by ALPN.
    a = https(t.port, client_ctx(pki, alpn=["h2", "http/1.1"]))
    assert a.status == 200
    assert a.serial == pki.serial[1]
    assert a.version == "TLSv1.3"
    assert a.alpn == "http/1.1"
    # server.listen serves plain HTTP on as before.
    assert t.d.url.startswith("http://")
    r = t.d.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "healthy"
    r = t.d.post("/upload-url", json={"filename": "plain.pdf", "size": 10})
    assert r.status_code == 200, r.text
    # The master says which certificate the generation serves.
    assert re.search(r"HTTPS with %s \(serial %s\), TLS 1\.2 and up" %
                     (re.escape(t.cert), pki.serial[1]), t.d.log()), t.d.log()
    assert re.search(r"listening on 127\.0\.0\.1:%d \(HTTPS\)" % t.port, t.d.log())


def test_tls12_ciphers_are_mozilla_intermediate(presignd, pki, tmp_path):
    """A TLS 1.2 client gets an ECDHE AEAD suite; a client offering only
    CBC or RSA-key-exchange suites (outside the intermediate list) is
    refused."""
    t = start_tls(presignd, pki, tmp_path)
    a = https(t.port, client_ctx(pki, maximum=ssl.TLSVersion.TLSv1_2))
    assert a.status == 200
    assert a.version == "TLSv1.2"
    assert a.cipher.startswith("ECDHE-ECDSA-") and ("GCM" in a.cipher or "CHACHA" in a.cipher), \
        a.cipher
    ctx = client_ctx(pki, maximum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:AES128-GCM-SHA256")
    assert handshake_fails(t.port, ctx) is not None


# --------------------------------------------------------- what is refused

def test_plain_http_on_the_tls_port_gets_no_http_answer(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path)
    r = send_raw(t.port, raw_request("GET", "/health"), timeout=5)
    assert r.closed, r
    assert not r.data.startswith(b"HTTP/"), r
    assert r.elapsed < 2, r           # refused at once, not at a timeout
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://127.0.0.1:%d/health" % t.port, timeout=5)
    # And TLS on the plain port fails too.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get("https://127.0.0.1:%d/health" % t.d.port, verify=pki.ca, timeout=5)
    assert https(t.port, client_ctx(pki)).status == 200


def _local_old_tls_server(pki, version):
    """A one-connection TLS server on this machine's OpenSSL that allows
    VERSION; returns (port, thread, result list)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(pki.chain[1], pki.key[1])
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    result = []

    def serve():
        try:
            c, _ = srv.accept()
            with ctx.wrap_socket(c, server_side=True) as s:
                result.append(s.version())
        except Exception as e:  # noqa: BLE001 - reported by the caller
            result.append(e)
        finally:
            srv.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return srv.getsockname()[1], th, result


@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1, "TLSv1"),
                                          (ssl.TLSVersion.TLSv1_1, "TLSv1.1")],
                         ids=["TLSv1.0", "TLSv1.1"])
def test_tls_1_0_and_1_1_are_refused(presignd, pki, tmp_path, version, name):
    # First: can this machine's OpenSSL speak it at all? Against a local
    # server that allows it, the same client must succeed; else a refusal
    # by presignd would prove nothing.
    port, th, result = _local_old_tls_server(pki, version)
    err = handshake_fails(port, old_client_ctx(pki, version))
    th.join(5)
    if err is not None or result != [name]:
        pytest.skip("this machine's OpenSSL cannot negotiate %s even with a server that "
                    "allows it (%s, server side %r): nothing to test" % (name, err, result))

    t = start_tls(presignd, pki, tmp_path)
    err = handshake_fails(t.port, old_client_ctx(pki, version))
    assert err is not None, "presignd accepted %s" % name
    assert "PROTOCOL_VERSION" in str(err).upper() or "protocol version" in str(err), err
    # The openssl command agrees (and shows the alert presignd sends).
    flag = {"TLSv1": "-tls1", "TLSv1.1": "-tls1_1"}[name]
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % t.port, flag,
                        "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", pki.ca],
                       input="", capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "alert protocol version" in r.stdout + r.stderr, r.stdout + r.stderr
    # Presignd is unaffected.
    assert https(t.port, client_ctx(pki)).status == 200


def test_min_version_1_3_refuses_tls_1_2(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path, min_version="1.3")
    err = handshake_fails(t.port, client_ctx(pki, maximum=ssl.TLSVersion.TLSv1_2))
    assert err is not None
    assert "protocol version" in str(err).lower() or "PROTOCOL_VERSION" in str(err), err
    a = https(t.port, client_ctx(pki))
    assert a.status == 200 and a.version == "TLSv1.3"
    assert "TLS 1.3 and up" in t.d.log()


def test_alpn(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path)
    for offer in (["http/1.1"], ["h2", "http/1.1"], ["http/1.1", "h2"]):
        a = https(t.port, client_ctx(pki, alpn=offer))
        assert a.status == 200 and a.alpn == "http/1.1", (offer, a)
    a = https(t.port, client_ctx(pki))          # no ALPN at all
    assert a.status == 200 and a.alpn is None
    # Only h2 offered: refused with no_application_protocol (RFC 7301, 3.2)
    # rather than answered in a protocol the client did not ask for.
    err = handshake_fails(t.port, client_ctx(pki, alpn=["h2"]))
    assert err is not None and "no application protocol" in str(err), err


# ------------------------------------------------------------ presignd -t

def _t_config(tmp_path, s3, name, tls, listen=None):
    cfg = harness.base_config(s3, free_port())
    if listen is not None:
        cfg["server"]["listen"] = listen
    cfg["server"]["tls"] = tls
    path = str(tmp_path / name)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
    return path


def test_check_reports_tls_problems_with_their_line(presignd, s3, pki, tmp_path):
    binary = presignd(start=False).binary
    port = free_port()
    missing = str(tmp_path / "nonexistent.pem")
    cases = [
        # (name, tls section, key whose line is reported, expected message)
        ("missing-cert", tls_section(port, missing, pki.key[1]), "certificate:",
         r"server\.tls\.certificate: cannot read the certificate: No such file or directory "
         r"\(%s\)" % re.escape(missing)),
        ("missing-key", tls_section(port, pki.chain[1], missing), "key:",
         r"server\.tls\.key: cannot read the key: No such file or directory \(%s\)"
         % re.escape(missing)),
        ("mismatch", tls_section(port, pki.chain[1], pki.other_key), "key:",
         r"server\.tls\.key: the key does not match the certificate\b.*\(%s\)"
         % re.escape(pki.other_key)),
        ("other-pair", tls_section(port, pki.chain[1], pki.key[2]), "key:",
         r"server\.tls\.key: the key does not match the certificate"),
        ("key-as-cert", tls_section(port, pki.key[1], pki.key[1]), "certificate:",
         r"server\.tls\.certificate: cannot use the certificate"),
        ("min-1.1", tls_section(port, pki.chain[1], pki.key[1], "1.1"), "min_version:",
         r'server\.tls\.min_version: expected "1\.2" or "1\.3".*got "1\.1"'),
        ("min-1.0", tls_section(port, pki.chain[1], pki.key[1], "1.0"), "min_version:",
         r'server\.tls\.min_version: expected "1\.2" or "1\.3"'),
        ("no-key", {"listen": "127.0.0.1:%d" % port, "certificate": pki.chain[1]}, "tls:",
         r"server\.tls: key is required"),
    ]
    problems = []
    for name, tls, at, rx in cases:
        path = _t_config(tmp_path, s3, name + ".yaml", tls)
        rc, lines = check_t(binary, path)
        line = line_of(path, at, after=None if at == "tls:" else "tls:")
        want = r"^%s:%d:\d+: %s" % (re.escape(path), line, rx)
        if rc != 1 or len(lines) != 1 or not re.search(want, lines[0]):
            problems.append("%s: exit %d, %r; expected one line matching %r"
                            % (name, rc, lines, want))
    # An address in both server.listen and server.tls.listen.
    path = _t_config(tmp_path, s3, "both.yaml", tls_section(port, pki.chain[1], pki.key[1]),
                     listen=["127.0.0.1:%d" % free_port(), "127.0.0.1:%d" % port])
    rc, lines = check_t(binary, path)
    want = (r"^%s:\d+:\d+: server\.tls\.listen: 127\.0\.0\.1:%d is also a plain HTTP address"
            % (re.escape(path), port))
    if rc != 1 or len(lines) != 1 or not re.search(want, lines[0]):
        problems.append("both: exit %d, %r; expected %r" % (rc, lines, want))
    # And a good pair passes.
    path = _t_config(tmp_path, s3, "good.yaml", tls_section(port, pki.chain[1], pki.key[1], "1.3"))
    rc, lines = check_t(binary, path)
    if rc != 0 or lines != ["configuration file %s test is successful" % path]:
        problems.append("good: exit %d, %r" % (rc, lines))
    assert not problems, "\n".join(problems)


# ----------------------------------------------- certificate swap, reload

class Hammer:
    """Clients hammering HTTPS until stopped: NEW of them open a new TLS
    connection per request (GET / or POST /upload-url), so that every
    handshake shows the certificate served at that moment, and record
    (started, ended, serial) of each; KEEP of them send their requests over
    kept-alive connections (requests.Session), which a reload must not break
    either. Every failure of either kind is recorded."""

    def __init__(self, port, pki, new=6, keep=2):
        self.port = port
        self.pki = pki
        self.ctx = client_ctx(pki)
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.done = []
        self.kept = 0
        self.failures = []
        self.threads = [threading.Thread(target=self._new, args=(i,), daemon=True)
                        for i in range(new)]
        self.threads += [threading.Thread(target=self._keep, daemon=True) for _ in range(keep)]

    def _new(self, i):
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            t0 = time.monotonic()
            try:
                if (n + i) % 2:
                    a = https(self.port, self.ctx, "POST", "/upload-url", UPLOAD)
                else:
                    a = https(self.port, self.ctx, "GET", "/")
                ok = a.status == 200
            except Exception as e:  # noqa: BLE001 - every failure counts
                a, ok = e, False
            t1 = time.monotonic()
            with self.lock:
                if ok:
                    self.done.append((t0, t1, a.serial))
                else:
                    self.failures.append("new connection %.3f-%.3f %r" % (t0, t1, a))

    def _keep(self):
        url = "https://127.0.0.1:%d/upload-url" % self.port
        with requests.Session() as s:
            while not self.stop_ev.is_set():
                t0 = time.monotonic()
                try:
                    r = s.post(url, data=UPLOAD, headers={"Content-Type": "application/json"},
                               verify=self.pki.ca, timeout=10)
                    bad = None if r.status_code == 200 else "HTTP %s %s" % (r.status_code,
                                                                           r.text[:200])
                except Exception as e:  # noqa: BLE001
                    bad = repr(e)
                with self.lock:
                    if bad:
                        self.failures.append("kept alive %.3f %s" % (t0, bad))
                    else:
                        self.kept += 1

    def count(self):
        with self.lock:
            return len(self.done)

    def wait_more(self, n, what):
        start = self.count()
        wait_for(lambda: self.count() >= start + n, 30, what="%d requests %s" % (n, what))

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join(20)


def swap_under_load(t, pki, swaps):
    """SWAPS times, while clients hammer HTTPS: replace the certificate and
    key files with the other pair, let requests go on, reload. Returns the
    hammer and the serial each window served."""
    h = Hammer(t.port, pki).start()
    marks = []                       # (SIGHUP sent, reload complete, new serial)
    try:
        h.wait_more(30, "before the first swap")
        for i in range(swaps):
            n = 2 if i % 2 == 0 else 1
            t.install(pki.chain[n], pki.key[n])
            h.wait_more(20, "after the files changed")
            hup = time.monotonic()
            t.d.reload()
            marks.append((hup, time.monotonic(), pki.serial[n]))
            h.wait_more(20, "after the reload")
    finally:
        h.stop()
    assert not h.failures, "%d failed requests of %d:\n%s" % (
        len(h.failures), len(h.failures) + len(h.done) + h.kept, "\n".join(h.failures[:20]))
    # Between a reload's completion and the next SIGHUP, new connections get
    # exactly the certificate that reload loaded (the files changing in
    # between change nothing); before the first SIGHUP, the first one.
    problems = []
    windows = [(0.0, marks[0][0], pki.serial[1])]
    windows += [(marks[i][1], marks[i + 1][0] if i + 1 < len(marks) else float("inf"),
                 marks[i][2]) for i in range(len(marks))]
    for k, (start, end, serial) in enumerate(windows):
        seen = [s for t0, t1, s in h.done if t0 > start and t1 < end]
        if not seen:
            problems.append("window %d: no request" % k)
        elif set(seen) != {serial}:
            problems.append("window %d: serials %s, expected only %s"
                            % (k, sorted(set(seen)), serial))
    assert not problems, "\n".join(problems)
    assert re.search(r"HTTPS with %s \(serial %s\)" % (re.escape(t.cert), marks[-1][2]),
                     t.d.log())
    return h


def test_certificate_swap_under_load(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path)
    h = swap_under_load(t, pki, swaps=6)
    print("certificate swapped 6 times under load: %d requests on new connections, "
          "%d on kept-alive ones, %d failed" % (len(h.done), h.kept, len(h.failures)))


def test_reload_with_a_mismatched_key_is_rejected(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path)
    ctx = client_ctx(pki)
    assert https(t.port, ctx).serial == pki.serial[1]
    # A renewal half done: the new certificate, the old key.
    t.install(pki.chain[2], pki.key[1])
    t.d.reload(expect_ok=False)
    log = t.d.log()
    assert re.search(r"%s:\d+:\d+: server\.tls\.key: the key does not match the certificate"
                     % re.escape(t.d.config_path), log), log
    assert "reload rejected" in log
    for _ in range(5):
        a = https(t.port, ctx)
        assert a.status == 200 and a.serial == pki.serial[1], a
    # An unrelated key, and a missing one: the same.
    t.install(pki.chain[2], pki.other_key)
    t.d.reload(expect_ok=False)
    os.unlink(t.key)
    t.d.reload(expect_ok=False)
    assert https(t.port, ctx).serial == pki.serial[1]
    # The right key: accepted.
    t.install(pki.chain[2], pki.key[2])
    t.d.reload()
    assert https(t.port, ctx).serial == pki.serial[2]


# --------------------------------------------------------- resumption

def test_session_resumption_within_a_generation_only(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path)
    problems = []
    for maximum in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(pki, maximum=maximum)
        first = https(t.port, ctx)
        assert first.status == 200 and not first.reused
        assert first.session is not None and first.session.has_ticket, maximum
        # Ten more connections, on whichever worker accepts each: every one
        # resumes (the ticket keys are the generation's, not a worker's).
        for i in range(10):
            a = https(t.port, ctx, session=first.session)
            if not (a.status == 200 and a.reused):
                problems.append("%s: connection %d not resumed: %r" % (maximum, i, a))
    assert not problems, "\n".join(problems)
    # (A session resumes only through the context that made it.)
    ctxs = {m: client_ctx(pki, maximum=m)
            for m in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)}
    tickets = {m: https(t.port, ctx).session for m, ctx in ctxs.items()}
    # A rejected reload leaves the generation, and its ticket keys, alone.
    with open(t.d.config_path) as f:
        good = f.read()
    t.d.write_config("server: [\n")
    t.d.reload(expect_ok=False)
    t.d.write_config(good)
    for m, sess in tickets.items():
        a = https(t.port, ctxs[m], session=sess)
        assert a.status == 200 and a.reused, (m, a)
    # A reload (same certificate, same file): a new generation, new keys.
    t.d.reload()
    for m, sess in tickets.items():
        for _ in range(4):
            a = https(t.port, ctxs[m], session=sess)
            assert a.status == 200 and not a.reused, (m, a)
        fresh = https(t.port, ctxs[m]).session
        assert https(t.port, ctxs[m], session=fresh).reused, m


def test_resumption_with_openssl_s_client(presignd, pki, tmp_path):
    """The same with the openssl command (-sess_out / -sess_in), TLS 1.3."""
    t = start_tls(presignd, pki, tmp_path)
    sess = str(tmp_path / "session.pem")

    def s_client(*extra):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % t.port,
                            "-CAfile", pki.ca, "-ign_eof"] + list(extra),
                           input="GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                           capture_output=True, text=True, timeout=20)
        assert "HTTP/1.1 " in r.stdout, r.stdout + r.stderr
        return r.stdout
    out = s_client("-sess_out", sess)
    assert "New, TLSv1.3" in out
    out = s_client("-sess_in", sess)
    assert "Reused, TLSv1.3" in out, out
    t.d.reload()
    out = s_client("-sess_in", sess)
    assert "New, TLSv1.3" in out, out


# -------------------------------------------------- handshake deadline

def test_header_timeout_bounds_the_handshake(presignd, pki, tmp_path):
    t = start_tls(presignd, pki, tmp_path, overrides={
        "server": {"header_timeout": HEADER_TIMEOUT}})
    limit = HEADER_TIMEOUT + SLACK
    hello = client_hello(pki)
    socks = {}
    t0 = time.monotonic()
    # 1. connects and sends nothing; 2. sends half a ClientHello; 3. the
    # whole ClientHello, then nothing (the server's flight is never
    # answered); 4. completes the handshake and sends no request.
    socks["silent"] = socket.create_connection(("127.0.0.1", t.port))
    socks["half hello"] = socket.create_connection(("127.0.0.1", t.port))
    socks["half hello"].sendall(hello[:len(hello) // 2])
    socks["hello only"] = socket.create_connection(("127.0.0.1", t.port))
    socks["hello only"].sendall(hello)
    socks["handshake, no request"] = tls_connect(t.port, client_ctx(pki))
    # 5. trickles its ClientHello a byte every 0.2 s.
    trickler = socket.create_connection(("127.0.0.1", t.port))
    trickled = None
    for i in range(len(hello)):
        try:
            trickler.sendall(hello[i:i + 1])
        except OSError:
            trickled = time.monotonic() - t0
            break
        if wait_closed(trickler, 0.2) is not None:
            trickled = time.monotonic() - t0
            break
        if time.monotonic() - t0 > limit + 2:
            break
    problems = []
    seen = {"trickled hello": trickled}
    if trickled is None or trickled > limit:
        problems.append("trickled ClientHello: closed after %s s" % trickled)
    for name, s in socks.items():
        left = max(0.1, t0 + limit + 1 - time.monotonic())
        closed = wait_closed(s, left)
        at = time.monotonic() - t0
        seen[name] = None if closed is None else round(at, 2)
        if closed is None or at > limit:
            problems.append("%s: closed after %s s (limit %.1f)"
                            % (name, None if closed is None else round(at, 2), limit))
        elif at < HEADER_TIMEOUT - 0.5:
            problems.append("%s: closed after %.2f s, before header_timeout" % (name, at))
        s.close()
    trickler.close()
    print("closed after (s, header_timeout %d):" % HEADER_TIMEOUT,
          ", ".join("%s %s" % (k, v if v is None else "%.2f" % v) for k, v in seen.items()))
    assert not problems, "\n".join(problems)
    # A normal client meanwhile and after: served.
    assert https(t.port, client_ctx(pki)).status == 200


def test_kept_alive_tls_requests_are_as_quick_as_plain_ones(presignd, pki, tmp_path):
    """A TLS response leaves in two records (headers, body) in two writes:
    without TCP_NODELAY, Nagle held the second until the client's delayed
    ACK, some 40 ms per kept-alive request."""
    t = start_tls(presignd, pki, tmp_path, workers=1)
    with tls_connect(t.port, client_ctx(pki)) as s, \
            socket.create_connection(("127.0.0.1", t.d.port), timeout=10) as p:
        times = {"plain": [], "TLS": []}
        for _ in range(20):
            for name, sock in (("plain", p), ("TLS", s)):
                t0 = time.monotonic()
                sock.sendall(raw_request("POST", "/upload-url",
                                         ["Content-Type: application/json"], UPLOAD,
                                         close=False))
                r = harness.read_response(sock, timeout=5)
                times[name].append(time.monotonic() - t0)
                assert r.status == 200, r
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print("median of 20 kept-alive POST /upload-url: plain %.2f ms, TLS %.2f ms"
          % (med["plain"] * 1000, med["TLS"] * 1000))
    assert med["TLS"] < med["plain"] + 0.010, med


def test_connection_close_ends_with_close_notify(presignd, pki, tmp_path):
    """A connection presignd closes ends with a close_notify alert (RFC 8446
    6.1): without it OpenSSL clients that read a 'Connection: close' answer
    to its end get 'unexpected eof while reading' and do not resume."""
    t = start_tls(presignd, pki, tmp_path)
    ctx = client_ctx(pki)
    # (Debian's Python sets OP_IGNORE_UNEXPECTED_EOF, which makes a missing
    # close_notify look like a clean end.)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", t.port), timeout=10),
                        server_hostname="127.0.0.1", suppress_ragged_eofs=False)
    with s:
        s.sendall(raw_request("GET", "/health"))
        try:
            while s.recv(65536):
                pass
            clean = True
        except ssl.SSLError as e:
            assert "EOF" in str(e).upper(), e
            clean = False
    # What it costs: openssl s_time -reuse reads every answer to its end and
    # then resumes the session; it resumes none ('r' per resumed connection,
    # '*' per new one).
    r = subprocess.run(["openssl", "s_time", "-connect", "127.0.0.1:%d" % t.port, "-reuse",
                        "-time", "1", "-www", "/health", "-CAfile", pki.ca],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    marks = "".join(re.findall(r"starting\s*([*r]+)", r.stdout))
    print("close_notify: %s; s_time -reuse: %d of %d connections resumed"
          % (clean, marks.count("r"), len(marks)))
    assert clean
    assert marks and marks.count("r") >= len(marks) - 1, marks


# ------------------------------------------------------------- sanitizers

def test_tls_flows_under_asan(presignd_asan, s3, pki, tmp_path):
    """The flows above once against the AddressSanitizer build: the API
    over HTTPS, refused clients, a half handshake cut by the deadline,
    resumption, the certificate swapped under load and a rejected reload.
    The fixture fails the test on any sanitizer report."""
    t = start_tls(presignd_asan, pki, tmp_path, overrides={
        "server": {"header_timeout": HEADER_TIMEOUT}})
    api_flow(t, s3, pki, "asan")
    send_raw(t.port, raw_request("GET", "/health"), timeout=5)
    assert handshake_fails(t.port, client_ctx(pki, alpn=["h2"])) is not None
    assert handshake_fails(t.port, old_client_ctx(pki, ssl.TLSVersion.TLSv1_1)) is not None
    half = socket.create_connection(("127.0.0.1", t.port))
    half.sendall(client_hello(pki)[:50])
    assert wait_closed(half, HEADER_TIMEOUT + SLACK + 1) is not None
    half.close()
    ctx = client_ctx(pki)
    first = https(t.port, ctx)
    assert https(t.port, ctx, session=first.session).reused
    swap_under_load(t, pki, swaps=1)
    t.install(pki.chain[1], pki.other_key)
    t.d.reload(expect_ok=False)
    assert https(t.port, client_ctx(pki)).serial == pki.serial[2]
