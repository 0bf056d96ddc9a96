#!/usr/bin/env python3
"""presignd_client.py - a command-line client of the presignd API.

The file bytes never pass through presignd: the client asks presignd for a
presigned URL and then talks to S3 directly with it, sending exactly the
method and headers presignd says were signed.

    presignd_client.py upload FILE [--content-type TYPE] [--name NAME]
    presignd_client.py download KEY [-o OUT]
    presignd_client.py list [--prefix PREFIX] [--max-keys N] [--all] [--json]
    presignd_client.py delete KEY

    --url URL     presignd's base URL (default $PRESIGND_URL or http://127.0.0.1:8000)
    --token TOKEN an API key or a JWT, sent as "Authorization: Bearer TOKEN"
                  (default $PRESIGND_TOKEN; none when presignd runs without auth)

upload prints the new file's key on stdout; progress bars go to stderr
(--quiet turns them off). Exit status: 0 done, 1 the API or S3 refused,
2 bad usage or an unreachable server.

Needs only the standard library and requests.
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import time

import requests

DEFAULT_URL = os.environ.get("PRESIGND_URL", "http://127.0.0.1:8000")
DEFAULT_TOKEN = os.environ.get("PRESIGND_TOKEN")
CHUNK = 256 * 1024
# Files up to this size get their MD5 signed into the upload URL (S3 then
# refuses other bytes); reading a bigger one twice costs more than it is
# worth.
MD5_MAX = 512 * 1024 * 1024


class ClientError(Exception):
    """The API or S3 said no; carries what to tell the user."""


# ---------------------------------------------------------------------------
# progress


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    """A one-line textual progress bar on stderr: [#####-----]  50%  ..."""

    def __init__(self, label, total, enabled=True, stream=sys.stderr, width=30):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream, self.width = stream, width
        self.done = 0
        self.start = time.monotonic()
        self.last_draw = 0.0
        # On a terminal, redraw in place; in a log, print a few lines only.
        self.tty = stream.isatty()
        self.last_pct_logged = -1

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last_draw >= 0.1 or (self.total and self.done >= self.total):
            self.last_draw = now
            self.draw()

    def draw(self, final=False):
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.done / elapsed
        if self.total:
            frac = min(self.done / self.total, 1.0)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            pct = int(frac * 100)
            text = (f"{self.label} [{bar}] {pct:3d}%  {human_bytes(self.done)}/"
                    f"{human_bytes(self.total)}  {human_bytes(rate)}/s")
        else:
            pct = None
            text = f"{self.label} {human_bytes(self.done)}  {human_bytes(rate)}/s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        elif pct is None:
            if final:
                self.stream.write(text + "\n")
        elif pct // 25 > self.last_pct_logged // 25 or (final and pct != self.last_pct_logged):
            # Not a terminal: a line at 0, 25, 50, 75 and 100 % only.
            self.last_pct_logged = pct
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self):
        self.draw(final=True)


class ProgressReader:
    """A file wrapper that reports what is read. It has a length, so
    requests sends Content-Length (S3 refuses chunked uploads) and streams
    the body with read() instead of loading it into memory."""

    def __init__(self, f, size, progress):
        self.f, self.size, self.progress = f, size, progress

    def __len__(self):
        return self.size

    def read(self, n=-1):
        data = self.f.read(CHUNK if n is None or n < 0 else n)
        if data:
            self.progress.update(len(data))
        return data


# ---------------------------------------------------------------------------
# API


class Client:
    def __init__(self, base_url, timeout=30.0, token=None):
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        if token:
            # Only presignd sees it: S3 gets presigned URLs, never the token.
            self.http.headers["Authorization"] = "Bearer " + token

    def _api(self, method, path, **kw):
        try:
            r = self.http.request(method, self.base + path, timeout=self.timeout, **kw)
        except requests.RequestException as e:
            raise ConnectionError(f"cannot reach presignd at {self.base}: {e}") from e
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code != 200:
            if isinstance(body, dict) and "detail" in body:
                raise ClientError(f"{r.status_code} {body.get('error_code', 'error')}: {body['detail']}")
            raise ClientError(f"{r.status_code} from presignd: {r.text[:200]}")
        if not isinstance(body, dict):
            raise ClientError("presignd answered with something that is not a JSON object")
        return body

    def upload_url(self, filename, content_type=None, size=None, md5=None):
        req = {"filename": filename}
        if content_type:
            req["content_type"] = content_type
        if size is not None:
            req["size"] = size
        if md5:
            req["md5"] = md5
        return self._api("POST", "/upload-url", json=req)

    def upload_complete(self, key, size=None, md5=None):
        req = {"file_key": key}
        if size is not None:
            req["size"] = size
        if md5:
            req["md5"] = md5
        return self._api("POST", "/upload-complete", json=req)

    def download_url(self, key):
        return self._api("POST", "/download-url", json={"file_key": key})

    def list(self, prefix=None, max_keys=None, token=None):
        params = {}
        if prefix is not None:
            params["prefix"] = prefix
        if max_keys is not None:
            params["max_keys"] = max_keys
        if token:
            params["continuation_token"] = token
        return self._api("GET", "/files", params=params)

    def list_all(self, prefix=None, max_keys=None):
        token = None
        while True:
            page = self.list(prefix, max_keys, token)
            yield from page.get("files", [])
            token = page.get("next_continuation_token")
            if not page.get("is_truncated") or not token:
                return

    def delete(self, key):
        # The key goes in the path: escape what a path cannot carry, keep "/".
        return self._api("DELETE", "/files/" + requests.utils.quote(key, safe="/"))

    def upload(self, path, content_type=None, name=None, progress=True):
        size = os.path.getsize(path)
        name = name or os.path.basename(path)
        md5 = file_md5(path) if size <= MD5_MAX else None
        grant = self.upload_url(name, content_type, size, md5)
        method = grant.get("method", "PUT")
        # Exactly the headers presignd signed (Content-Type, Content-Length,
        # If-None-Match, Content-MD5): another value and S3 answers 403.
        headers = dict(grant.get("headers") or {"Content-Type": grant.get("content_type")})
        bar = Progress(f"upload {name}", size, progress)
        with open(path, "rb") as f:
            body = ProgressReader(f, size, bar)
            try:
                r = requests.request(method, grant["presigned_url"], data=body, headers=headers,
                                     timeout=(self.timeout, None))
            except requests.RequestException as e:
                raise ConnectionError(f"cannot reach S3: {e}") from e
        bar.finish()
        if r.status_code not in (200, 201, 204):
            raise ClientError(f"S3 refused the upload: {r.status_code} {s3_error(r)}")
        # What an application does before it records the file: ask presignd
        # whether S3 has it, with the size and digest it was signed for.
        done = self.upload_complete(grant["file_key"], size, md5)
        if not done.get("matches"):
            raise ClientError(f"S3 holds other data than was sent: {done.get('checks')}")
        grant["etag"] = done.get("etag") or r.headers.get("ETag", "").strip('"')
        grant["size"] = size
        return grant

    def download(self, key, out_path, progress=True):
        grant = self.download_url(key)
        headers = dict(grant.get("headers") or {})
        try:
            r = requests.request(grant.get("method", "GET"), grant["presigned_url"],
                                 headers=headers, stream=True, timeout=(self.timeout, None))
        except requests.RequestException as e:
            raise ConnectionError(f"cannot reach S3: {e}") from e
        with r:
            if r.status_code != 200:
                raise ClientError(f"S3 refused the download: {r.status_code} {s3_error(r)}")
            total = int(r.headers.get("Content-Length") or grant.get("size") or 0)
            bar = Progress(f"download {os.path.basename(out_path)}", total, progress)
            tmp = out_path + ".part"
            try:
                with open(tmp, "wb") as f:
                    for chunk in r.iter_content(CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
                os.replace(tmp, out_path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            bar.finish()
        return grant


def file_md5(path):
    """The base64 MD5 of the file, as Content-MD5 carries it."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return base64.b64encode(h.digest()).decode()


def s3_error(r):
    """S3's <Code> from an XML error body, or the status text."""
    text = r.text if r.content else ""
    start, end = text.find("<Code>"), text.find("</Code>")
    if start >= 0 and end > start:
        return text[start + 6:end]
    return r.reason or ""


def default_output_name(key):
    """uploads/<uuid4>-report.pdf -> report.pdf"""
    base = key.rsplit("/", 1)[-1]
    parts = base.split("-", 5)
    if len(parts) == 6 and [len(p) for p in parts[:5]] == [8, 4, 4, 4, 12]:
        return parts[5] or base
    return base


# ---------------------------------------------------------------------------
# command line


def main(argv=None):
    p = argparse.ArgumentParser(prog="presignd_client.py",
                                description="Upload, download, list and delete files through presignd.")
    p.add_argument("--url", default=DEFAULT_URL,
                   help="presignd base URL (default: $PRESIGND_URL or http://127.0.0.1:8000)")
    p.add_argument("--token", default=DEFAULT_TOKEN,
                   help="API key or JWT for presignd (default: $PRESIGND_TOKEN)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for presignd")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upload", help="upload FILE; prints its key")
    up.add_argument("file")
    up.add_argument("--content-type", help="default: what presignd allows for the extension")
    up.add_argument("--name", help="file name to store (default: FILE's base name)")

    down = sub.add_parser("download", help="download KEY")
    down.add_argument("key")
    down.add_argument("-o", "--output", help="where to write (default: the original file name)")

    ls = sub.add_parser("list", help="list files")
    ls.add_argument("--prefix", help="key prefix (inside the upload prefix)")
    ls.add_argument("--max-keys", type=int, help="1..1000 per page")
    ls.add_argument("--all", action="store_true", help="follow continuation tokens")
    ls.add_argument("--json", action="store_true", help="print JSON")

    rm = sub.add_parser("delete", help="delete KEY")
    rm.add_argument("key")

    args = p.parse_args(argv)
    client = Client(args.url, args.timeout, args.token)
    progress = not args.quiet
    try:
        if args.command == "upload":
            if not os.path.isfile(args.file):
                print(f"presignd_client: {args.file}: not a file", file=sys.stderr)
                return 2
            res = client.upload(args.file, args.content_type, args.name, progress)
            print(res["file_key"])
        elif args.command == "download":
            out = args.output or default_output_name(args.key)
            res = client.download(args.key, out, progress)
            if not args.quiet:
                print(f"saved {out}", file=sys.stderr)
        elif args.command == "list":
            if args.all:
                files = list(client.list_all(args.prefix, args.max_keys))
            else:
                files = client.list(args.prefix, args.max_keys).get("files", [])
            if args.json:
                print(json.dumps({"files": files, "count": len(files)}, indent=2))
            else:
                for f in files:
                    print(f"{f['size']:>12}  {f.get('last_modified') or '-':<24}  {f['key']}")
                if not args.quiet:
                    print(f"{len(files)} file(s)", file=sys.stderr)
        elif args.command == "delete":
            res = client.delete(args.key)
            if not args.quiet:
                print(res.get("message", "deleted"), file=sys.stderr)
    except ClientError as e:
        print(f"presignd_client: {e}", file=sys.stderr)
        return 1
    except (ConnectionError, OSError) as e:
        print(f"presignd_client: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
