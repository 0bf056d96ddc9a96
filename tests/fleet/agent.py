#!/usr/bin/python3
"""agent.py - scripts/fleet's hands inside a network namespace. The
orchestrator runs in the host's namespace, which has no route to the
fleet; it starts one agent in the load balancer's namespace (to probe
instances as the load balancer sees them) and one in the clients' (to
check keys against S3), and talks to each over stdin/stdout, one JSON
object a line:

    {"op": "http", "method": "GET", "url": "...", "timeout": 2}
        -> {"status": 200, "body": "...", "elapsed": 0.003} or {"error": "..."}
    {"op": "head_bucket", "endpoint", "region", "bucket", "key", "secret"}
        -> {"status": 200} or {"status": 403, "code": "InvalidAccessKeyId"}

Standard library only for HTTP (a fresh connection per probe, as a load
balancer's health check); boto3 for the S3 check.
"""

import http.client
import json
import sys
import time
import urllib.parse


def http_op(req):
    u = urllib.parse.urlsplit(req["url"])
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=req.get("timeout", 2))
    try:
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(req.get("method", "GET"), path, headers=req.get("headers") or {})
        r = conn.getresponse()
        body = r.read(65536).decode("utf-8", "replace")
        return {"status": r.status, "body": body, "elapsed": time.monotonic() - t0}
    except Exception as e:  # any failure is an answer for the caller
        return {"error": "%s: %s" % (type(e).__name__, e), "elapsed": time.monotonic() - t0}
    finally:
        conn.close()


def head_bucket(req):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    c = boto3.client("s3", endpoint_url=req["endpoint"], region_name=req["region"],
                     aws_access_key_id=req["key"], aws_secret_access_key=req["secret"],
                     config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                   retries={"max_attempts": 1}, connect_timeout=3,
                                   read_timeout=5))
    try:
        c.head_bucket(Bucket=req["bucket"])
        return {"status": 200}
    except ClientError as e:
        err = e.response.get("Error", {})
        return {"status": int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)),
                "code": err.get("Code", "")}
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}


def main():
    ops = {"http": http_op, "head_bucket": head_bucket}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        fn = ops.get(req.get("op"))
        out = fn(req) if fn else {"error": "unknown op %r" % req.get("op")}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
