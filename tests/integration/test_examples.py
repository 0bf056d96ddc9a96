"""examples/presignd_client.py against a real presignd and a signature-checking
S3: upload a file (through its presigned URL, with a progress bar), see it
listed, download it and compare the bytes, delete it. Also the static parts
of the browser page in examples/ (the browser flow is test_browser.py).
"""
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CLIENT = EXAMPLES / "presignd_client.py"
PYTHON = "/usr/bin/python3"


def client(url, *args, check=True, cwd=None):
    out = subprocess.run([PYTHON, str(CLIENT), "--url", url, *args], capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    if check:
        assert out.returncode == 0, f"{args}: rc={out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def test_client_round_trip(presignd, s3, tmp_path):
    d = presignd()
    data = os.urandom(3 * 1024 * 1024 + 123)  # several read chunks
    name = f"example-{uuid.uuid4().hex[:8]}.bin"
    src = tmp_path / name
    src.write_bytes(data)

    up = client(d.url, "upload", str(src))
    key = up.stdout.strip()
    assert re.fullmatch(rf"uploads/[0-9a-f-]{{36}}-{re.escape(name)}", key), key
    # The progress bar reached the end.
    assert "100%" in up.stderr and "[" + "#" * 30 + "]" in up.stderr, up.stderr
    # It really is in S3, byte for byte, with the type presignd allowed.
    obj = s3.client().get_object(Bucket=s3.bucket, Key=key)
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "application/octet-stream"

    ls = client(d.url, "list", "--prefix", "uploads/", "--all")
    rows = [line.split() for line in ls.stdout.splitlines()]
    row = next(r for r in rows if r[-1] == key)
    assert int(row[0]) == len(data)

    ls_json = client(d.url, "list", "--json")
    assert key in ls_json.stdout

    out = tmp_path / "downloaded.bin"
    client(d.url, "download", key, "-o", str(out))
    assert out.read_bytes() == data

    # Without -o: the original file name, in the current directory.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    client(d.url, "-q", "download", key, cwd=workdir)
    assert (workdir / name).read_bytes() == data

    rm = client(d.url, "delete", key)
    assert "deleted" in rm.stderr
    ls = client(d.url, "list", "--all")
    assert key not in ls.stdout
    gone = client(d.url, "download", key, "-o", str(tmp_path / "gone"), check=False)
    assert gone.returncode == 1
    assert "404" in gone.stderr and "file_not_found" in gone.stderr
    assert not (tmp_path / "gone").exists() and not (tmp_path / "gone.part").exists()


def test_client_upload_with_content_type(presignd, s3, tmp_path):
    d = presignd()
    src = tmp_path / "notes.txt"
    src.write_text("hello, presignd\n")
    key = client(d.url, "-q", "upload", str(src), "--content-type", "text/plain",
                 "--name", "renamed.txt").stdout.strip()
    assert key.endswith("-renamed.txt")
    obj = s3.client().get_object(Bucket=s3.bucket, Key=key)
    assert obj["ContentType"] == "text/plain"
    assert obj["Body"].read() == b"hello, presignd\n"
    client(d.url, "-q", "delete", key)


def test_client_reports_refusals(presignd, tmp_path):
    d = presignd()
    src = tmp_path / "program.exe"
    src.write_bytes(b"MZ")
    out = client(d.url, "upload", str(src), check=False)
    assert out.returncode == 1
    assert "400 file_type_not_allowed" in out.stderr
    src = tmp_path / "a.txt"
    src.write_text("x")
    out = client(d.url, "upload", str(src), "--content-type", "image/png", check=False)
    assert out.returncode == 1 and "content_type_mismatch" in out.stderr
    out = client(d.url, "delete", "elsewhere/x.txt", check=False)
    assert out.returncode == 1 and "400" in out.stderr


def test_client_unreachable_server(tmp_path):
    import harness
    src = tmp_path / "a.txt"
    src.write_text("x")
    out = client(f"http://127.0.0.1:{harness.free_port()}", "upload", str(src), check=False)
    assert out.returncode == 2
    assert "cannot reach presignd" in out.stderr


def test_client_only_needs_stdlib_and_requests():
    text = CLIENT.read_text()
    imports = set(re.findall(r"^(?:import|from)\s+([a-zA-Z_][a-zA-Z0-9_]*)", text, re.M))
    stdlib = set(getattr(sys, "stdlib_module_names", ())) or {"argparse", "json", "os", "sys", "time"}
    assert imports - stdlib <= {"requests"}, imports - stdlib


def test_page_files_are_consistent():
    html = (EXAMPLES / "index.html").read_text()
    js = (EXAMPLES / "app.js").read_text()
    assert 'src="app.js"' in html and 'href="style.css"' in html
    assert (EXAMPLES / "style.css").is_file()
    # The API base comes from ?api=..., defaulting to make run's presignd.
    assert "http://127.0.0.1:8000" in js
    assert re.search(r"searchParams\b.*|URLSearchParams", js)
    assert re.search(r"\.get\(['\"]api['\"]\)", js)
    # Uploads go through XMLHttpRequest (progress events), sending the
    # headers presignd returned.
    assert "new XMLHttpRequest()" in js
    assert re.search(r"upload\.(onprogress\s*=|addEventListener\(['\"]progress['\"])", js)
    assert "grant.headers" in js and "setRequestHeader" in js
    for path in ("/upload-url", "/download-url", "/files"):
        assert path in js, path
    # Every element the script looks up exists in the page.
    for element_id in re.findall(r"getElementById\(['\"]([A-Za-z0-9_-]+)['\"]\)", js):
        assert f'id="{element_id}"' in html, element_id
    if subprocess.run(["which", "node"], capture_output=True).returncode == 0:
        out = subprocess.run(["node", "--check", str(EXAMPLES / "app.js")], capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
