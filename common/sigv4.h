/*
 * sigv4.h - AWS Signature Version 4 for S3 on libcrypto: query signing for
 * presigned URLs and header signing for S3 API calls, S3's URI encoding, and
 * a cache of the derived signing key per (access key, date, region).
 *
 * Nothing here does I/O or allocates behind the caller's back except the
 * returned strings, which the caller frees, and the SHA-256 and HMAC objects
 * fetched from libcrypto once per process (see sigv4.c).
 */
#ifndef PRESIGND_SIGV4_H
#define PRESIGND_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct sigv4_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;      /* NULL or "" when not temporary */
};

/* A name/value pair: a query parameter or a header (unencoded). */
struct sigv4_kv {
    const char *name;
    const char *value;
};

/*
 * Derived-key cache. One per worker (or per signer); the key is wiped with
 * OPENSSL_cleanse when replaced or when sigv4_cache_wipe() is called.
 */
struct sigv4_cache {
    char access_key_id[128];
    char date[9];                   /* YYYYMMDD */
    char region[64];
    char service[16];
    unsigned char key[32];
    bool valid;
};

void sigv4_cache_wipe(struct sigv4_cache *cache);

/* The request to sign. Strings are not modified or kept. */
struct sigv4_request {
    const char *method;             /* "GET", "PUT", "HEAD", "DELETE" */
    const char *host;               /* Host header value: "s3.amazonaws.com" or "127.0.0.1:7480" */
    const char *path;               /* raw, unencoded, starts with '/': "/bucket/uploads/a b.pdf" */
    const struct sigv4_kv *query;   /* raw (unencoded) query parameters, any order */
    size_t n_query;
    const struct sigv4_kv *headers; /* extra headers to sign, e.g. {"content-type", "image/png"} */
    size_t n_headers;
    const char *region;             /* "us-east-1" */
    const char *service;            /* NULL means "s3" */
    time_t now;                     /* one timestamp for X-Amz-Date and the scope */
};

/*
 * Presigned URL (query auth, UNSIGNED-PAYLOAD). SCHEME is "https" or "http".
 * Returns a malloc'd URL "SCHEME://HOST/ENCODED-PATH?...&X-Amz-Signature=...",
 * or NULL with a message in ERR.
 */
char *sigv4_presign_url(const struct sigv4_request *req, const char *scheme,
                        long expires, const struct sigv4_creds *creds,
                        struct sigv4_cache *cache, char *err, size_t errlen);

/*
 * Header auth for an API call. PAYLOAD_SHA256 is the hex SHA-256 of the body
 * (NULL means the empty body). Fills OUT with the headers to send besides
 * those in REQ: "Authorization", "x-amz-date", "x-amz-content-sha256" and, with
 * a session token, "x-amz-security-token". OUT's names and values are malloc'd;
 * free them with sigv4_headers_free(). Returns the number of headers, or -1
 * with a message in ERR.
 */
#define SIGV4_MAX_OUT_HEADERS 4
int sigv4_sign_headers(const struct sigv4_request *req, const char *payload_sha256,
                       const struct sigv4_creds *creds, struct sigv4_cache *cache,
                       struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS],
                       char *err, size_t errlen);
void sigv4_headers_free(struct sigv4_kv *out, int n);

/*
 * A browser upload's POST policy (S3 "POST Object", SigV4): the form fields
 * that name the signer, and the signature of the policy.
 *
 * sigv4_post_credential() writes the x-amz-credential field for CREDS,
 * REGION and the date of NOW ("AKID/YYYYMMDD/REGION/s3/aws4_request") into
 * OUT; the policy must state it, so it comes first. sigv4_sign_policy()
 * signs POLICY_B64 (the base64 of the policy document, itself the string
 * to sign) with the key of the same scope; SIG_HEX gets the hex HMAC, the
 * x-amz-signature field. False with ERR filled (out of memory, HMAC).
 */
bool sigv4_post_credential(const struct sigv4_creds *creds, const char *region, time_t now,
                           char *out, size_t outlen);
bool sigv4_sign_policy(const char *policy_b64, const struct sigv4_creds *creds,
                       const char *region, time_t now, struct sigv4_cache *cache,
                       char sig_hex[65], char *err, size_t errlen);

/*
 * S3 URI encoding: every byte outside the RFC 3986 unreserved set
 * (A-Z a-z 0-9 - . _ ~) becomes %XX (upper-case hex); '/' is kept when
 * KEEP_SLASH. Returns a malloc'd string.
 */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* Hex SHA-256 of DATA into OUT (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* "YYYYMMDDTHHMMSSZ" for T (UTC) into OUT (17 bytes). */
void sigv4_amz_date(time_t t, char out[17]);

#endif
