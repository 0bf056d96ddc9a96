#!/usr/bin/python3
"""jwt_vectors.py - JWT test vectors made with PyJWT and cryptography (Debian's
python3-jwt, python3-cryptography), for tests/unit/test_jwt.c: an independent
implementation decides what a token is, presignd's verifier must agree.

    jwt_vectors.py DIR

writes DIR/jwks.json (the identity provider's keys) and DIR/vectors.tsv, one
line per case: NAME, ALGORITHMS (the allow-list: RS256,ES256), EXPECTED
(a jwt_status_name() value), SUB (expected on "ok", "-" else), TOKEN. The
first line is "now<TAB>UNIX-TIME": every time claim is relative to it.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

NOW = 1_800_000_000
ISS = "https://idp.example.com/"
AUD = "presignd"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_int(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def rsa_jwk(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64u_int(pub.n), "e": b64u_int(pub.e)}


def ec_jwk(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
            "x": b64u(pub.x.to_bytes(32, "big")), "y": b64u(pub.y.to_bytes(32, "big"))}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [rsa_jwk(rsa_key, "rsa1"), ec_jwk(ec_key, "ec1"),
                     rsa_jwk(rsa_small, "small"),
                     {"kty": "oct", "kid": "hmac", "k": b64u(b"secret")}]}
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump(jwks, f)

    def claims(**over):
        c = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW - 10, "exp": NOW + 600,
             "scope": "upload download"}
        for k, v in over.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def rs(c, kid="rsa1", key=rsa_key, headers=None):
        return jwt.encode(c, key, algorithm="RS256", headers=dict({"kid": kid}, **(headers or {})))

    def es(c, kid="ec1"):
        return jwt.encode(c, ec_key, algorithm="ES256", headers={"kid": kid})

    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)

    def hs256_with(secret, header, payload):
        """The classic key-confusion attack: HMAC with the public key's PEM."""
        signing = "%s.%s" % (b64u(json.dumps(header).encode()), b64u(json.dumps(payload).encode()))
        mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
        return signing + "." + b64u(mac)

    def raw(header, payload, sig=b""):
        return "%s.%s.%s" % (b64u(json.dumps(header).encode()),
                             b64u(json.dumps(payload).encode()), b64u(sig))

    both = "RS256,ES256"
    rows = [
        ("rs256 ok", both, "ok", "alice", rs(claims())),
        ("es256 ok", both, "ok", "alice", es(claims())),
        ("aud in an array", both, "ok", "alice", rs(claims(aud=["other", AUD]))),
        ("exp within the leeway", both, "ok", "alice", rs(claims(exp=NOW - 30))),
        ("nbf within the leeway", both, "ok", "alice", rs(claims(nbf=NOW + 30))),
        ("expired", both, "expired", "-", rs(claims(exp=NOW - 61))),
        ("not yet valid", both, "not_yet_valid", "-", rs(claims(nbf=NOW + 61))),
        ("issued in the future", both, "not_yet_valid", "-", rs(claims(iat=NOW + 3600))),
        ("no exp", both, "malformed", "-", rs(claims(exp=None))),
        ("string exp", both, "malformed", "-", rs(claims(exp="tomorrow"))),
        ("wrong issuer", both, "wrong_issuer", "-", rs(claims(iss="https://evil.example/"))),
        ("no issuer", both, "wrong_issuer", "-", rs(claims(iss=None))),
        ("wrong audience", both, "wrong_audience", "-", rs(claims(aud="other"))),
        ("no audience", both, "wrong_audience", "-", rs(claims(aud=None))),
        ("signed by another key", both, "bad_signature", "-", rs(claims(), key=rsa_other)),
        ("unknown kid", both, "unknown_kid", "-", rs(claims(), kid="rotated")),
        ("RSA key under 2048 bits", both, "unknown_kid", "-",
         rs(claims(), kid="small", key=rsa_small)),
        ("es256 not allowed", "RS256", "algorithm_refused", "-", es(claims())),
        ("rs256 not allowed", "ES256", "algorithm_refused", "-", rs(claims())),
        ("RS256 header on the EC key", both, "algorithm_refused", "-", rs(claims(), kid="ec1")),
        ("alg none", both, "algorithm_refused", "-",
         raw({"alg": "none", "typ": "JWT", "kid": "rsa1"}, claims())),
        ("HS256 with the RSA public key as secret", both, "algorithm_refused", "-",
         hs256_with(pem, {"alg": "HS256", "kid": "rsa1"}, claims())),
        ("crit header", both, "algorithm_refused", "-",
         rs(claims(), headers={"crit": ["exp"], "exp": 1})),
        ("two parts", both, "malformed", "-", ".".join(rs(claims()).split(".")[:2])),
        ("four parts", both, "malformed", "-", rs(claims()) + ".x"),
        ("header not base64url", both, "malformed", "-", "!!!." + rs(claims()).split(".", 1)[1]),
    ]
    # A payload changed after signing: the signature no longer matches.
    h, p, s = rs(claims()).split(".")
    evil = b64u(json.dumps(claims(sub="bob")).encode())
    rows.append(("tampered payload", both, "bad_signature", "-", "%s.%s.%s" % (h, evil, s)))
    h, p, s = es(claims()).split(".")
    sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    sig[-1] ^= 1
    rows.append(("es256 signature changed", both, "bad_signature", "-",
                 "%s.%s.%s" % (h, p, b64u(bytes(sig)))))
    rows.append(("es256 signature cut", both, "bad_signature", "-",
                 "%s.%s.%s" % (h, p, b64u(bytes(sig[:48])))))

    with open(os.path.join(out, "vectors.tsv"), "w") as f:
        f.write("now\t%d\n" % NOW)
        for name, algs, expect, sub, token in rows:
            f.write("%s\t%s\t%s\t%s\t%s\n" % (name, algs, expect, sub, token))


if __name__ == "__main__":
    main()
