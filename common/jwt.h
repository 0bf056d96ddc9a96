/*
 * jwt.h - JSON Web Tokens from an identity provider: the compact JWS
 * (RFC 7515) checked against the provider's JSON Web Key Set (RFC 7517),
 * with OpenSSL 3 (EVP) and json-c. Pure: no I/O (the JWKS is fetched by
 * daemon/auth.c), no global state.
 *
 * What passes: a header whose "alg" is in the configured allow-list (never
 * taken from the token alone: "none" and HS* are refused whatever the
 * list says), no "crit", a "kid" naming a key of the set (a set of one key
 * may be used without one) whose type fits the algorithm (RS256: RSA of at
 * least 2048 bits; ES256: EC P-256); a valid signature; "exp" required and
 * not past, "nbf" and "iat" not in the future, all with the leeway; "iss"
 * equal to the issuer; "aud" equal to, or an array holding, the audience.
 */
#ifndef PRESIGND_JWT_H
#define PRESIGND_JWT_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct jwks;

/* The usable keys of a JWKS document (RSA and EC P-256 signing keys);
 * others are skipped. NULL with ERR filled when there is none or the
 * document is not a JWKS. */
struct jwks *jwks_parse(const char *json, size_t len, char *err, size_t errlen);
void jwks_free(struct jwks *keys);
size_t jwks_count(const struct jwks *keys);

enum jwt_status {
    JWT_OK,
    JWT_MALFORMED,          /* not a JWS, bad base64url or JSON, missing exp */
    JWT_ALG_REFUSED,        /* alg not allowed, or not the key's, or crit present */
    JWT_UNKNOWN_KID,        /* no key of the set has that kid (refetch the set?) */
    JWT_BAD_SIGNATURE,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,      /* nbf, or iat, in the future */
    JWT_WRONG_ISSUER,
    JWT_WRONG_AUDIENCE,
};

#define JWT_ALG_RS256 1u
#define JWT_ALG_ES256 2u

struct jwt_policy {
    unsigned algorithms;    /* JWT_ALG_*: what the configuration allows */
    const char *issuer;
    const char *audience;
    int leeway;             /* seconds */
    double now;             /* unix time */
};

#define JWT_MAX_LEN 16384

/*
 * Verify TOKEN (LEN bytes). On JWT_OK, *CLAIMS gets the payload object
 * (the caller puts it). ERR says why in words fit for a log, never with
 * the token's text.
 */
enum jwt_status jwt_verify(const char *token, size_t len, const struct jwks *keys,
                           const struct jwt_policy *policy, struct json_object **claims,
                           char *err, size_t errlen);

const char *jwt_status_name(enum jwt_status st);

#endif
