/*
 * jwt.c - JWS verification against a JWKS (see jwt.h).
 */
#include "jwt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "b64.h"
#include "errbuf.h"

#define JWKS_MAX_KEYS   64
#define KID_MAX         256
#define RSA_MIN_BITS    2048

enum kty { KTY_RSA, KTY_EC256 };

struct jwk {
    char *kid;              /* NULL when the JWK has none */
    enum kty kty;
    unsigned alg;           /* the JWK's own "alg", 0 when absent */
    EVP_PKEY *pkey;
};

struct jwks {
    struct jwk keys[JWKS_MAX_KEYS];
    size_t n;
};

/* ------------------------------------------------------------- helpers */

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;

    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* A base64url field of O decoded into OUT (room for MAX); false when it is
 * missing, malformed or longer. */
static bool jb64(struct json_object *o, const char *k, unsigned char *out, size_t max,
                 size_t *len)
{
    const char *s = jstr(o, k);
    size_t sl = s ? strlen(s) : 0;

    if (!s || sl == 0 || sl / 4 * 3 + 3 > max)
        return false;
    return b64_decode(s, sl, true, out, len) && *len > 0;
}

static unsigned alg_of(const char *name)
{
    if (!name)
        return 0;
    if (!strcmp(name, "RS256"))
        return JWT_ALG_RS256;
    if (!strcmp(name, "ES256"))
        return JWT_ALG_ES256;
    return 0;
}

static struct json_object *parse_object(const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(16);
    struct json_object *o = NULL;

    if (!tok)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, text, (int)len);
    if (o && (json_tokener_get_error(tok) != json_tokener_success ||
              json_tokener_get_parse_end(tok) != len ||
              !json_object_is_type(o, json_type_object))) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* ----------------------------------------------------------- the keys */

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;

    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_key(struct json_object *j)
{
    unsigned char n[1024], e[16];
    size_t nl, el;
    EVP_PKEY *pkey = NULL;

    if (!jb64(j, "n", n, sizeof n, &nl) || !jb64(j, "e", e, sizeof e, &el))
        return NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (pkey && EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

static EVP_PKEY *ec256_key(struct json_object *j)
{
    unsigned char x[48], y[48], pub[65];
    size_t xl, yl;
    EVP_PKEY *pkey = NULL;
    const char *crv = jstr(j, "crv");

    if (!crv || strcmp(crv, "P-256") != 0 || !jb64(j, "x", x, sizeof x, &xl) ||
        !jb64(j, "y", y, sizeof y, &yl) || xl != 32 || yl != 32)
        return NULL;
    pub[0] = 0x04;      /* uncompressed point */
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                                "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
        pkey = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    /* A point that is not on the curve is not a key. */
    if (pkey) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!c || EVP_PKEY_public_check(c) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(c);
    }
    return pkey;
}

struct jwks *jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
    struct json_object *doc = parse_object(json, len), *arr;
    struct jwks *ks;

    if (!doc || !json_object_object_get_ex(doc, "keys", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(doc);
        errbuf_set(err, errlen, "not a JWKS document (an object with a \"keys\" array)");
        return NULL;
    }
    if (!(ks = calloc(1, sizeof *ks))) {
        json_object_put(doc);
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && ks->n < JWKS_MAX_KEYS; i++) {
        struct json_object *j = json_object_array_get_idx(arr, i);
        const char *kty = jstr(j, "kty"), *use = jstr(j, "use"), *kid = jstr(j, "kid");
        struct jwk *k = &ks->keys[ks->n];
        if (!kty || (use && strcmp(use, "sig") != 0) || (kid && strlen(kid) > KID_MAX))
            continue;
        if (!strcmp(kty, "RSA")) {
            k->kty = KTY_RSA;
            k->pkey = rsa_key(j);
        } else if (!strcmp(kty, "EC")) {
            k->kty = KTY_EC256;
            k->pkey = ec256_key(j);
        }
        if (!k->pkey)
            continue;
        k->alg = alg_of(jstr(j, "alg"));
        if (jstr(j, "alg") && !k->alg) {     /* meant for an algorithm we do not do */
            EVP_PKEY_free(k->pkey);
            k->pkey = NULL;
            continue;
        }
        k->kid = kid ? strdup(kid) : NULL;
        ks->n++;
    }
    json_object_put(doc);
    if (ks->n == 0) {
        jwks_free(ks);
        errbuf_set(err, errlen, "the JWKS holds no usable RS256 or ES256 signing key");
        return NULL;
    }
    return ks;
}

void jwks_free(struct jwks *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->keys[i].kid);
        EVP_PKEY_free(ks->keys[i].pkey);
    }
    free(ks);
}

size_t jwks_count(const struct jwks *ks)
{
    return ks ? ks->n : 0;
}

/* -------------------------------------------------------- verification */

/* ES256 signatures are r || s (32 bytes each); EVP wants DER. */
static unsigned char *es256_der(const unsigned char *sig, size_t len, int *der_len)
{
    unsigned char *der = NULL;

    if (len != 64)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL;       /* owned by ES now */
        *der_len = i2d_ECDSA_SIG(es, &der);
        if (*der_len <= 0)
            der = NULL;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static bool signature_ok(const struct jwk *k, unsigned alg, const char *signed_part,
                         size_t signed_len, const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    int der_len = 0;
    bool ok = false;

    if (!ctx)
        return false;
    if (alg == JWT_ALG_ES256) {
        if (!(der = es256_der(sig, sig_len, &der_len)))
            goto out;
        sig = der;
        sig_len = (size_t)der_len;
    }
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)signed_part,
                          signed_len) == 1;
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return ok;
}

static const struct jwk *find_key(const struct jwks *ks, const char *kid, unsigned alg)
{
    enum kty want = alg == JWT_ALG_RS256 ? KTY_RSA : KTY_EC256;

    if (!kid) {
        /* Without a kid, only a set of one key is unambiguous. */
        return ks->n == 1 && ks->keys[0].kty == want ? &ks->keys[0] : NULL;
    }
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i].kid && !strcmp(ks->keys[i].kid, kid))
            return &ks->keys[i];
    return NULL;
}

/* A numeric claim: 1 present (*OUT), 0 absent, -1 present but no number. */
static int num_claim(struct json_object *c, const char *name, double *out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(c, name, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return -1;
    *out = json_object_get_double(v);
    return isfinite(*out) ? 1 : -1;
}

static bool audience_ok(struct json_object *c, const char *want)
{
    struct json_object *aud;

    if (!json_object_object_get_ex(c, "aud", &aud))
        return false;
    if (json_object_is_type(aud, json_type_string))
        return !strcmp(json_object_get_string(aud), want);
    if (!json_object_is_type(aud, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(aud); i++) {
        struct json_object *a = json_object_array_get_idx(aud, i);
        if (json_object_is_type(a, json_type_string) && !strcmp(json_object_get_string(a), want))
            return true;
    }
    return false;
}

static enum jwt_status check_claims(struct json_object *c, const struct jwt_policy *p,
                                    char *err, size_t errlen)
{
    double exp, nbf, iat;
    int r;

    if ((r = num_claim(c, "exp", &exp)) <= 0) {
        errbuf_set(err, errlen, "the token has no numeric exp claim");
        return JWT_MALFORMED;
    }
    if (p->now > exp + p->leeway) {
        errbuf_set(err, errlen, "the token expired %.0f s ago", p->now - exp);
        return JWT_EXPIRED;
    }
    if ((r = num_claim(c, "nbf", &nbf)) < 0 || (r > 0 && p->now + p->leeway < nbf)) {
        errbuf_set(err, errlen, "the token is not valid yet (nbf)");
        return r < 0 ? JWT_MALFORMED : JWT_NOT_YET_VALID;
    }
    if ((r = num_claim(c, "iat", &iat)) < 0 || (r > 0 && p->now + p->leeway < iat)) {
        errbuf_set(err, errlen, "the token was issued in the future (iat)");
        return r < 0 ? JWT_MALFORMED : JWT_NOT_YET_VALID;
    }
    const char *iss = jstr(c, "iss");
    if (!iss || strcmp(iss, p->issuer) != 0) {
        errbuf_set(err, errlen, "the token is from another issuer");
        return JWT_WRONG_ISSUER;
    }
    if (!audience_ok(c, p->audience)) {
        errbuf_set(err, errlen, "the token is for another audience");
        return JWT_WRONG_AUDIENCE;
    }
    return JWT_OK;
}

enum jwt_status jwt_verify(const char *token, size_t len, const struct jwks *keys,
                           const struct jwt_policy *p, struct json_object **claims,
                           char *err, size_t errlen)
{
    const char *dot1 = memchr(token, '.', len), *dot2;
    unsigned char *buf = NULL;
    struct json_object *header = NULL, *payload = NULL;
    enum jwt_status st = JWT_MALFORMED;
    size_t n;

    *claims = NULL;
    errbuf_set(err, errlen, "malformed token");
    if (len == 0 || len > JWT_MAX_LEN || !dot1 ||
        !(dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return JWT_MALFORMED;
    if (!(buf = malloc(len)))
        return JWT_MALFORMED;

    /* The header: which algorithm and key. */
    if (!b64_decode(token, (size_t)(dot1 - token), true, buf, &n) ||
        !(header = parse_object((const char *)buf, n)))
        goto out;
    const char *alg_name = jstr(header, "alg");
    unsigned alg = alg_of(alg_name);
    if (!alg || !(alg & p->algorithms)) {
        errbuf_set(err, errlen, "algorithm %.16s is not allowed", alg_name ? alg_name : "?");
        st = JWT_ALG_REFUSED;
        goto out;
    }
    if (json_object_object_get_ex(header, "crit", NULL)) {
        errbuf_set(err, errlen, "the token has critical header parameters (crit)");
        st = JWT_ALG_REFUSED;
        goto out;
    }
    struct json_object *kidv = NULL;
    if (json_object_object_get_ex(header, "kid", &kidv) &&
        (!json_object_is_type(kidv, json_type_string) ||
         json_object_get_string_len(kidv) > KID_MAX))
        goto out;
    const struct jwk *key = find_key(keys, kidv ? json_object_get_string(kidv) : NULL, alg);
    if (!key) {
        errbuf_set(err, errlen, "no key of the JWKS matches the token's kid");
        st = JWT_UNKNOWN_KID;
        goto out;
    }
    if ((key->alg && key->alg != alg) ||
        (alg == JWT_ALG_RS256) != (key->kty == KTY_RSA)) {
        errbuf_set(err, errlen, "the key named by kid is not a %s key", alg_name);
        st = JWT_ALG_REFUSED;
        goto out;
    }

    /* The signature over "header.payload". */
    const char *sig = dot2 + 1;
    if (!b64_decode(sig, len - (size_t)(sig - token), true, buf, &n))
        goto out;
    if (!signature_ok(key, alg, token, (size_t)(dot2 - token), buf, n)) {
        errbuf_set(err, errlen, "bad signature");
        st = JWT_BAD_SIGNATURE;
        goto out;
    }

    /* The claims, now that they are known to come from the issuer. */
    if (!b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), true, buf, &n) ||
        !(payload = parse_object((const char *)buf, n)))
        goto out;
    st = check_claims(payload, p, err, errlen);
    if (st == JWT_OK) {
        *claims = payload;
        payload = NULL;
    }
out:
    json_object_put(header);
    json_object_put(payload);
    free(buf);
    return st;
}

const char *jwt_status_name(enum jwt_status st)
{
    switch (st) {
    case JWT_OK:             return "ok";
    case JWT_MALFORMED:      return "malformed";
    case JWT_ALG_REFUSED:    return "algorithm_refused";
    case JWT_UNKNOWN_KID:    return "unknown_kid";
    case JWT_BAD_SIGNATURE:  return "bad_signature";
    case JWT_EXPIRED:        return "expired";
    case JWT_NOT_YET_VALID:  return "not_yet_valid";
    case JWT_WRONG_ISSUER:   return "wrong_issuer";
    case JWT_WRONG_AUDIENCE: return "wrong_audience";
    }
    return "?";
}
