/*
 * sigv4.c - AWS Signature Version 4 for S3 (see sigv4.h).
 *
 * Owns the canonical request, the string to sign, the derived-key cache and
 * S3's URI encoding. The rules follow what S3 (and botocore, which the unit
 * tests compare against byte for byte) do, which differ from generic SigV4:
 *   - the path is URI-encoded exactly once and never normalized ("//" and
 *     "./" are kept: they are part of the object key);
 *   - query names and values are encoded with '/' as %2F and sorted by the
 *     encoded name, then the encoded value;
 *   - presigned URLs sign "UNSIGNED-PAYLOAD" and carry the session token in
 *     the (signed) query; header auth signs x-amz-content-sha256, x-amz-date
 *     and x-amz-security-token;
 *   - header values are trimmed and inner runs of whitespace collapsed.
 */
#include "sigv4.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_MAX_EXPIRES 604800L
/* SHA-256 of the empty string: the payload hash of a body-less request. */
#define SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- a growable string; any allocation failure sticks and is reported once */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->oom)
        return;
    if (b->len + more + 1 <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + more + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = true;
        return;
    }
    if (b->cap == 0)
        np[0] = '\0';      /* a fresh buffer is a valid empty string */
    b->p = np;
    b->cap = ncap;
}

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
    sb_addn(b, &c, 1);
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static void sb_add_encoded(struct sbuf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            sb_addc(b, (char)*p);
        } else {
            char e[3] = { '%', hex[*p >> 4], hex[*p & 0xf] };
            sb_addn(b, e, 3);
        }
    }
}

static void sb_free(struct sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- small primitives */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static bool hmac_sha256(const void *key, size_t keylen, const void *data,
                        size_t len, unsigned char out[32])
{
    unsigned int outlen = 32;

    if (keylen > INT32_MAX)
        return false;
    return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) &&
           outlen == 32;
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
    struct sbuf b = { 0 };

    sb_reserve(&b, strlen(s) * 3);
    sb_add_encoded(&b, s, keep_slash);
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    if (!b.p)
        return strdup("");
    return b.p;
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        /* Only on a broken libcrypto; an impossible hash makes the request
         * fail loudly at S3 instead of being signed with garbage. */
        memset(out, '0', 64);
        out[64] = '\0';
        return;
    }
    hex_encode(md, 32, out);
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) ||
        strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        snprintf(out, 17, "19700101T000000Z");
}

void sigv4_cache_wipe(struct sigv4_cache *cache)
{
    if (!cache)
        return;
    OPENSSL_cleanse(cache->key, sizeof(cache->key));
    memset(cache->access_key_id, 0, sizeof(cache->access_key_id));
    memset(cache->date, 0, sizeof(cache->date));
    memset(cache->region, 0, sizeof(cache->region));
    memset(cache->service, 0, sizeof(cache->service));
    cache->valid = false;
}

/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"). Four HMACs per request add up on a busy worker; the key
 * only changes daily (or with the credentials), hence the cache. Entries whose
 * fields do not fit the cache are derived every time rather than truncated.
 * The secret is not part of the cache key: an access key id names exactly one
 * secret at AWS, and a reload that changes credentials starts new workers
 * with empty caches.
 */
static bool derive_key(const struct sigv4_creds *creds, const char *date,
                       const char *region, const char *service,
                       struct sigv4_cache *cache, unsigned char out[32])
{
    const char *akid = creds->access_key_id;

    if (cache && cache->valid && strcmp(cache->access_key_id, akid) == 0 &&
        strcmp(cache->date, date) == 0 && strcmp(cache->region, region) == 0 &&
        strcmp(cache->service, service) == 0) {
        memcpy(out, cache->key, 32);
        return true;
    }

    size_t slen = strlen(creds->secret_access_key);
    unsigned char *k0 = malloc(slen + 4);
    unsigned char k1[32], k2[32], k3[32];
    bool ok;

    if (!k0)
        return false;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, creds->secret_access_key, slen);
    ok = hmac_sha256(k0, slen + 4, date, strlen(date), k1) &&
         hmac_sha256(k1, 32, region, strlen(region), k2) &&
         hmac_sha256(k2, 32, service, strlen(service), k3) &&
         hmac_sha256(k3, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k0, slen + 4);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    free(k0);
    if (!ok)
        return false;

    if (cache) {
        sigv4_cache_wipe(cache);
        if (strlen(akid) < sizeof(cache->access_key_id) &&
            strlen(region) < sizeof(cache->region) &&
            strlen(service) < sizeof(cache->service)) {
            strcpy(cache->access_key_id, akid);
            memcpy(cache->date, date, 9);
            strcpy(cache->region, region);
            strcpy(cache->service, service);
            memcpy(cache->key, out, 32);
            cache->valid = true;
        }
    }
    return true;
}

/* ---- query parameters: encoded once, sorted for the canonical request */

struct enc_kv {
    char *name;
    char *value;
};

static int cmp_enc_kv(const void *a, const void *b)
{
    const struct enc_kv *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

static void enc_kv_free(struct enc_kv *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

/* ---- headers: lower-case names, canonical values, sorted, merged */

struct canon_hdr {
    char *name;
    char *value;
};

static int cmp_canon_hdr(const void *a, const void *b)
{
    const struct canon_hdr *x = a, *y = b;

    return strcmp(x->name, y->name);
}

static void canon_hdr_free(struct canon_hdr *h, size_t n)
{
    if (!h)
        return;
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* RFC 7230 token characters: anything else cannot be a header name. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/* Trimmed, with every inner run of whitespace reduced to one space. */
static char *canon_value(const char *v)
{
    size_t n = strlen(v);
    char *out = malloc(n + 1), *o = out;
    bool pending_space = false;

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (is_ws(*p)) {
            pending_space = (o != out);
            continue;
        }
        if (pending_space)
            *o++ = ' ';
        pending_space = false;
        *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);

    if (d)
        for (char *p = d; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');   /* ASCII only, whatever the locale */
    return d;
}

/*
 * Build the sorted header list: the caller's headers plus EXTRA (already
 * lower-case). Host always comes from REQ->host; a caller's "host" is
 * ignored so the two can never disagree. Repeated names are merged with ','
 * in the order given, as HTTP and SigV4 define.
 */
static struct canon_hdr *build_headers(const struct sigv4_request *req,
                                       const struct sigv4_kv *extra,
                                       size_t n_extra, size_t *n_out,
                                       char *err, size_t errlen)
{
    size_t cap = req->n_headers + n_extra + 1, n = 0;
    struct canon_hdr *h = calloc(cap, sizeof(*h));

    if (!h)
        goto oom;
    for (size_t i = 0; i < req->n_headers + n_extra + 1; i++) {
        const char *name, *value;

        if (i < req->n_headers) {
            name = req->headers[i].name;
            value = req->headers[i].value;
        } else if (i < req->n_headers + n_extra) {
            name = extra[i - req->n_headers].name;
            value = extra[i - req->n_headers].value;
        } else {
            name = "host";
            value = req->host;
        }
        if (!name || !*name || !value) {
            set_err(err, errlen, "header %zu has no name or value", i);
            goto fail;
        }
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if (!is_tchar(*p)) {
                set_err(err, errlen, "invalid header name");
                goto fail;
            }
        }
        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
            if (*p == '\r' || *p == '\n') {
                set_err(err, errlen, "header value contains a line break");
                goto fail;
            }
        }
        if (i < req->n_headers && strcasecmp(name, "host") == 0)
            continue;

        char *lname = lower_dup(name);
        char *cval = canon_value(value);
        if (!lname || !cval) {
            free(lname);
            free(cval);
            goto oom;
        }
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(h[j].name, lname) == 0)
                break;
        if (j < n) {
            size_t a = strlen(h[j].value), b = strlen(cval);
            char *m = realloc(h[j].value, a + b + 2);
            if (!m) {
                free(lname);
                free(cval);
                goto oom;
            }
            m[a] = ',';
            memcpy(m + a + 1, cval, b + 1);
            h[j].value = m;
            free(lname);
            free(cval);
        } else {
            h[n].name = lname;
            h[n].value = cval;
            n++;
        }
    }
    qsort(h, n, sizeof(*h), cmp_canon_hdr);
    *n_out = n;
    return h;

oom:
    set_err(err, errlen, "out of memory");
fail:
    canon_hdr_free(h, n);
    return NULL;
}

static bool valid_request(const struct sigv4_request *req,
                          const struct sigv4_creds *creds, char *err,
                          size_t errlen)
{
    if (!req || !creds) {
        set_err(err, errlen, "no request or credentials");
        return false;
    }
    if (!req->method || !*req->method || !req->host || !*req->host ||
        !req->path || !req->region || !*req->region) {
        set_err(err, errlen, "request lacks method, host, path or region");
        return false;
    }
    if (req->path[0] != '/') {
        set_err(err, errlen, "path must start with '/'");
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)req->host; *p; p++) {
        if (*p <= ' ' || *p == '/' || *p == 0x7f || *p == '?' || *p == '#' ||
            *p == '@') {
            set_err(err, errlen, "invalid host");
            return false;
        }
    }
    for (const unsigned char *p = (const unsigned char *)req->method; *p; p++) {
        if (*p < 'A' || *p > 'Z') {
            set_err(err, errlen, "invalid method");
            return false;
        }
    }
    /* The region and service go into the scope, which is '/'-separated. */
    if (strchr(req->region, '/') || (req->service && strchr(req->service, '/')) ||
        (req->service && !*req->service)) {
        set_err(err, errlen, "invalid region or service");
        return false;
    }
    if (!creds->access_key_id || !*creds->access_key_id ||
        !creds->secret_access_key || !*creds->secret_access_key) {
        set_err(err, errlen, "no credentials");
        return false;
    }
    if (strchr(creds->access_key_id, '/')) {
        set_err(err, errlen, "invalid access key id");
        return false;
    }
    for (size_t i = 0; i < req->n_query; i++) {
        if (!req->query[i].name || !req->query[i].value) {
            set_err(err, errlen, "query parameter %zu has no name or value", i);
            return false;
        }
    }
    struct tm tm;
    if (!gmtime_r(&req->now, &tm) || tm.tm_year + 1900 < 1970 ||
        tm.tm_year + 1900 > 9999) {
        set_err(err, errlen, "timestamp out of range");
        return false;
    }
    return true;
}

/*
 * The shared core: canonical request -> string to sign -> signature.
 * QUERY is the full list of encoded query parameters (auth parameters of a
 * presigned URL included); it is sorted in place.
 */
static bool compute_signature(const struct sigv4_request *req,
                              struct enc_kv *query, size_t n_query,
                              const struct canon_hdr *hdrs, size_t n_hdrs,
                              const char *signed_headers,
                              const char *payload_hash, const char *amz_date,
                              const char *scope,
                              const struct sigv4_creds *creds,
                              struct sigv4_cache *cache, char sig_hex[65],
                              char *err, size_t errlen)
{
    struct sbuf cr = { 0 }, sts = { 0 };
    const char *service = req->service ? req->service : "s3";
    char date[9], cr_hash[65];
    unsigned char key[32], sig[32];
    bool ok = false;

    qsort(query, n_query, sizeof(*query), cmp_enc_kv);

    sb_add(&cr, req->method);
    sb_addc(&cr, '\n');
    sb_add_encoded(&cr, req->path, true);
    sb_addc(&cr, '\n');
    for (size_t i = 0; i < n_query; i++) {
        if (i)
            sb_addc(&cr, '&');
        sb_add(&cr, query[i].name);
        sb_addc(&cr, '=');
        sb_add(&cr, query[i].value);
    }
    sb_addc(&cr, '\n');
    for (size_t i = 0; i < n_hdrs; i++) {
        sb_add(&cr, hdrs[i].name);
        sb_addc(&cr, ':');
        sb_add(&cr, hdrs[i].value);
        sb_addc(&cr, '\n');
    }
    sb_addc(&cr, '\n');
    sb_add(&cr, signed_headers);
    sb_addc(&cr, '\n');
    sb_add(&cr, payload_hash);
    if (cr.oom)
        goto oom;
    sigv4_sha256_hex(cr.p, cr.len, cr_hash);

    sb_add(&sts, SIGV4_ALGORITHM "\n");
    sb_add(&sts, amz_date);
    sb_addc(&sts, '\n');
    sb_add(&sts, scope);
    sb_addc(&sts, '\n');
    sb_add(&sts, cr_hash);
    if (sts.oom)
        goto oom;

    memcpy(date, amz_date, 8);
    date[8] = '\0';
    if (!derive_key(creds, date, req->region, service, cache, key) ||
        !hmac_sha256(key, 32, sts.p, sts.len, sig)) {
        set_err(err, errlen, "HMAC-SHA256 failed");
        goto out;
    }
    hex_encode(sig, 32, sig_hex);
    ok = true;
    goto out;

oom:
    set_err(err, errlen, "out of memory");
out:
    OPENSSL_cleanse(key, sizeof(key));
    sb_free(&cr);
    sb_free(&sts);
    return ok;
}

static char *join_signed_headers(const struct canon_hdr *h, size_t n)
{
    struct sbuf b = { 0 };

    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_addc(&b, ';');
        sb_add(&b, h[i].name);
    }
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    return b.p;
}

static bool has_token(const struct sigv4_creds *creds)
{
    return creds->session_token && *creds->session_token;
}

static char *make_scope(const struct sigv4_request *req, const char *amz_date,
                        bool with_akid, const struct sigv4_creds *creds)
{
    struct sbuf b = { 0 };

    if (with_akid) {
        sb_add(&b, creds->access_key_id);
        sb_addc(&b, '/');
    }
    sb_addn(&b, amz_date, 8);
    sb_addc(&b, '/');
    sb_add(&b, req->region);
    sb_addc(&b, '/');
    sb_add(&b, req->service ? req->service : "s3");
    sb_add(&b, "/aws4_request");
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    return b.p;
}

/* Append an encoded name=value to QUERY (which has room). */
static bool push_query(struct enc_kv *q, size_t *n, const char *name,
                       const char *value)
{
    char *en = sigv4_uri_encode(name, false);
    char *ev = sigv4_uri_encode(value, false);

    if (!en || !ev) {
        free(en);
        free(ev);
        return false;
    }
    q[*n].name = en;
    q[*n].value = ev;
    (*n)++;
    return true;
}

char *sigv4_presign_url(const struct sigv4_request *req, const char *scheme,
                        long expires, const struct sigv4_creds *creds,
                        struct sigv4_cache *cache, char *err, size_t errlen)
{
    char amz_date[17], expires_s[24], sig[65];
    char *scope = NULL, *signed_headers = NULL, *url = NULL;
    struct canon_hdr *hdrs = NULL;
    struct enc_kv *query = NULL, *url_order = NULL;
    size_t n_hdrs = 0, n_query = 0;
    struct sbuf b = { 0 };

    if (!valid_request(req, creds, err, errlen))
        return NULL;
    if (!scheme || (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
        set_err(err, errlen, "scheme must be http or https");
        return NULL;
    }
    if (expires < 1 || expires > SIGV4_MAX_EXPIRES) {
        set_err(err, errlen, "expires must be between 1 and %ld seconds",
                SIGV4_MAX_EXPIRES);
        return NULL;
    }

    sigv4_amz_date(req->now, amz_date);
    snprintf(expires_s, sizeof(expires_s), "%ld", expires);

    hdrs = build_headers(req, NULL, 0, &n_hdrs, err, errlen);
    if (!hdrs)
        goto fail;
    scope = make_scope(req, amz_date, true, creds);
    signed_headers = join_signed_headers(hdrs, n_hdrs);
    query = calloc(req->n_query + 6, sizeof(*query));
    url_order = calloc(req->n_query + 6, sizeof(*url_order));
    if (!scope || !signed_headers || !query || !url_order)
        goto oom;

    /* Operation parameters first, then the auth parameters, in the order
     * botocore writes them: S3 does not care, but identical URLs make the
     * comparison with botocore exact. */
    for (size_t i = 0; i < req->n_query; i++)
        if (!push_query(query, &n_query, req->query[i].name, req->query[i].value))
            goto oom;
    if (!push_query(query, &n_query, "X-Amz-Algorithm", SIGV4_ALGORITHM) ||
        !push_query(query, &n_query, "X-Amz-Credential", scope) ||
        !push_query(query, &n_query, "X-Amz-Date", amz_date) ||
        !push_query(query, &n_query, "X-Amz-Expires", expires_s) ||
        !push_query(query, &n_query, "X-Amz-SignedHeaders", signed_headers))
        goto oom;
    if (has_token(creds) &&
        !push_query(query, &n_query, "X-Amz-Security-Token", creds->session_token))
        goto oom;
    memcpy(url_order, query, n_query * sizeof(*query));

    if (!compute_signature(req, query, n_query, hdrs, n_hdrs, signed_headers,
                           SIGV4_UNSIGNED_PAYLOAD, amz_date,
                           scope + strlen(creds->access_key_id) + 1, creds, cache, sig, err, errlen))
        goto fail;

    sb_add(&b, scheme);
    sb_add(&b, "://");
    sb_add(&b, req->host);
    sb_add_encoded(&b, req->path, true);
    for (size_t i = 0; i < n_query; i++) {
        sb_addc(&b, i ? '&' : '?');
        sb_add(&b, url_order[i].name);
        sb_addc(&b, '=');
        sb_add(&b, url_order[i].value);
    }
    sb_add(&b, "&X-Amz-Signature=");
    sb_add(&b, sig);
    if (b.oom)
        goto oom;
    url = b.p;
    b.p = NULL;
    goto out;

oom:
    set_err(err, errlen, "out of memory");
fail:
    sb_free(&b);
out:
    free(url_order);    /* shares strings with QUERY */
    enc_kv_free(query, n_query);
    canon_hdr_free(hdrs, n_hdrs);
    free(scope);
    free(signed_headers);
    return url;
}

int sigv4_sign_headers(const struct sigv4_request *req, const char *payload_sha256,
                       const struct sigv4_creds *creds, struct sigv4_cache *cache,
                       struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS],
                       char *err, size_t errlen)
{
    char amz_date[17], sig[65];
    char *scope = NULL, *signed_headers = NULL;
    struct canon_hdr *hdrs = NULL;
    struct enc_kv *query = NULL;
    size_t n_hdrs = 0, n_query = 0;
    struct sbuf auth = { 0 };
    struct sigv4_kv extra[3];
    size_t n_extra = 0;
    int n_out = 0;
    const char *payload = payload_sha256 ? payload_sha256 : SIGV4_EMPTY_SHA256;

    if (!valid_request(req, creds, err, errlen))
        return -1;
    if (!*payload || strchr(payload, '\n')) {
        set_err(err, errlen, "invalid payload hash");
        return -1;
    }
    sigv4_amz_date(req->now, amz_date);

    extra[n_extra++] = (struct sigv4_kv){ "x-amz-content-sha256", payload };
    extra[n_extra++] = (struct sigv4_kv){ "x-amz-date", amz_date };
    if (has_token(creds))
        extra[n_extra++] = (struct sigv4_kv){ "x-amz-security-token",
                                              creds->session_token };

    /* The signer owns these three: a caller's copy would be signed twice
     * (merged with ',') and break the signature. */
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *nm = req->headers[i].name;
        if (nm && (strcasecmp(nm, "x-amz-content-sha256") == 0 ||
                   strcasecmp(nm, "x-amz-date") == 0 ||
                   strcasecmp(nm, "x-amz-security-token") == 0 ||
                   strcasecmp(nm, "authorization") == 0)) {
            set_err(err, errlen, "header %s is set by the signer", nm);
            return -1;
        }
    }

    hdrs = build_headers(req, extra, n_extra, &n_hdrs, err, errlen);
    if (!hdrs)
        goto fail;
    scope = make_scope(req, amz_date, true, creds);
    signed_headers = join_signed_headers(hdrs, n_hdrs);
    query = calloc(req->n_query + 1, sizeof(*query));
    if (!scope || !signed_headers || !query)
        goto oom;
    for (size_t i = 0; i < req->n_query; i++)
        if (!push_query(query, &n_query, req->query[i].name, req->query[i].value))
            goto oom;

    if (!compute_signature(req, query, n_query, hdrs, n_hdrs, signed_headers,
                           payload, amz_date,
                           scope + strlen(creds->access_key_id) + 1,
                           creds, cache, sig, err, errlen))
        goto fail;

    sb_add(&auth, SIGV4_ALGORITHM " Credential=");
    sb_add(&auth, scope);
    sb_add(&auth, ", SignedHeaders=");
    sb_add(&auth, signed_headers);
    sb_add(&auth, ", Signature=");
    sb_add(&auth, sig);
    if (auth.oom)
        goto oom;

    memset(out, 0, sizeof(*out) * SIGV4_MAX_OUT_HEADERS);
    out[n_out].name = strdup("Authorization");
    out[n_out++].value = auth.p;
    auth.p = NULL;
    for (size_t i = 0; i < n_extra; i++) {
        out[n_out].name = strdup(extra[i].name);
        out[n_out++].value = strdup(extra[i].value);
    }
    for (int i = 0; i < n_out; i++) {
        if (!out[i].name || !out[i].value) {
            sigv4_headers_free(out, n_out);
            n_out = 0;
            goto oom;
        }
    }
    goto out;

oom:
    set_err(err, errlen, "out of memory");
fail:
    n_out = -1;
out:
    sb_free(&auth);
    enc_kv_free(query, n_query);
    canon_hdr_free(hdrs, n_hdrs);
    free(scope);
    free(signed_headers);
    return n_out;
}

void sigv4_headers_free(struct sigv4_kv *out, int n)
{
    if (!out)
        return;
    for (int i = 0; i < n; i++) {
        free((char *)out[i].name);
        free((char *)out[i].value);
        out[i].name = out[i].value = NULL;
    }
}
