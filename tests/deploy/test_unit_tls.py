"""HTTPS under systemd, as documented: the drop-in with LoadCredential= and
the server.tls paths that the comments of systemd/presignd.service and the
README's "HTTPS without a load balancer" show are taken from those texts
and checked, so that the documentation cannot drift from what works:

  - the drop-in verifies cleanly (`systemd-analyze verify` on the rendered
    unit with the drop-in beside it, which verify reads);
  - the configuration names the copies systemd makes, in full, under
    /run/credentials/presignd.service/ with the credential IDs of the
    drop-in (presignd expands neither %d nor $CREDENTIALS_DIRECTORY);
  - that configuration, with a real certificate and key at those names (in
    a temporary directory standing in for the credentials directory),
    passes `presignd -t`.
"""
import os
import re
import subprocess

import pytest
import yaml

import test_unitfile
from test_unitfile import UNIT_SRC, analyze_verify

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")
CRED_DIR = "/run/credentials/presignd.service/"

unit = test_unitfile.unit          # the rendered unit (a fixture)


def _unit_examples():
    """The indented blocks of the unit file's comments from the HTTPS part
    on: each a list of lines without the leading '#     '."""
    with open(UNIT_SRC) as f:
        lines = f.read().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# HTTPS (server.tls)"))
    blocks, cur = [], []
    for ln in lines[start:]:
        if not ln.startswith("#"):
            break
        if ln.startswith("#     "):
            cur.append(ln[6:])
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def _readme_examples():
    """The fenced blocks of the README's HTTPS section, each as lines."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"^## HTTPS without a load balancer\n(.*?)(?=^## )", text, re.M | re.S)
    assert m, "README has no section 'HTTPS without a load balancer'"
    blocks = re.findall(r"^( *)```[a-z]*\n(.*?)^\1```", m.group(1), re.M | re.S)
    return [[ln[len(indent):] for ln in body.splitlines()] for indent, body in blocks]


def _dropin(blocks):
    found = [b for b in blocks if b and b[0].strip() == "[Service]" and
             any(ln.startswith("LoadCredential=") for ln in b)]
    assert found, "no [Service] block with LoadCredential= in %r" % blocks
    return found[0]


def _tls_config(blocks):
    for b in blocks:
        try:
            doc = yaml.safe_load("\n".join(b))
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("server"), dict) and \
                "tls" in doc["server"]:
            return doc
    raise AssertionError("no YAML block with server.tls in %r" % blocks)


def _credential_ids(dropin):
    ids = {}
    for ln in dropin:
        if ln.startswith("LoadCredential="):
            cid, _, src = ln[len("LoadCredential="):].partition(":")
            ids[cid] = src
    return ids


@pytest.fixture(params=["unit file", "README"])
def examples(request):
    return _unit_examples() if request.param == "unit file" else _readme_examples()


def test_documented_dropin_verifies(unit, tmp_path, examples):
    dropin = _dropin(examples)
    d = tmp_path / "presignd.service.d"
    d.mkdir()
    (d / "tls.conf").write_text("\n".join(dropin) + "\n")
    findings, lines = analyze_verify(unit, options=("--man=no",))
    assert not findings, "\n".join(lines)
    ids = _credential_ids(dropin)
    assert set(ids) >= {"tls.crt", "tls.key"}, ids
    assert ids["tls.crt"].endswith("/fullchain.pem") and ids["tls.key"].endswith("/privkey.pem")


def test_documented_config_names_the_credential_copies(tmp_path, examples):
    ids = _credential_ids(_dropin(examples))
    tls = _tls_config(examples)["server"]["tls"]
    for k in ("certificate", "key"):
        assert tls[k].startswith(CRED_DIR), "%s: %r is not under %s" % (k, tls[k], CRED_DIR)
        assert tls[k][len(CRED_DIR):] in ids, "%s: %r is not a LoadCredential= ID %s" % (
            k, tls[k], sorted(ids))
        assert "%" not in tls[k] and "$" not in tls[k]

    # With a certificate and key where the copies would be: presignd -t.
    creds = tmp_path / "credentials"
    creds.mkdir()
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-subj", "/CN=files.example.com",
                        "-keyout", str(creds / tls["key"][len(CRED_DIR):]),
                        "-out", str(creds / tls["certificate"][len(CRED_DIR):])],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cfg = {"server": {"listen": "127.0.0.1:8000",
                      "tls": {k: (v.replace(CRED_DIR, str(creds) + "/")
                                  if isinstance(v, str) else v) for k, v in tls.items()}},
           "s3": {"bucket": "presignd-docs-check", "region": "us-east-1"}}
    path = tmp_path / "presignd.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    binary = os.environ.get("PRESIGND_BIN") or os.path.join(ROOT, "build", "presignd")
    r = subprocess.run([binary, "-t", "-c", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
