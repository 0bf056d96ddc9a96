"""Large files and form uploads against the Ceph RADOS Gateway: the routes
Uppy speaks (Companion's contract: /s3/params, /s3/multipart...), POST
/s3/sign (Uppy 6's signRequest), and POST /upload-form.

Here python plays the browser: it sends to S3 exactly what Uppy sends
(form POSTs with the fields in order and the file last, part PUTs without a
Content-Type, the XML of CompleteMultipartUpload in signRequest mode). The
real Uppy bundles run in tests/integration/test_uppy.py.
"""
import hashlib
import json
import os
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest
import requests

from harness import error_shape_problem

MiB = 1024 * 1024
KEYS = {"alice": "alice-key-" + uuid.uuid4().hex, "bob": "bob-key-" + uuid.uuid4().hex}


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


AUTH = {"auth": {"mode": "api_key", "api_keys": [
    {"name": n, "sha256": sha256(k), "prefix": n + "/", "permissions": ["upload", "download"]}
    for n, k in KEYS.items()]}}


def bearer(name):
    return {"Authorization": "Bearer " + KEYS[name]}


def ok(r, status=200):
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def stored(s3, key):
    obj = s3.client().get_object(Bucket=s3.bucket, Key=key)
    return obj["Body"].read(), obj


def upload_gone(s3, key, upload_id):
    from botocore.exceptions import ClientError
    try:
        s3.client().list_parts(Bucket=s3.bucket, Key=key, UploadId=upload_id)
    except ClientError as e:
        # AWS says NoSuchUpload, Ceph RGW NoSuchKey.
        return e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


def mp_path(upload_id, rest=""):
    return "/s3/multipart/" + quote(upload_id, safe="") + rest


def put_part(d, up, n, data, headers=None):
    """What Uppy does for one part: sign it, PUT the bytes (no Content-Type)."""
    signed = ok(d.get(mp_path(up["uploadId"], "/%d" % n), params={"key": up["key"]},
                      headers=headers))
    assert signed["expires"] > 0
    r = requests.put(signed["url"], data=data, timeout=60)
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


def form_post(url, fields, data, filename="f.bin", file_type="application/octet-stream"):
    """A browser's form POST: the fields in order, the file last."""
    files = [(k, (None, v)) for k, v in fields.items()]
    files.append(("file", (filename, data, file_type)))
    return requests.post(url, files=files, timeout=60)


# ------------------------------------------------------------ multipart

def test_multipart_round_trip(presignd, s3):
    d = presignd({"uploads": {"max_multipart_size": 64 * MiB}})
    up = ok(d.post("/s3/multipart", json={
        "filename": "big file.bin", "type": "application/octet-stream",
        "metadata": {"caption": "a b&c=d", "name": "big file.bin", "relativePath": None,
                     "note": "caf\u00e9 \u65e5\u672c"}}))
    assert set(up) == {"key", "uploadId", "bucket"}
    assert up["bucket"] == s3.bucket
    assert up["key"].startswith("uploads/") and up["key"].endswith("-big file.bin")

    parts = [os.urandom(5 * MiB) for _ in range(3)] + [os.urandom(MiB + 17)]
    etags = [put_part(d, up, i + 1, p) for i, p in enumerate(parts)]
    listed = ok(d.get(mp_path(up["uploadId"]), params={"key": up["key"]}))
    assert [p["PartNumber"] for p in listed] == [1, 2, 3, 4]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    assert [p["ETag"] for p in listed] == etags
    assert all(isinstance(p["PartNumber"], int) for p in listed)

    # Uppy 6 strips the quotes of the parts it uploaded, keeps those it
    # listed: one request may mix both, in any order.
    body = {"parts": [{"PartNumber": 4, "ETag": etags[3]},
                      {"PartNumber": 1, "ETag": etags[0].strip('"')},
                      {"PartNumber": 3, "ETag": etags[2]},
                      {"PartNumber": 2, "ETag": etags[1].strip('"')}]}
    done = ok(d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]},
                     json=body))
    assert done["key"] == up["key"] and done["bucket"] == s3.bucket
    assert done["location"]
    data, obj = stored(s3, up["key"])
    assert data == b"".join(parts)
    assert obj["ContentType"] == "application/octet-stream"
    meta = obj["Metadata"]
    assert meta["caption"] == "a b&c=d" and meta["name"] == "big file.bin"
    assert "relativepath" not in meta
    # Non-ASCII stored as an RFC 2047 word, which decodes to the value.
    import email.header
    assert str(email.header.make_header(email.header.decode_header(meta["note"]))) == \
        "caf\u00e9 \u65e5\u672c"


def test_list_parts_reads_every_page(presignd, s3):
    """1001 parts (tiny: only Complete needs 5 MiB) span two ListParts pages."""
    d = presignd({"uploads": {"max_multipart_size": 10 * 1024 * MiB}})
    up = ok(d.post("/s3/multipart", json={"filename": "many.bin"}))
    session = requests.Session()
    for n in range(1, 1002):
        signed = ok(d.get(mp_path(up["uploadId"], "/%d" % n), params={"key": up["key"]}))
        assert session.put(signed["url"], data=b"%d" % n, timeout=30).status_code == 200
    listed = ok(d.get(mp_path(up["uploadId"]), params={"key": up["key"]}))
    assert [p["PartNumber"] for p in listed] == list(range(1, 1002))
    assert ok(d.delete(mp_path(up["uploadId"]), params={"key": up["key"]})) == {}


def test_abort(presignd, s3):
    d = presignd()
    up = ok(d.post("/s3/multipart", json={"filename": "gone.bin"}))
    put_part(d, up, 1, b"x" * 100)
    assert ok(d.delete(mp_path(up["uploadId"]), params={"key": up["key"]})) == {}
    assert upload_gone(s3, up["key"], up["uploadId"])
    r = d.get(mp_path(up["uploadId"]), params={"key": up["key"]})
    assert error_shape_problem(r, 404, "upload_not_found") is None
    # Aborting again is what the client wanted anyway.
    assert ok(d.delete(mp_path(up["uploadId"]), params={"key": up["key"]})) == {}


def test_complete_over_the_limit_is_refused_and_aborted(presignd, s3):
    d = presignd({"uploads": {"max_multipart_size": 6 * MiB}})
    up = ok(d.post("/s3/multipart", json={"filename": "huge.bin"}))
    e1 = put_part(d, up, 1, os.urandom(5 * MiB))
    e2 = put_part(d, up, 2, os.urandom(2 * MiB))
    r = d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]},
               json={"parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert error_shape_problem(r, 413, "file_too_large") is None
    assert "aborted" in r.json()["detail"]
    assert r.json()["message"] == r.json()["detail"]       # what Uppy shows
    assert upload_gone(s3, up["key"], up["uploadId"])
    # A part number only an oversized upload can have is not even signed:
    # parts 1 and 2 would already hold 10 MiB.
    up = ok(d.post("/s3/multipart", json={"filename": "huge.bin"}))
    r = d.get(mp_path(up["uploadId"], "/3"), params={"key": up["key"]})
    assert error_shape_problem(r, 413, "file_too_large") is None
    ok(d.delete(mp_path(up["uploadId"]), params={"key": up["key"]}))


def test_multipart_limit_defaults_to_max_file_size(presignd, s3):
    d = presignd({"presign": {"max_file_size": 6 * MiB}})
    up = ok(d.post("/s3/multipart", json={"filename": "big.bin"}))
    assert error_shape_problem(d.get(mp_path(up["uploadId"], "/3"), params={"key": up["key"]}),
                               413, "file_too_large") is None
    ok(d.delete(mp_path(up["uploadId"]), params={"key": up["key"]}))


def test_complete_checks_the_listed_parts(presignd, s3):
    d = presignd()
    up = ok(d.post("/s3/multipart", json={"filename": "check.bin"}))
    e1 = put_part(d, up, 1, os.urandom(5 * MiB))
    e2 = put_part(d, up, 2, b"tail")
    path = mp_path(up["uploadId"], "/complete")
    # A part never uploaded, and an ETag S3 does not have for that part.
    for parts, why in (([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}],
                        "was not uploaded"),
                       ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e1}],
                        "another ETag")):
        r = d.post(path, params={"key": up["key"]}, json={"parts": parts})
        assert error_shape_problem(r, 400, "invalid_part") is None
        assert why in r.json()["detail"]
    # Too small a first part: S3 says so, presignd passes it on.
    up2 = ok(d.post("/s3/multipart", json={"filename": "small.bin"}))
    s1 = put_part(d, up2, 1, b"a" * 10)
    s2 = put_part(d, up2, 2, b"b" * 10)
    r = d.post(mp_path(up2["uploadId"], "/complete"), params={"key": up2["key"]},
               json={"parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]})
    assert error_shape_problem(r, 400, "part_too_small") is None
    for bad in ([], [{"PartNumber": 0, "ETag": e1}], [{"PartNumber": 1}],
                [{"PartNumber": "1", "ETag": e1}], [{"PartNumber": 1, "ETag": e1}] * 2,
                [{"PartNumber": 1, "ETag": "<x/>"}], "nope"):
        r = d.post(path, params={"key": up["key"]}, json={"parts": bad})
        assert r.status_code == 400, (bad, r.text)
    ok(d.post(path, params={"key": up["key"]},
              json={"parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}))


def test_keys_stay_in_the_principals_prefix(presignd, s3):
    d = presignd(AUTH)
    up = ok(d.post("/s3/multipart", json={"filename": "mine.bin"}, headers=bearer("alice")))
    assert up["key"].startswith("uploads/alice/")
    for path in (mp_path(up["uploadId"], "/1"), mp_path(up["uploadId"])):
        r = d.get(path, params={"key": up["key"]}, headers=bearer("bob"))
        assert error_shape_problem(r, 403, "forbidden") is None
    r = d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]},
               json={"parts": [{"PartNumber": 1, "ETag": "00"}]}, headers=bearer("bob"))
    assert error_shape_problem(r, 403, "forbidden") is None
    r = d.delete(mp_path(up["uploadId"]), params={"key": up["key"]}, headers=bearer("bob"))
    assert error_shape_problem(r, 403, "forbidden") is None
    # Bob's own key with Alice's uploadId: S3 knows no such upload.
    mine = ok(d.post("/s3/multipart", json={"filename": "b.bin"}, headers=bearer("bob")))
    r = d.get(mp_path(up["uploadId"]), params={"key": mine["key"]}, headers=bearer("bob"))
    assert error_shape_problem(r, 404, "upload_not_found") is None
    # Outside uploads.prefix altogether.
    r = d.get(mp_path(up["uploadId"], "/1"), params={"key": "elsewhere/x.bin"},
              headers=bearer("alice"))
    assert error_shape_problem(r, 400, "invalid_file_key") is None
    # Without credentials: 401, with the message Uppy shows.
    r = d.post("/s3/multipart", json={"filename": "x.bin"})
    assert error_shape_problem(r, 401, "unauthorized") is None
    for name, u in (("alice", up), ("bob", mine)):
        ok(d.delete(mp_path(u["uploadId"]), params={"key": u["key"]}, headers=bearer(name)))


@pytest.mark.parametrize("path,params,code", [
    ("/s3/multipart/x/1", {}, "missing_field"),
    ("/s3/multipart/x/0", {"key": "uploads/a.bin"}, "invalid_field"),
    ("/s3/multipart/x/10001", {"key": "uploads/a.bin"}, "invalid_field"),
    ("/s3/multipart/x/1e3", {"key": "uploads/a.bin"}, "invalid_field"),
    ("/s3/multipart/x/batch", {"key": "uploads/a.bin"}, "missing_field"),
    ("/s3/multipart/x/batch", {"key": "uploads/a.bin", "partNumbers": "1,,2"}, "invalid_field"),
    ("/s3/multipart/x/batch", {"key": "uploads/a.bin", "partNumbers": "1,x"}, "invalid_field"),
    ("/s3/multipart/%01/1", {"key": "uploads/a.bin"}, "invalid_field"),
    ("/s3/multipart/x/1", {"key": "uploads/../a.bin"}, "invalid_file_key"),
    ("/s3/params", {}, "missing_field"),
    ("/s3/params", {"filename": "a.exe"}, "file_type_not_allowed"),
    ("/s3/params", {"filename": "a.pdf", "type": "image/png"}, "content_type_mismatch"),
    ("/s3/params", {"filename": "a.pdf", "metadata[b c]": "x"}, "invalid_field"),
    ("/s3/params", {"filename": "a.pdf", "metadata[x]": "a\nb"}, "invalid_field"),
    ("/s3/params", {"filename": "a.pdf", "metadata[x]": "y" * 3000}, "invalid_field"),
    ("/s3/params", {"filename": "a.pdf", "method": "PATCH"}, "invalid_field"),
    ("/s3/params", {"filename": "a.pdf", "method": "PUT"}, "size_required"),
    ("/s3/params", {"filename": "a.pdf", "size": "-1"}, "invalid_field"),
])
def test_uppy_route_errors(presignd, path, params, code):
    d = presignd()
    r = d.get(path, params=params)
    assert error_shape_problem(r, 400, code) is None
    assert r.json()["message"] == r.json()["detail"]


def test_batch_signs_several_parts(presignd, s3):
    d = presignd()
    up = ok(d.post("/s3/multipart", json={"filename": "batch.bin"}))
    urls = ok(d.get(mp_path(up["uploadId"], "/batch"),
                    params={"key": up["key"], "partNumbers": "1,2,3"}))["presignedUrls"]
    assert sorted(urls) == ["1", "2", "3"]
    for n, url in urls.items():
        assert requests.put(url, data=n.encode() * 10, timeout=30).status_code == 200
    assert len(ok(d.get(mp_path(up["uploadId"]), params={"key": up["key"]}))) == 3
    ok(d.delete(mp_path(up["uploadId"]), params={"key": up["key"]}))


# ------------------------------------------------------------ POST policies

def test_s3_params_is_a_post_policy_s3_enforces(presignd, s3):
    d = presignd({"presign": {"max_file_size": 1000}})
    p = ok(d.get("/s3/params", params={"filename": "notes.txt", "type": "text/plain",
                                        "metadata[caption]": "hello", "metadata[relativePath]":
                                        "null"}))
    assert p["method"] == "POST" and "headers" not in p
    assert p["url"] == "%s/%s/" % (s3.endpoint, s3.bucket)     # Uppy 6 appends the key
    f = p["fields"]
    assert list(f)[:3] == ["key", "Content-Type", "x-amz-meta-caption"]
    assert f["Content-Type"] == "text/plain" and "x-amz-meta-relativepath" not in f
    policy = json.loads(__import__("base64").b64decode(f["policy"]))
    conds = policy["conditions"]
    assert ["content-length-range", 0, 1000] in conds
    assert ["eq", "$key", f["key"]] in conds

    # Refused by S3: too large, another Content-Type, another key, an
    # extra field, a changed signature.
    assert form_post(p["url"], f, b"x" * 1001, file_type="text/plain").status_code in (400, 403)
    assert form_post(p["url"], dict(f, **{"Content-Type": "text/html"}), b"x").status_code == 403
    assert form_post(p["url"], dict(f, key=f["key"] + "x"), b"x").status_code == 403
    assert form_post(p["url"], dict(f, acl="public-read"), b"x").status_code == 403
    sig = f["x-amz-signature"]
    bad = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert form_post(p["url"], dict(f, **{"x-amz-signature": bad}), b"x").status_code == 403
    # The right bytes go in, with the metadata.
    r = form_post(p["url"], f, b"hello form", "notes.txt", "text/plain")
    assert r.status_code in (200, 201, 204), r.text
    data, obj = stored(s3, f["key"])
    assert data == b"hello form" and obj["ContentType"] == "text/plain"
    assert obj["Metadata"] == {"caption": "hello"}


def test_post_policy_expires(presignd, s3):
    d = presignd({"presign": {"expires": 1}})
    p = ok(d.post("/upload-form", json={"filename": "late.txt", "size": 4}))
    time.sleep(2.2)
    assert form_post(p["url"], p["fields"], b"late").status_code == 403


def test_upload_form(presignd, s3):
    d = presignd()
    p = ok(d.post("/upload-form", json={"filename": "form.pdf", "content_type": "APPLICATION/PDF",
                                         "size": 5}))
    assert p["method"] == "POST" and p["file_key"] == p["fields"]["key"]
    assert p["content_type"] == "APPLICATION/PDF" and p["size"] == 5
    assert p["expires_at"].endswith("Z") and p["max_file_size"] == 52428800
    # Exactly the size given: S3 refuses one byte more or less.
    assert form_post(p["url"], p["fields"], b"123456").status_code in (400, 403)
    assert form_post(p["url"], p["fields"], b"1234").status_code in (400, 403)
    assert form_post(p["url"], p["fields"], b"12345").status_code in (200, 201, 204)
    assert stored(s3, p["file_key"])[0] == b"12345"
    # Without a size: anything up to max_file_size.
    p = ok(d.post("/upload-form", json={"filename": "any.txt"}))
    assert p["size"] is None
    assert form_post(p["url"], p["fields"], b"x" * 5000).status_code in (200, 201, 204)
    for body, code in (({"filename": "a.exe"}, "file_type_not_allowed"),
                       ({"filename": "a.txt", "size": 52428801}, "file_too_large"),
                       ({"filename": "a.txt", "extra": 1}, "unknown_field")):
        r = d.post("/upload-form", json=body)
        assert error_shape_problem(r, 413 if code == "file_too_large" else 400, code) is None


def test_s3_params_put_for_clients_that_honour_method(presignd, s3):
    d = presignd()
    p = ok(d.get("/s3/params", params={"filename": "p.txt", "method": "PUT", "size": "3",
                                        "metadata[caption]": "hi"}))
    assert p["method"] == "PUT" and p["fields"] == {}
    # Content-Length is signed but not listed: a browser refuses to set it.
    assert p["headers"] == {"Content-Type": "text/plain", "If-None-Match": "*",
                            "x-amz-meta-caption": "hi"}
    h = p["headers"]
    assert requests.put(p["url"], data=b"abcd", headers=h, timeout=30).status_code == 403
    assert requests.put(p["url"], data=b"abc", headers=h, timeout=30).status_code == 200
    assert requests.put(p["url"], data=b"abc", headers=h, timeout=30).status_code == 412
    data, obj = stored(s3, urlsplit(p["url"]).path.split("/", 2)[2])
    assert data == b"abc" and obj["Metadata"] == {"caption": "hi"}
    # What Uppy 4 and 5 send (Accept: application/json) with the size in the
    # file's metadata: a PUT too. Uppy 6 (no such Accept) gets the policy.
    p = ok(d.get("/s3/params", params={"filename": "p.txt", "metadata[size]": "3"},
                 headers={"Accept": "application/json"}))
    assert p["method"] == "PUT"
    p = ok(d.get("/s3/params", params={"filename": "p.txt", "metadata[size]": "3"},
                 headers={"Accept": "*/*"}))
    assert p["method"] == "POST"
    p = ok(d.get("/s3/params", params={"filename": "p.txt"},
                 headers={"Accept": "application/json"}))
    assert p["method"] == "POST"


# ------------------------------------------------------------ /s3/sign

def sign(d, body, who="alice"):
    return d.post("/s3/sign", json=body, headers=bearer(who))


def test_sign_request_flows(presignd, s3, tmp_path):
    """Uppy 6's signRequest: the browser sends every request to S3 itself."""
    audit = tmp_path / "audit.log"
    d = presignd(dict(AUTH, uploads={"max_multipart_size": 64 * MiB},
                      audit={"log_file": str(audit)}))
    proposal = "%s-photo one.jpg" % uuid.uuid4()
    # PutObject: a new key, type and length signed.
    s = ok(sign(d, {"method": "PUT", "key": proposal, "type": "image/jpeg", "size": 4}))
    assert s["key"].startswith("uploads/alice/") and s["key"].endswith("-photo one.jpg")
    assert s["headers"] == {"Content-Type": "image/jpeg", "Content-Length": "4"}
    assert requests.put(s["url"], data=b"jpeg", headers={"Content-Type": "image/jpeg"},
                        timeout=30).status_code == 200
    assert requests.put(s["url"], data=b"jpegs", headers={"Content-Type": "image/jpeg"},
                        timeout=30).status_code == 403
    assert stored(s3, s["key"])[0] == b"jpeg"
    r = sign(d, {"method": "PUT", "key": proposal, "type": "image/jpeg"})
    assert error_shape_problem(r, 400, "size_required") is None

    # Multipart: create, parts, list, complete, all straight to S3.
    c = ok(sign(d, {"method": "POST", "key": "%s-video.bin" % uuid.uuid4(),
                    "type": "application/octet-stream", "size": 6 * MiB}))
    r = requests.post(c["url"], headers={"Content-Type": "application/octet-stream"},
                      timeout=30)
    assert r.status_code == 200, r.text
    upload_id = r.text.split("<UploadId>")[1].split("</UploadId>")[0]
    key = c["key"]
    parts = [os.urandom(5 * MiB), os.urandom(MiB)]
    etags = []
    for n, data in enumerate(parts, 1):
        u = ok(sign(d, {"method": "PUT", "key": key, "uploadId": upload_id, "partNumber": n}))
        r = requests.put(u["url"], data=data, timeout=60)
        assert r.status_code == 200
        etags.append(r.headers["ETag"])
    lst = ok(sign(d, {"method": "GET", "key": key, "uploadId": upload_id}))
    r = requests.get(lst["url"], timeout=30)
    assert r.status_code == 200 and r.text.count("<Part>") == 2
    done = ok(sign(d, {"method": "POST", "key": key, "uploadId": upload_id}))
    xml = "<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e.strip('"'))
        for n, e in enumerate(etags, 1))
    r = requests.post(done["url"], data=xml, headers={"Content-Type": "application/xml"},
                      timeout=60)
    assert r.status_code == 200 and "<Key>" in r.text, r.text
    assert stored(s3, key)[0] == b"".join(parts)

    # Abort, and another principal's key.
    c = ok(sign(d, {"method": "POST", "key": "x-a.bin", "type": "application/octet-stream"}))
    upload_id = requests.post(c["url"], headers={"Content-Type": "application/octet-stream"},
                              timeout=30).text.split("<UploadId>")[1].split("</UploadId>")[0]
    r = sign(d, {"method": "PUT", "key": c["key"], "uploadId": upload_id, "partNumber": 1},
             who="bob")
    assert error_shape_problem(r, 403, "forbidden") is None
    a = ok(sign(d, {"method": "DELETE", "key": c["key"], "uploadId": upload_id}))
    assert requests.delete(a["url"], timeout=30).status_code == 204
    assert upload_gone(s3, c["key"], upload_id)

    # Not uploads: reading and deleting objects have routes of their own.
    for body in ({"method": "GET", "key": s["key"]}, {"method": "DELETE", "key": s["key"]},
                 {"method": "PATCH", "key": s["key"]},
                 {"method": "PUT", "key": key, "uploadId": upload_id},
                 {"method": "PUT", "key": key, "partNumber": 1}):
        assert error_shape_problem(sign(d, body), 400) is None, body

    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    actions = [x["action"] for x in lines if x["outcome"] == "granted"]
    for a in ("upload", "multipart_create", "multipart_sign_part", "multipart_list_parts",
              "multipart_complete", "multipart_abort"):
        assert a in actions, (a, actions)
    assert all(x["upload_id"] for x in lines if x["action"].startswith("multipart_") and
               x["action"] != "multipart_create" and x["outcome"] == "granted")


def test_sign_complete_over_the_limit(presignd, s3):
    d = presignd(dict(AUTH, uploads={"max_multipart_size": 6 * MiB}))
    c = ok(sign(d, {"method": "POST", "key": "x-big.bin", "type": "application/octet-stream"}))
    upload_id = requests.post(c["url"], headers={"Content-Type": "application/octet-stream"},
                              timeout=30).text.split("<UploadId>")[1].split("</UploadId>")[0]
    for n, size in ((1, 5 * MiB), (2, 2 * MiB)):
        u = ok(sign(d, {"method": "PUT", "key": c["key"], "uploadId": upload_id,
                        "partNumber": n}))
        assert requests.put(u["url"], data=os.urandom(size), timeout=60).status_code == 200
    r = sign(d, {"method": "POST", "key": c["key"], "uploadId": upload_id})
    assert error_shape_problem(r, 413, "file_too_large") is None
    assert upload_gone(s3, c["key"], upload_id)
    r = sign(d, {"method": "POST", "key": "x.bin", "type": "application/octet-stream",
                 "size": 7 * MiB})
    assert error_shape_problem(r, 413, "file_too_large") is None


def test_audit_lines_of_companion_routes(presignd, s3, tmp_path):
    audit = tmp_path / "audit.log"
    d = presignd(dict(AUTH, audit={"log_file": str(audit)}))
    h = bearer("alice")
    up = ok(d.post("/s3/multipart", json={"filename": "a.bin"}, headers=h))
    e = put_part(d, up, 1, b"abc", headers=h)
    ok(d.get(mp_path(up["uploadId"]), params={"key": up["key"]}, headers=h))
    ok(d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]}, headers=h,
              json={"parts": [{"PartNumber": 1, "ETag": e}]}))
    up2 = ok(d.post("/s3/multipart", json={"filename": "b.bin"}, headers=h))
    ok(d.delete(mp_path(up2["uploadId"]), params={"key": up2["key"]}, headers=h))
    ok(d.get("/s3/params", params={"filename": "c.txt"}, headers=h))
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    got = [(x["action"], x["key"], x.get("upload_id")) for x in lines]
    assert got == [
        ("multipart_create", up["key"], up["uploadId"]),
        ("multipart_sign_part", up["key"], up["uploadId"]),
        ("multipart_list_parts", up["key"], up["uploadId"]),
        ("multipart_complete", up["key"], up["uploadId"]),
        ("multipart_create", up2["key"], up2["uploadId"]),
        ("multipart_abort", up2["key"], up2["uploadId"]),
        ("upload", got[-1][1], None),
    ]
    assert all(x["principal"] == "alice" and x["outcome"] == "granted" for x in lines)
    assert lines[3]["size"] == 3


def test_flows_under_sanitizers(presignd_asan, s3):
    d = presignd_asan({"uploads": {"max_multipart_size": 6 * MiB}})
    up = ok(d.post("/s3/multipart", json={"filename": "asan.bin", "metadata": {
        "a": "b", "c": None, "d": "\u00e9"}}))
    e1 = put_part(d, up, 1, os.urandom(5 * MiB))
    e2 = put_part(d, up, 2, b"end")
    ok(d.get(mp_path(up["uploadId"], "/batch"), params={"key": up["key"], "partNumbers": "1,2"}))
    ok(d.get(mp_path(up["uploadId"]), params={"key": up["key"]}))
    d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]},
           json={"parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 9, "ETag": e2}]})
    ok(d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]},
              json={"parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]}))
    up = ok(d.post("/s3/multipart", json={"filename": "asan2.bin"}))
    put_part(d, up, 1, os.urandom(5 * MiB))
    put_part(d, up, 2, os.urandom(2 * MiB))
    listed = ok(d.get(mp_path(up["uploadId"]), params={"key": up["key"]}))
    r = d.post(mp_path(up["uploadId"], "/complete"), params={"key": up["key"]},
               json={"parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                               for p in listed]})
    assert r.status_code == 413
    ok(d.get("/s3/params", params={"filename": "a.txt", "metadata[x]": "y"}))
    ok(d.get("/s3/params", params={"filename": "a.txt", "method": "PUT", "size": "1"}))
    ok(d.post("/upload-form", json={"filename": "a.txt"}))
    for body in ({"method": "PUT", "key": "k-a.txt", "size": 1},
                 {"method": "POST", "key": "k-a.bin"},
                 {"method": "GET", "key": up["key"], "uploadId": up["uploadId"]},
                 {"method": "POST", "key": up["key"], "uploadId": "nope"},
                 {"method": "DELETE", "key": up["key"], "uploadId": "nope"}):
        d.post("/s3/sign", json=body)
