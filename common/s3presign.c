/*
 * s3presign.c - presigning with a worker's S3 client (see s3.h): URLs
 * (SigV4 query auth) and browser form uploads (POST policies, s3post.c),
 * both for the client's public address. Nothing here makes a request: a
 * URL is signed with the credentials held now, so neither waits for
 * credentials as a call does; without usable ones it fails at once.
 */
#include "s3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "credprov.h"
#include "errbuf.h"
#include "s3_internal.h"
#include "s3addr.h"
#include "s3post.h"
#include "sigv4.h"

#define S3_PRESIGN_MARGIN   60       /* seconds a URL must end before its credentials */
#define S3_MAX_EXPIRES      604800L  /* SigV4's limit: 7 days */

/*
 * The credentials to sign with now, and *EXPIRES cut to what they allow:
 * a URL or policy must not outlive the credentials that signed it (S3
 * would refuse it with a confusing 403 once they expire). NULL with ERR
 * filled and *ST set when there are none.
 */
static const struct creds *signing_window(struct s3_client *c, long *expires, double *now,
                                          enum s3_status *st, char *err, size_t errlen)
{
    *st = S3_ERROR;
    if (*expires < 1) {
        errbuf_set(err, errlen, "expiry must be at least one second");
        return NULL;
    }
    if (*expires > S3_MAX_EXPIRES)
        *expires = S3_MAX_EXPIRES;
    const struct creds *cr = credprov_get(c->creds);
    *st = S3_NO_CREDENTIALS;
    if (!cr) {
        errbuf_set(err, errlen, "no AWS credentials available");
        return NULL;
    }
    *now = clock_wall();
    if (cr->expiration > 0) {
        double left = floor(cr->expiration - *now - S3_PRESIGN_MARGIN);
        if (left < 1) {
            errbuf_set(err, errlen, "no AWS credentials available: the current ones "
                       "expire in %.0f s and have not been refreshed yet",
                       cr->expiration - *now);
            return NULL;
        }
        if (left < (double)*expires)
            *expires = (long)left;
    }
    *st = S3_OK;
    return cr;
}

enum s3_status s3_presign(struct s3_client *c, const struct s3_presign_req *pr,
                          struct s3_presigned *out, char *err, size_t errlen)
{
    struct sigv4_kv hstack[8], qstack[8], *hdrs = hstack, *query = qstack;
    enum s3_status st = S3_ERROR;
    long expires = pr->expires;
    double now = 0;

    memset(out, 0, sizeof *out);
    if (!c || !pr->method || !pr->key || !*pr->key) {
        errbuf_set(err, errlen, "no object key to presign");
        return S3_ERROR;
    }
    const struct creds *cr = signing_window(c, &expires, &now, &st, err, errlen);
    if (!cr)
        return st;
    st = S3_ERROR;
    if (pr->n_headers > 8)
        hdrs = calloc(pr->n_headers, sizeof *hdrs);
    if (pr->n_query > 8)
        query = calloc(pr->n_query, sizeof *query);
    char *path = s3addr_path(&c->pub, pr->key);
    if (!hdrs || !query || !path) {
        errbuf_set(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pr->n_headers; i++)
        hdrs[i] = (struct sigv4_kv){ pr->headers[i].name, pr->headers[i].value };
    for (size_t i = 0; i < pr->n_query; i++)
        query[i] = (struct sigv4_kv){ pr->query[i].name, pr->query[i].value };
    struct sigv4_creds sc = s3_signing_creds(cr);
    struct sigv4_request req = {
        .method = pr->method,
        .host = c->pub.host,
        .path = path,
        .query = query,
        .n_query = pr->n_query,
        .headers = hdrs,
        .n_headers = pr->n_headers,
        .region = c->cfg->s3.region,
        .service = "s3",
        .now = (time_t)now,
    };
    out->url = sigv4_presign_url(&req, c->pub.scheme, expires, &sc, &c->sigcache, err, errlen);
    if (out->url) {
        out->expires_in = expires;
        st = S3_OK;
    }
out:
    free(path);
    if (hdrs != hstack)
        free(hdrs);
    if (query != qstack)
        free(query);
    return st;
}

void s3_presigned_free(struct s3_presigned *p)
{
    if (!p)
        return;
    free(p->url);
    p->url = NULL;
}

/* ------------------------------------------------------------ POST policy */

enum s3_status s3_presign_post(struct s3_client *c, const struct s3_post_req *pr,
                               struct s3_posted *out, char *err, size_t errlen)
{
    enum s3_status st = S3_ERROR;
    long expires = pr->expires;
    double now = 0;

    memset(out, 0, sizeof *out);
    if (!c || !pr->key || !*pr->key || !pr->content_type) {
        errbuf_set(err, errlen, "no object key to presign");
        return S3_ERROR;
    }
    const struct creds *cr = signing_window(c, &expires, &now, &st, err, errlen);
    if (!cr)
        return st;
    struct sigv4_creds sc = s3_signing_creds(cr);
    struct s3post_req req = {
        .bucket = c->cfg->s3.bucket, .region = c->cfg->s3.region, .key = pr->key,
        .content_type = pr->content_type, .min_size = pr->min_size, .max_size = pr->max_size,
        .meta = pr->meta, .n_meta = pr->n_meta, .now = (time_t)now, .expires = expires,
    };
    if (s3post_fields(&req, &sc, &c->sigcache, &out->fields, &out->n_fields, err,
                      errlen) < 0)
        return S3_ERROR;
    /* Where the form goes: the bucket itself (the key is a field). */
    if (asprintf(&out->url, "%s://%s%s/", c->pub.scheme, c->pub.host, c->pub.base) < 0) {
        out->url = NULL;
        s3_posted_free(out);
        errbuf_set(err, errlen, "out of memory");
        return S3_ERROR;
    }
    out->expires_in = expires;
    return S3_OK;
}

void s3_posted_free(struct s3_posted *p)
{
    if (!p)
        return;
    s3post_fields_free(p->fields, p->n_fields);
    free(p->url);
    memset(p, 0, sizeof *p);
}
