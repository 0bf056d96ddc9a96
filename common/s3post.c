/*
 * s3post.c - S3 POST policies (see s3post.h).
 *
 * The policy is JSON written by hand (jsonw.h escapes the strings), base64
 * encoded; that base64 text is both a form field and the string to sign.
 */
#include "s3post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "errbuf.h"
#include "jsonw.h"
#include "sigv4.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

void s3post_fields_free(struct s3_post_field *fields, size_t n)
{
    for (size_t i = 0; fields && i < n; i++) {
        free(fields[i].name);
        free(fields[i].value);
    }
    free(fields);
}

/* ["eq", "$NAME", "VALUE"], after a comma. VALUE as UTF-8, not \u00XX per
 * byte: S3 compares the form field with the decoded JSON string, and a key
 * may hold any UTF-8. */
static void cond_eq(struct buf *b, const char *prefix, const char *name, const char *value)
{
    buf_add(b, ",[\"eq\",\"$");
    jsonw_escape_ascii(b, prefix, strlen(prefix));
    jsonw_escape_ascii(b, name, strlen(name));
    buf_add(b, "\",");
    jsonw_str(b, value, strlen(value));
    buf_addc(b, ']');
}

/* {"NAME": "VALUE"}, after a comma. */
static void cond_exact(struct buf *b, const char *name, const char *value)
{
    buf_add(b, ",{");
    jsonw_str_ascii(b, name, strlen(name));
    buf_addc(b, ':');
    jsonw_str_ascii(b, value, strlen(value));
    buf_addc(b, '}');
}

static int add_field(struct s3_post_field *f, size_t *n, const char *prefix, const char *name,
                     const char *value)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    char *full = malloc(pl + nl + 1);
    char *v = strdup(value);

    if (!full || !v) {
        free(full);
        free(v);
        return -1;
    }
    memcpy(full, prefix, pl);
    memcpy(full + pl, name, nl + 1);
    f[*n].name = full;
    f[*n].value = v;
    (*n)++;
    return 0;
}

int s3post_fields(const struct s3post_req *req, const struct sigv4_creds *creds,
                  struct sigv4_cache *cache, struct s3_post_field **fields, size_t *n,
                  char *err, size_t errlen)
{
    char credential[256], amz_date[17], expiration[32], sig[65];
    bool token = creds->session_token && *creds->session_token;
    struct buf pol;
    struct tm tm;
    time_t exp = req->now + (time_t)req->expires;

    *fields = NULL;
    *n = 0;
    if (!sigv4_post_credential(creds, req->region, req->now, credential, sizeof credential)) {
        errbuf_set(err, errlen, "access key id or region too long");
        return -1;
    }
    sigv4_amz_date(req->now, amz_date);
    if (!gmtime_r(&exp, &tm) ||
        strftime(expiration, sizeof expiration, "%Y-%m-%dT%H:%M:%S.000Z", &tm) == 0) {
        errbuf_set(err, errlen, "expiry out of range");
        return -1;
    }

    buf_init(&pol, NULL, 0);
    buf_add(&pol, "{\"expiration\":\"");
    buf_add(&pol, expiration);
    buf_add(&pol, "\",\"conditions\":[{\"bucket\":");
    jsonw_str_ascii(&pol, req->bucket, strlen(req->bucket));
    buf_addc(&pol, '}');
    cond_eq(&pol, "", "key", req->key);
    cond_eq(&pol, "", "Content-Type", req->content_type);
    buf_printf(&pol, ",[\"content-length-range\",%lld,%lld]", (long long)req->min_size,
               (long long)req->max_size);
    for (size_t i = 0; i < req->n_meta; i++)
        cond_eq(&pol, "x-amz-meta-", req->meta[i].name, req->meta[i].value);
    cond_exact(&pol, "x-amz-algorithm", ALGORITHM);
    cond_exact(&pol, "x-amz-credential", credential);
    cond_exact(&pol, "x-amz-date", amz_date);
    if (token)
        cond_exact(&pol, "x-amz-security-token", creds->session_token);
    buf_add(&pol, "]}");

    char *b64 = NULL;
    if (!buf_failed(&pol) && (b64 = malloc(4 * ((pol.len + 2) / 3) + 1)))
        b64_encode((const unsigned char *)pol.p, pol.len, b64);
    buf_free(&pol);
    if (!b64) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    if (!sigv4_sign_policy(b64, creds, req->region, req->now, cache, sig, err, errlen)) {
        free(b64);
        return -1;
    }

    struct s3_post_field *f = calloc(req->n_meta + 9, sizeof *f);
    size_t k = 0;
    int rc = f ? 0 : -1;
    rc = rc ? rc : add_field(f, &k, "", "key", req->key);
    rc = rc ? rc : add_field(f, &k, "", "Content-Type", req->content_type);
    for (size_t i = 0; rc == 0 && i < req->n_meta; i++)
        rc = add_field(f, &k, "x-amz-meta-", req->meta[i].name, req->meta[i].value);
    rc = rc ? rc : add_field(f, &k, "", "policy", b64);
    rc = rc ? rc : add_field(f, &k, "", "x-amz-algorithm", ALGORITHM);
    rc = rc ? rc : add_field(f, &k, "", "x-amz-credential", credential);
    rc = rc ? rc : add_field(f, &k, "", "x-amz-date", amz_date);
    if (token)
        rc = rc ? rc : add_field(f, &k, "", "x-amz-security-token", creds->session_token);
    rc = rc ? rc : add_field(f, &k, "", "x-amz-signature", sig);
    free(b64);
    if (rc < 0) {
        s3post_fields_free(f, k);
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    *fields = f;
    *n = k;
    return 0;
}
