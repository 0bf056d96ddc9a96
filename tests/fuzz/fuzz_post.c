/*
 * fuzz_post.c - libFuzzer harness for the POST-policy builder
 * (common/s3post.c, s3post_fields): the policy document and the form fields
 * of a browser upload, for fuzzed key, Content-Type, metadata, size range
 * and time, with fixed credentials (with and without a session token).
 *
 * Input: 4 bytes of time (seconds after 2023-11-14), 2 of expiry (minutes),
 * 4 of maximum size, 1 of flags (bit 0: temporary credentials, bit 1: the
 * minimum size is the maximum, bit 2: another region), then lines: the key,
 * the Content-Type, and NAME=VALUE metadata entries.
 *
 * What the daemon hands over (handle_s3.c, handle_presign.c) is: a key
 * that passed keys_valid (valid UTF-8), a Content-Type that passed
 * http_header_value_ok (ASCII), and metadata from s3meta_add (ASCII
 * tokens, ASCII values). The harness feeds any bytes, and checks for every
 * input: the fields come in the documented order, key, Content-Type and
 * metadata fields are exactly what was asked for; the policy field is
 * canonical base64 of a JSON document (json-c, strict) whose expiration is
 * NOW + EXPIRES, whose conditions hold the bucket, the content-length-range
 * and x-amz-algorithm, -credential, -date (and -security-token) equal to
 * the form's fields; the signature equals both sigv4_sign_policy of the
 * policy field (fresh cache) and an HMAC chain computed here with OpenSSL.
 * For every value that is valid UTF-8 and every field name that is ASCII -
 * everything the daemon can pass - the policy's condition holds it exactly
 * (S3 compares the form field with the decoded JSON string: anything else
 * is a refused upload; it was, for every key with a non-ASCII character,
 * until s3post.c wrote values as UTF-8).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64.h"
#include "keys.h"
#include "s3post.h"
#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_META 12

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_post: contract broken: %s\n", what);
        abort();
    }
}

static const struct sigv4_creds creds_static = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL,
};
static const struct sigv4_creds creds_temp = {
    "ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ\"\\token+/=",
};

/* The signature of POLICY, computed here: HMAC chain over the scope. */
static void expected_signature(const struct sigv4_creds *c, const char *region, time_t now,
                               const char *policy, char out[65])
{
    unsigned char k[32];
    unsigned int kl = 32;
    char secret[128], date[9];
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%d", &tm);
    snprintf(secret, sizeof secret, "AWS4%s", c->secret_access_key);
    const char *steps[] = { date, region, "s3", "aws4_request", policy };
    const unsigned char *key = (const unsigned char *)secret;
    int keylen = (int)strlen(secret);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        check(HMAC(EVP_sha256(), key, keylen, (const unsigned char *)steps[i],
                   strlen(steps[i]), k, &kl) != NULL, "HMAC");
        key = k;
        keylen = 32;
    }
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", k[i]);
}

static bool utf8(const char *s)
{
    return keys_utf8_valid(s, strlen(s));
}

/* Field names are ASCII (s3meta_add allows [A-Za-z0-9_-]): the policy
 * escapes anything else byte by byte. */
static bool ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* COND is ["eq", "$NAME", VALUE] for NAME. */
static bool eq_cond(struct json_object *cond, const char *name, const char **value)
{
    if (!json_object_is_type(cond, json_type_array) || json_object_array_length(cond) != 3)
        return false;
    struct json_object *op = json_object_array_get_idx(cond, 0);
    struct json_object *n = json_object_array_get_idx(cond, 1);
    struct json_object *v = json_object_array_get_idx(cond, 2);
    if (!json_object_is_type(op, json_type_string) || strcmp(json_object_get_string(op), "eq") ||
        !json_object_is_type(n, json_type_string) || !json_object_is_type(v, json_type_string))
        return false;
    const char *ns = json_object_get_string(n);
    if (ns[0] != '$' || strcmp(ns + 1, name) != 0 ||
        strlen(ns) != (size_t)json_object_get_string_len(n))
        return false;
    *value = json_object_get_string(v);
    return true;
}

/* COND is {"NAME": VALUE}. */
static const char *exact_cond(struct json_object *cond, const char *name)
{
    struct json_object *v;

    if (!json_object_is_type(cond, json_type_object) || json_object_object_length(cond) != 1 ||
        !json_object_object_get_ex(cond, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static const char *field(const struct s3_post_field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return f[i].value;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 11)
        return 0;
    uint32_t t = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
    uint32_t mx = (uint32_t)data[6] << 24 | (uint32_t)data[7] << 16 | (uint32_t)data[8] << 8 | data[9];
    uint8_t flags = data[10];
    time_t now = (time_t)1700000000 + (time_t)(t % (200u * 365 * 86400));
    long expires = 60L * (1 + ((long)data[4] << 8 | data[5]) % 10080);   /* up to 7 days */
    const struct sigv4_creds *creds = flags & 1 ? &creds_temp : &creds_static;
    const char *region = flags & 4 ? "eu-central-1" : "us-east-1";

    /* Lines: key, Content-Type, NAME=VALUE... */
    char *text = strndup((const char *)data + 11, size - 11);
    check(text != NULL, "memory");
    char *lines[2 + MAX_META] = { 0 };
    size_t n_lines = 0;
    for (char *p = text; p && n_lines < 2 + MAX_META;) {
        lines[n_lines++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    if (n_lines < 2 || !lines[0][0]) {
        free(text);
        return 0;
    }
    struct s3_param meta[MAX_META];
    size_t n_meta = 0;
    for (size_t i = 2; i < n_lines; i++) {
        char *eq = strchr(lines[i], '=');
        if (!eq)
            continue;
        *eq = '\0';
        meta[n_meta++] = (struct s3_param){ lines[i], eq + 1 };
    }

    struct s3post_req req = {
        .bucket = "presignd-dev", .region = region, .key = lines[0],
        .content_type = lines[1], .min_size = flags & 2 ? (int64_t)mx : 0, .max_size = mx,
        .meta = meta, .n_meta = n_meta, .now = now, .expires = expires,
    };
    struct sigv4_cache cache = { 0 };
    struct s3_post_field *f = NULL;
    size_t nf = 0;
    char err[200] = "";

    check(s3post_fields(&req, creds, &cache, &f, &nf, err, sizeof err) == 0,
          "fields for a policy with fixed credentials");
    bool token = creds->session_token != NULL;
    check(nf == 7 + n_meta + (token ? 1 : 0), "the number of fields");

    /* The order, and the values asked for. */
    size_t k = 0;
    check(strcmp(f[k].name, "key") == 0 && strcmp(f[k].value, req.key) == 0, "key field");
    k++;
    check(strcmp(f[k].name, "Content-Type") == 0 && strcmp(f[k].value, req.content_type) == 0,
          "Content-Type field");
    k++;
    for (size_t i = 0; i < n_meta; i++, k++)
        check(strncmp(f[k].name, "x-amz-meta-", 11) == 0 &&
              strcmp(f[k].name + 11, meta[i].name) == 0 &&
              strcmp(f[k].value, meta[i].value) == 0, "x-amz-meta- fields");
    static const char *const tail[] = {
        "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-security-token",
        "x-amz-signature",
    };
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) {
        if (i == 4 && !token)
            continue;
        check(strcmp(f[k++].name, tail[i]) == 0, "the fields after the metadata, in order");
    }
    const char *policy = field(f, nf, "policy");
    const char *credential = field(f, nf, "x-amz-credential");
    const char *amz_date = field(f, nf, "x-amz-date");
    const char *signature = field(f, nf, "x-amz-signature");
    char want_date[17];
    sigv4_amz_date(now, want_date);
    check(strcmp(amz_date, want_date) == 0, "x-amz-date is NOW");
    check(strcmp(field(f, nf, "x-amz-algorithm"), "AWS4-HMAC-SHA256") == 0, "algorithm");
    char want_cred[200];
    snprintf(want_cred, sizeof want_cred, "%s/%.8s/%s/s3/aws4_request", creds->access_key_id,
             want_date, region);
    check(strcmp(credential, want_cred) == 0, "x-amz-credential names the scope");
    check(!token || strcmp(field(f, nf, "x-amz-security-token"), creds->session_token) == 0,
          "x-amz-security-token");

    /* The signature. */
    char sig[65], sig2[65];
    struct sigv4_cache fresh = { 0 };
    check(sigv4_sign_policy(policy, creds, region, now, &fresh, sig, err, sizeof err),
          "sigv4_sign_policy");
    check(strcmp(signature, sig) == 0, "the signature is sigv4_sign_policy of the policy field");
    expected_signature(creds, region, now, policy, sig2);
    check(strcmp(signature, sig2) == 0, "the signature is the HMAC chain of the policy field");

    /* The policy document. */
    size_t plen = strlen(policy), dlen = 0;
    unsigned char *doc = malloc(3 * plen / 4 + 4);
    check(doc != NULL, "memory");
    check(b64_decode(policy, plen, false, doc, &dlen), "the policy is canonical base64");
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *pol = json_tokener_parse_ex(tok, (const char *)doc, (int)dlen);
    check(pol && json_tokener_get_error(tok) == json_tokener_success &&
          json_tokener_get_parse_end(tok) == dlen, "the policy is one JSON document");
    json_tokener_free(tok);

    struct json_object *exp_o, *conds;
    char want_exp[32];
    time_t exp_t = now + expires;
    struct tm tm;
    gmtime_r(&exp_t, &tm);
    strftime(want_exp, sizeof want_exp, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    check(json_object_object_get_ex(pol, "expiration", &exp_o) &&
          strcmp(json_object_get_string(exp_o), want_exp) == 0, "expiration is NOW + EXPIRES");
    check(json_object_object_get_ex(pol, "conditions", &conds) &&
          json_object_is_type(conds, json_type_array), "conditions");

    size_t nc = json_object_array_length(conds), c = 0;
    check(nc == 7 + n_meta + (token ? 1 : 0), "one condition per field and the range");
    const char *v;
    check((v = exact_cond(json_object_array_get_idx(conds, c++), "bucket")) &&
          strcmp(v, "presignd-dev") == 0, "bucket condition");
    check(eq_cond(json_object_array_get_idx(conds, c++), "key", &v) &&
          (!utf8(req.key) || strcmp(v, req.key) == 0), "the key condition is the key");
    check(eq_cond(json_object_array_get_idx(conds, c++), "Content-Type", &v) &&
          (!utf8(req.content_type) || strcmp(v, req.content_type) == 0),
          "the Content-Type condition is the Content-Type");
    struct json_object *range = json_object_array_get_idx(conds, c++);
    check(json_object_is_type(range, json_type_array) && json_object_array_length(range) == 3 &&
          strcmp(json_object_get_string(json_object_array_get_idx(range, 0)),
                 "content-length-range") == 0 &&
          json_object_get_int64(json_object_array_get_idx(range, 1)) == req.min_size &&
          json_object_get_int64(json_object_array_get_idx(range, 2)) == req.max_size,
          "content-length-range [MIN, MAX]");
    for (size_t i = 0; i < n_meta; i++) {
        char name[128];
        struct json_object *cond = json_object_array_get_idx(conds, c++);
        snprintf(name, sizeof name, "x-amz-meta-%s", meta[i].name);
        if (ascii(meta[i].name) && strlen(meta[i].name) < 100)
            check(eq_cond(cond, name, &v) && (!utf8(meta[i].value) || strcmp(v, meta[i].value) == 0),
                  "each metadata condition is its field");
    }
    check((v = exact_cond(json_object_array_get_idx(conds, c++), "x-amz-algorithm")) &&
          strcmp(v, "AWS4-HMAC-SHA256") == 0, "algorithm condition");
    check((v = exact_cond(json_object_array_get_idx(conds, c++), "x-amz-credential")) &&
          strcmp(v, credential) == 0, "credential condition");
    check((v = exact_cond(json_object_array_get_idx(conds, c++), "x-amz-date")) &&
          strcmp(v, amz_date) == 0, "date condition");
    if (token)
        check((v = exact_cond(json_object_array_get_idx(conds, c++), "x-amz-security-token")) &&
              strcmp(v, creds->session_token) == 0, "security token condition");

    json_object_put(pol);
    free(doc);
    s3post_fields_free(f, nf);
    sigv4_cache_wipe(&cache);
    free(text);
    return 0;
}
