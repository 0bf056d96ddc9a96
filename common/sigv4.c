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
#include "str.h"
#include "errbuf.h"
#include "buf.h"
#include "digest.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_MAX_EXPIRES 604800L
/* SHA-256 of the empty string: the payload hash of a body-less request. */
#define SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Inline room of the scratch strings of one signature: a typical presign
 * (a few headers, the auth query, a key of a few hundred bytes) never
 * touches the heap except for the URL it returns. */
#define SIGV4_SCRATCH 2048
#define SIGV4_SMALL 512
/* Header and query lists this short live on the stack. */
#define SIGV4_STACK_ITEMS 16

/* RFC 3986 unreserved characters: the only bytes S3 leaves unencoded. */
static const unsigned char unreserved[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
};

/* Append S, URI-encoded. S must not point into B (B may move). */
static void buf_add_encoded(struct buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);

    buf_reserve(b, 3 * n);   /* the worst case, so the loop needs no checks */
    if (b->oom)
        return;
    char *o = b->p + b->len;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved[*p] || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 0xf];
        }
    }
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
    struct buf b;

    buf_init(&b, NULL, 0);
    buf_add_encoded(&b, s, keep_slash);
    return buf_take(&b);
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    digest_sha256_hex(data, len, out);
}

void sigv4_amz_date(time_t t, char out[17])
{
    /* One signature per request, mostly within the same second: keep the
     * last answer (per thread, so no locking). */
    static _Thread_local time_t last_t = (time_t)-1;
    static _Thread_local char last[17];
    struct tm tm;

    if (t == last_t && t != (time_t)-1) {
        memcpy(out, last, 17);
        return;
    }
    if (!gmtime_r(&t, &tm) ||
        strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        snprintf(out, 17, "19700101T000000Z");
        return;
    }
    memcpy(last, out, 17);
    last_t = t;
}

void sigv4_cache_wipe(struct sigv4_cache *cache)
{
    if (!cache)
        return;
    digest_forget_reused_key();
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
    ok = digest_hmac_sha256(k0, slen + 4, date, strlen(date), k1, false) &&
         digest_hmac_sha256(k1, 32, region, strlen(region), k2, false) &&
         digest_hmac_sha256(k2, 32, service, strlen(service), k3, false) &&
         digest_hmac_sha256(k3, 32, "aws4_request", 12, out, false);
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

/*
 * ---- the strings of one signature
 *
 * Header names and values (canonical), encoded query names and values and
 * the encoded path all go into one arena, each NUL-terminated and known by
 * its offset; the lists below hold offsets. One signature thus costs no
 * allocation but the string it returns, however many parameters it has.
 */

struct enc_kv {
    size_t name, value;     /* offsets of the encoded name and value */
};

struct canon_hdr {
    size_t name, value;     /* offsets of the lower-case name, canonical value */
};

static int cmp_enc_kv(const void *a, const void *b, void *arena)
{
    const struct enc_kv *x = a, *y = b;
    const char *s = arena;
    int c = strcmp(s + x->name, s + y->name);

    return c ? c : strcmp(s + x->value, s + y->value);
}

static int cmp_canon_hdr(const void *a, const void *b, void *arena)
{
    const struct canon_hdr *x = a, *y = b;
    const char *s = arena;

    return strcmp(s + x->name, s + y->name);
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

/* Append V trimmed, with every inner run of whitespace reduced to one
 * space. V must not point into B. */
static void buf_add_canon_value(struct buf *b, const char *v)
{
    size_t n = strlen(v);
    bool pending_space = false;

    buf_reserve(b, n);
    if (b->oom)
        return;
    char *start = b->p + b->len, *o = start;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (is_ws(*p)) {
            pending_space = (o != start);
            continue;
        }
        if (pending_space)
            *o++ = ' ';
        pending_space = false;
        *o++ = (char)*p;
    }
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

/* Room for N items: the stack array STACK when it is big enough. */
static void *items(void *stack, size_t n, size_t size)
{
    return n <= SIGV4_STACK_ITEMS ? stack : calloc(n ? n : 1, size);
}

static void items_free(void *p, void *stack)
{
    if (p != stack)
        free(p);
}

/*
 * Build the sorted header list into H (room for all of them): the caller's
 * headers plus EXTRA (already lower-case). Host always comes from
 * REQ->host; a caller's "host" is ignored so the two can never disagree.
 * Repeated names are merged with ',' in the order given, as HTTP and SigV4
 * define.
 */
static bool build_headers(const struct sigv4_request *req,
                          const struct sigv4_kv *extra, size_t n_extra,
                          struct buf *arena, struct canon_hdr *h,
                          size_t *n_out, char *err, size_t errlen)
{
    size_t n = 0;

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
            errbuf_set(err, errlen, "header %zu has no name or value", i);
            return false;
        }
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if (!is_tchar(*p)) {
                errbuf_set(err, errlen, "invalid header name");
                return false;
            }
        }
        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
            if (*p == '\r' || *p == '\n') {
                errbuf_set(err, errlen, "header value contains a line break");
                return false;
            }
        }
        if (i < req->n_headers && strcasecmp(name, "host") == 0)
            continue;

        size_t noff = arena->len;
        buf_add_lower(arena, name);
        size_t voff = buf_end(arena);
        buf_add_canon_value(arena, value);
        buf_end(arena);
        if (arena->oom)
            goto oom;
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(arena->p + h[j].name, arena->p + noff) == 0)
                break;
        if (j < n) {
            /* Merged value "old,new" as a new string; the pieces stay
             * behind unused. */
            size_t a = strlen(arena->p + h[j].value), b = strlen(arena->p + voff);
            size_t moff = arena->len;
            buf_reserve(arena, a + b + 2);
            if (arena->oom)
                goto oom;
            char *m = arena->p + moff;
            memcpy(m, arena->p + h[j].value, a);
            m[a] = ',';
            memcpy(m + a + 1, arena->p + voff, b);
            m[a + 1 + b] = '\0';
            arena->len = moff + a + b + 2;
            arena->p[arena->len] = '\0';
            h[j].value = moff;
        } else {
            h[n].name = noff;
            h[n].value = voff;
            n++;
        }
    }
    qsort_r(h, n, sizeof(*h), cmp_canon_hdr, arena->p);
    *n_out = n;
    return true;

oom:
    errbuf_set(err, errlen, "out of memory");
    return false;
}

static bool valid_request(const struct sigv4_request *req,
                          const struct sigv4_creds *creds, char *err,
                          size_t errlen)
{
    if (!req || !creds) {
        errbuf_set(err, errlen, "no request or credentials");
        return false;
    }
    if (!req->method || !*req->method || !req->host || !*req->host ||
        !req->path || !req->region || !*req->region) {
        errbuf_set(err, errlen, "request lacks method, host, path or region");
        return false;
    }
    if (req->path[0] != '/') {
        errbuf_set(err, errlen, "path must start with '/'");
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)req->host; *p; p++) {
        if (*p <= ' ' || *p == '/' || *p == 0x7f || *p == '?' || *p == '#' ||
            *p == '@') {
            errbuf_set(err, errlen, "invalid host");
            return false;
        }
    }
    for (const unsigned char *p = (const unsigned char *)req->method; *p; p++) {
        if (*p < 'A' || *p > 'Z') {
            errbuf_set(err, errlen, "invalid method");
            return false;
        }
    }
    /* The region and service go into the scope, which is '/'-separated. */
    if (strchr(req->region, '/') || (req->service && strchr(req->service, '/')) ||
        (req->service && !*req->service)) {
        errbuf_set(err, errlen, "invalid region or service");
        return false;
    }
    if (!creds->access_key_id || !*creds->access_key_id ||
        !creds->secret_access_key || !*creds->secret_access_key) {
        errbuf_set(err, errlen, "no credentials");
        return false;
    }
    if (strchr(creds->access_key_id, '/')) {
        errbuf_set(err, errlen, "invalid access key id");
        return false;
    }
    for (size_t i = 0; i < req->n_query; i++) {
        if (!req->query[i].name || !req->query[i].value) {
            errbuf_set(err, errlen, "query parameter %zu has no name or value", i);
            return false;
        }
    }
    struct tm tm;
    if (!gmtime_r(&req->now, &tm) || tm.tm_year + 1900 < 1970 ||
        tm.tm_year + 1900 > 9999) {
        errbuf_set(err, errlen, "timestamp out of range");
        return false;
    }
    return true;
}

/*
 * The shared core: canonical request -> string to sign -> signature.
 * A is the arena the offsets point into; PATH_OFF is the encoded path.
 * QUERY is the full list of encoded query parameters (auth parameters of a
 * presigned URL included); it is sorted in place.
 */
static bool compute_signature(const struct sigv4_request *req, const char *a,
                              size_t path_off, struct enc_kv *query,
                              size_t n_query, const struct canon_hdr *hdrs,
                              size_t n_hdrs, const char *signed_headers,
                              const char *payload_hash, const char *amz_date,
                              const char *scope,
                              const struct sigv4_creds *creds,
                              struct sigv4_cache *cache, char sig_hex[65],
                              char *err, size_t errlen)
{
    char cr_store[SIGV4_SCRATCH], sts_store[SIGV4_SMALL];
    struct buf cr, sts;
    const char *service = req->service ? req->service : "s3";
    char date[9], cr_hash[65];
    unsigned char key[32], sig[32];
    bool ok = false;

    buf_init(&cr, cr_store, sizeof cr_store);
    buf_init(&sts, sts_store, sizeof sts_store);
    cr.secret = true;       /* the canonical request names the session token */
    qsort_r(query, n_query, sizeof(*query), cmp_enc_kv, (void *)a);

    buf_add(&cr, req->method);
    buf_addc(&cr, '\n');
    buf_add(&cr, a + path_off);
    buf_addc(&cr, '\n');
    for (size_t i = 0; i < n_query; i++) {
        if (i)
            buf_addc(&cr, '&');
        buf_add(&cr, a + query[i].name);
        buf_addc(&cr, '=');
        buf_add(&cr, a + query[i].value);
    }
    buf_addc(&cr, '\n');
    for (size_t i = 0; i < n_hdrs; i++) {
        buf_add(&cr, a + hdrs[i].name);
        buf_addc(&cr, ':');
        buf_add(&cr, a + hdrs[i].value);
        buf_addc(&cr, '\n');
    }
    buf_addc(&cr, '\n');
    buf_add(&cr, signed_headers);
    buf_addc(&cr, '\n');
    buf_add(&cr, payload_hash);
    if (cr.oom)
        goto oom;
    sigv4_sha256_hex(cr.p, cr.len, cr_hash);

    buf_add(&sts, SIGV4_ALGORITHM "\n");
    buf_add(&sts, amz_date);
    buf_addc(&sts, '\n');
    buf_add(&sts, scope);
    buf_addc(&sts, '\n');
    buf_add(&sts, cr_hash);
    if (sts.oom)
        goto oom;

    memcpy(date, amz_date, 8);
    date[8] = '\0';
    if (!derive_key(creds, date, req->region, service, cache, key) ||
        !digest_hmac_sha256(key, 32, sts.p, sts.len, sig, true)) {
        errbuf_set(err, errlen, "HMAC-SHA256 failed");
        goto out;
    }
    digest_hex(sig, 32, sig_hex);
    ok = true;
    goto out;

oom:
    errbuf_set(err, errlen, "out of memory");
out:
    OPENSSL_cleanse(key, sizeof(key));
    buf_free(&cr);
    buf_free(&sts);
    return ok;
}

static void add_signed_headers(struct buf *b, const char *a,
                               const struct canon_hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addc(b, ';');
        buf_add(b, a + h[i].name);
    }
}

static bool has_token(const struct sigv4_creds *creds)
{
    return creds->session_token && *creds->session_token;
}

/* "AKID/YYYYMMDD/REGION/SERVICE/aws4_request"; the scope proper starts
 * after the first '/'. */
static void add_scope(struct buf *b, const struct sigv4_request *req,
                      const char *amz_date, const struct sigv4_creds *creds)
{
    buf_add(b, creds->access_key_id);
    buf_addc(b, '/');
    buf_addn(b, amz_date, 8);
    buf_addc(b, '/');
    buf_add(b, req->region);
    buf_addc(b, '/');
    buf_add(b, req->service ? req->service : "s3");
    buf_add(b, "/aws4_request");
}

bool sigv4_post_credential(const struct sigv4_creds *creds, const char *region, time_t now,
                           char *out, size_t outlen)
{
    char amz_date[17];
    struct buf b;
    struct sigv4_request req = { .region = region, .service = "s3" };

    sigv4_amz_date(now, amz_date);
    buf_init(&b, out, outlen);
    b.limit = outlen - 1;
    add_scope(&b, &req, amz_date, creds);
    bool ok = !buf_failed(&b) && b.p == out;
    buf_free(&b);
    return ok;
}

bool sigv4_sign_policy(const char *policy_b64, const struct sigv4_creds *creds,
                       const char *region, time_t now, struct sigv4_cache *cache,
                       char sig_hex[65], char *err, size_t errlen)
{
    char amz_date[17], date[9];
    unsigned char key[32], sig[32];

    sigv4_amz_date(now, amz_date);
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    /* Unlike a request's, this signature covers the policy alone: no
     * canonical request, no string-to-sign header lines. */
    bool ok = derive_key(creds, date, region, "s3", cache, key) &&
              digest_hmac_sha256(key, 32, policy_b64, strlen(policy_b64), sig, true);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) {
        errbuf_set(err, errlen, "HMAC-SHA256 failed");
        return false;
    }
    digest_hex(sig, 32, sig_hex);
    return true;
}

/* Append an encoded name=value to Q (which has room) and ARENA. Neither
 * NAME nor VALUE may point into ARENA. */
static void push_query(struct buf *arena, struct enc_kv *q, size_t *n,
                       const char *name, const char *value)
{
    q[*n].name = arena->len;
    buf_add_encoded(arena, name, false);
    q[*n].value = buf_end(arena);
    buf_add_encoded(arena, value, false);
    buf_end(arena);
    (*n)++;
}

/*
 * What both kinds of signature start with: the canonical headers (REQ's and
 * EXTRA) into HDRS, the credential scope, the signed-header list, the
 * encoded path (at *PATH_OFF in ARENA) and REQ's encoded query parameters
 * into QUERY. False with ERR filled for a request that cannot be signed.
 */
static bool common_parts(const struct sigv4_request *req, const struct sigv4_kv *extra,
                         size_t n_extra, const char *amz_date, const struct sigv4_creds *creds,
                         struct buf *arena, struct buf *scope, struct buf *sh,
                         struct canon_hdr *hdrs, size_t *n_hdrs, size_t *path_off,
                         struct enc_kv *query, size_t *n_query, char *err, size_t errlen)
{
    if (!build_headers(req, extra, n_extra, arena, hdrs, n_hdrs, err, errlen))
        return false;
    add_scope(scope, req, amz_date, creds);
    add_signed_headers(sh, arena->p, hdrs, *n_hdrs);
    *path_off = arena->len;
    buf_add_encoded(arena, req->path, true);
    buf_end(arena);
    for (size_t i = 0; i < req->n_query; i++)
        push_query(arena, query, n_query, req->query[i].name, req->query[i].value);
    return true;
}

char *sigv4_presign_url(const struct sigv4_request *req, const char *scheme,
                        long expires, const struct sigv4_creds *creds,
                        struct sigv4_cache *cache, char *err, size_t errlen)
{
    char amz_date[17], expires_s[24], sig[65];
    char arena_store[SIGV4_SCRATCH], scope_store[SIGV4_SMALL], sh_store[SIGV4_SMALL];
    struct canon_hdr hstack[SIGV4_STACK_ITEMS], *hdrs = NULL;
    struct enc_kv qstack[SIGV4_STACK_ITEMS], ostack[SIGV4_STACK_ITEMS];
    struct enc_kv *query = NULL, *url_order = NULL;
    size_t n_hdrs = 0, n_query = 0, path_off = 0;
    struct buf arena, scope, sh, b;
    char *url = NULL;

    if (!valid_request(req, creds, err, errlen))
        return NULL;
    if (!scheme || (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
        errbuf_set(err, errlen, "scheme must be http or https");
        return NULL;
    }
    if (expires < 1 || expires > SIGV4_MAX_EXPIRES) {
        errbuf_set(err, errlen, "expires must be between 1 and %ld seconds",
                SIGV4_MAX_EXPIRES);
        return NULL;
    }

    sigv4_amz_date(req->now, amz_date);
    {   /* expires is 1..604800: decimal digits by hand, no printf */
        char *e = expires_s + sizeof(expires_s) - 1;
        long v = expires;
        *e = '\0';
        do {
            *--e = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        memmove(expires_s, e, (size_t)(expires_s + sizeof(expires_s) - e));
    }
    buf_init(&arena, arena_store, sizeof arena_store);
    buf_init(&scope, scope_store, sizeof scope_store);
    buf_init(&sh, sh_store, sizeof sh_store);
    buf_init(&b, NULL, 0);

    hdrs = items(hstack, req->n_headers + 1, sizeof(*hdrs));
    query = items(qstack, req->n_query + 6, sizeof(*query));
    url_order = items(ostack, req->n_query + 6, sizeof(*url_order));
    if (!hdrs || !query || !url_order)
        goto oom;
    /* Operation parameters first, then the auth parameters, in the order
     * botocore writes them: S3 does not care, but identical URLs make the
     * comparison with botocore exact. */
    if (!common_parts(req, NULL, 0, amz_date, creds, &arena, &scope, &sh, hdrs, &n_hdrs,
                      &path_off, query, &n_query, err, errlen))
        goto fail;
    push_query(&arena, query, &n_query, "X-Amz-Algorithm", SIGV4_ALGORITHM);
    push_query(&arena, query, &n_query, "X-Amz-Credential", scope.p ? scope.p : "");
    push_query(&arena, query, &n_query, "X-Amz-Date", amz_date);
    push_query(&arena, query, &n_query, "X-Amz-Expires", expires_s);
    push_query(&arena, query, &n_query, "X-Amz-SignedHeaders", sh.p ? sh.p : "");
    if (has_token(creds))
        push_query(&arena, query, &n_query, "X-Amz-Security-Token", creds->session_token);
    if (arena.oom || scope.oom || sh.oom)
        goto oom;
    memcpy(url_order, query, n_query * sizeof(*query));

    if (!compute_signature(req, arena.p, path_off, query, n_query, hdrs, n_hdrs,
                           sh.p, SIGV4_UNSIGNED_PAYLOAD, amz_date,
                           scope.p + strlen(creds->access_key_id) + 1, creds, cache,
                           sig, err, errlen))
        goto fail;

    /* The URL, sized once: its parts are all known now. */
    size_t need = strlen(scheme) + 3 + strlen(req->host) + strlen(arena.p + path_off) +
                  sizeof("&X-Amz-Signature=") + 64;
    for (size_t i = 0; i < n_query; i++)
        need += 2 + strlen(arena.p + url_order[i].name) + strlen(arena.p + url_order[i].value);
    buf_reserve(&b, need);
    buf_add(&b, scheme);
    buf_add(&b, "://");
    buf_add(&b, req->host);
    buf_add(&b, arena.p + path_off);
    for (size_t i = 0; i < n_query; i++) {
        buf_addc(&b, i ? '&' : '?');
        buf_add(&b, arena.p + url_order[i].name);
        buf_addc(&b, '=');
        buf_add(&b, arena.p + url_order[i].value);
    }
    buf_add(&b, "&X-Amz-Signature=");
    buf_add(&b, sig);
    url = buf_take(&b);
    if (!url)
        goto oom;
    goto out;

oom:
    errbuf_set(err, errlen, "out of memory");
fail:
    buf_free(&b);
out:
    items_free(hdrs, hstack);
    items_free(query, qstack);
    items_free(url_order, ostack);
    buf_free(&arena);
    buf_free(&scope);
    buf_free(&sh);
    return url;
}

int sigv4_sign_headers(const struct sigv4_request *req, const char *payload_sha256,
                       const struct sigv4_creds *creds, struct sigv4_cache *cache,
                       struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS],
                       char *err, size_t errlen)
{
    char amz_date[17], sig[65];
    char arena_store[SIGV4_SCRATCH], scope_store[SIGV4_SMALL], sh_store[SIGV4_SMALL];
    struct canon_hdr hstack[SIGV4_STACK_ITEMS], *hdrs = NULL;
    struct enc_kv qstack[SIGV4_STACK_ITEMS], *query = NULL;
    size_t n_hdrs = 0, n_query = 0, path_off = 0;
    struct buf arena, scope, sh, auth;
    struct sigv4_kv extra[3];
    size_t n_extra = 0;
    int n_out = 0;
    const char *payload = payload_sha256 ? payload_sha256 : SIGV4_EMPTY_SHA256;

    if (!valid_request(req, creds, err, errlen))
        return -1;
    if (!*payload || strchr(payload, '\n')) {
        errbuf_set(err, errlen, "invalid payload hash");
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
            errbuf_set(err, errlen, "header %s is set by the signer", nm);
            return -1;
        }
    }

    buf_init(&arena, arena_store, sizeof arena_store);
    buf_init(&scope, scope_store, sizeof scope_store);
    buf_init(&sh, sh_store, sizeof sh_store);
    buf_init(&auth, NULL, 0);
    /* The arena holds the session token header; the Authorization line
     * is built in AUTH (handed over, then wiped by sigv4_headers_free). */
    arena.secret = true;
    auth.secret = true;
    hdrs = items(hstack, req->n_headers + n_extra + 1, sizeof(*hdrs));
    query = items(qstack, req->n_query + 1, sizeof(*query));
    if (!hdrs || !query)
        goto oom;
    if (!common_parts(req, extra, n_extra, amz_date, creds, &arena, &scope, &sh, hdrs, &n_hdrs,
                      &path_off, query, &n_query, err, errlen))
        goto fail;
    if (arena.oom || scope.oom || sh.oom)
        goto oom;

    if (!compute_signature(req, arena.p, path_off, query, n_query, hdrs, n_hdrs,
                           sh.p, payload, amz_date,
                           scope.p + strlen(creds->access_key_id) + 1,
                           creds, cache, sig, err, errlen))
        goto fail;

    buf_add(&auth, SIGV4_ALGORITHM " Credential=");
    buf_add(&auth, scope.p);
    buf_add(&auth, ", SignedHeaders=");
    buf_add(&auth, sh.p);
    buf_add(&auth, ", Signature=");
    buf_add(&auth, sig);

    memset(out, 0, sizeof(*out) * SIGV4_MAX_OUT_HEADERS);
    out[n_out].name = strdup("Authorization");
    out[n_out++].value = buf_take(&auth);
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
    errbuf_set(err, errlen, "out of memory");
fail:
    n_out = -1;
out:
    buf_free(&auth);
    items_free(hdrs, hstack);
    items_free(query, qstack);
    buf_free(&arena);
    buf_free(&scope);
    buf_free(&sh);
    return n_out;
}

void sigv4_headers_free(struct sigv4_kv *out, int n)
{
    if (!out)
        return;
    /* The values are the session token and the Authorization line. */
    for (int i = 0; i < n; i++) {
        free((char *)out[i].name);
        str_free_secret((char *)out[i].value);
        out[i].name = out[i].value = NULL;
    }
}
