/*
 * test_sigv4.c - SigV4 signing checked against botocore and AWS's examples.
 *
 * The bulk of the cases comes from tests/unit/sigv4_vectors.py, which lets
 * botocore sign a few hundred requests at fixed timestamps (make unit writes
 * them to the file named by SIGV4_VECTORS). Every presigned URL must equal
 * botocore's byte for byte, every Authorization header likewise. The
 * documented AWS S3 examples are hard-coded so the suite also stands on
 * something that is not botocore.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#define MIN_VECTORS 200

/* 2013-05-24T00:00:00Z, the date of AWS's S3 signing examples. */
#define DOC_TIME ((time_t)1369353600)
#define DOC_AKID "AKIAIOSFODNN7EXAMPLE"
#define DOC_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct sigv4_creds doc_creds = { DOC_AKID, DOC_SECRET, NULL };

/* ---- helpers */

static const char *find_header(const struct sigv4_kv *out, int n,
                               const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(out[i].name, name) == 0)
            return out[i].value;
    return NULL;
}

static char *sign_auth(const struct sigv4_request *req, const char *payload,
                       const struct sigv4_creds *creds,
                       struct sigv4_cache *cache)
{
    struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS];
    char err[256] = "";
    int n = sigv4_sign_headers(req, payload, creds, cache, out, err, sizeof(err));

    if (n < 0)
        fail_msg("sigv4_sign_headers: %s", err);
    const char *auth = find_header(out, n, "Authorization");
    assert_non_null(auth);
    char *r = strdup(auth);
    sigv4_headers_free(out, n);
    return r;
}

/* ---- AWS's documented examples (S3 API reference, "Signature Version 4
 * examples": GET object, PUT object, GET lifecycle, list objects, and the
 * presigned URL example). */

static void test_doc_get_object_range(void **state)
{
    (void)state;
    struct sigv4_kv hdrs[] = { { "Range", "bytes=0-9" } };
    struct sigv4_request req = {
        .method = "GET", .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt", .headers = hdrs, .n_headers = 1,
        .region = "us-east-1", .now = DOC_TIME,
    };
    char *auth = sign_auth(&req, EMPTY_SHA256, &doc_creds, NULL);
    assert_string_equal(auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
        "x-amz-date, Signature="
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(auth);

    /* NULL payload means the empty body: same signature. */
    auth = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_non_null(strstr(auth,
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
    free(auth);
}

static void test_doc_put_object(void **state)
{
    (void)state;
    const char *body = "Welcome to Amazon S3.";
    char payload[65];
    sigv4_sha256_hex(body, strlen(body), payload);
    assert_string_equal(payload,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

    struct sigv4_kv hdrs[] = {
        { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
        { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
    };
    struct sigv4_request req = {
        .method = "PUT", .host = "examplebucket.s3.amazonaws.com",
        .path = "/test$file.text", .headers = hdrs, .n_headers = 2,
        .region = "us-east-1", .now = DOC_TIME,
    };
    char *auth = sign_auth(&req, payload, &doc_creds, NULL);
    assert_string_equal(auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;"
        "x-amz-date;x-amz-storage-class, Signature="
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    free(auth);
}

static void test_doc_get_lifecycle(void **state)
{
    (void)state;
    struct sigv4_kv q[] = { { "lifecycle", "" } };
    struct sigv4_request req = {
        .method = "GET", .host = "examplebucket.s3.amazonaws.com",
        .path = "/", .query = q, .n_query = 1,
        .region = "us-east-1", .now = DOC_TIME,
    };
    char *auth = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_string_equal(auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature="
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    free(auth);
}

static void test_doc_list_objects(void **state)
{
    (void)state;
    /* Given out of order on purpose: the canonical query is sorted. */
    struct sigv4_kv q[] = { { "prefix", "J" }, { "max-keys", "2" } };
    struct sigv4_request req = {
        .method = "GET", .host = "examplebucket.s3.amazonaws.com",
        .path = "/", .query = q, .n_query = 2,
        .region = "us-east-1", .now = DOC_TIME,
    };
    char *auth = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_string_equal(auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature="
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(auth);
}

static void test_doc_presigned_get(void **state)
{
    (void)state;
    struct sigv4_request req = {
        .method = "GET", .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt", .region = "us-east-1", .now = DOC_TIME,
    };
    char err[256] = "";
    char *url = sigv4_presign_url(&req, "https", 86400, &doc_creds, NULL,
                                  err, sizeof(err));
    assert_non_null(url);
    assert_string_equal(url,
        "https://examplebucket.s3.amazonaws.com/test.txt"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
        "&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(url);
}

/* ---- botocore vectors */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode LEN hex chars at S into a malloc'd NUL-terminated string. */
static char *unhex(const char *s, size_t len)
{
    char *out = malloc(len / 2 + 1);
    assert_non_null(out);
    assert_int_equal(len % 2, 0);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        assert_true(hi >= 0 && lo >= 0);
        out[i] = (char)(hi << 4 | lo);
    }
    out[len / 2] = '\0';
    return out;
}

#define N_FIELDS 16

struct kv_list {
    struct sigv4_kv *v;
    size_t n;
};

static struct kv_list parse_kvs(const char *s)
{
    struct kv_list l = { NULL, 0 };
    size_t cap = 0;

    while (*s) {
        const char *colon = strchr(s, ':');
        const char *comma = strchr(s, ',');
        if (!comma)
            comma = s + strlen(s);
        assert_non_null(colon);
        assert_true(colon < comma);
        if (l.n == cap) {
            cap = cap ? cap * 2 : 8;
            l.v = realloc(l.v, cap * sizeof(*l.v));
            assert_non_null(l.v);
        }
        l.v[l.n].name = unhex(s, (size_t)(colon - s));
        l.v[l.n].value = unhex(colon + 1, (size_t)(comma - colon - 1));
        l.n++;
        s = *comma ? comma + 1 : comma;
    }
    return l;
}

static void free_kvs(struct kv_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
}

/* Run one row; returns 0 when it matches, 1 (and prints why) when not. */
static int run_vector(char *line, int lineno, struct sigv4_cache *cache)
{
    char *f[N_FIELDS];
    int nf = 0;
    char *p = line;

    for (;;) {
        f[nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab || nf == N_FIELDS)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (nf != N_FIELDS) {
        print_error("line %d: %d fields, expected %d\n", lineno, nf, N_FIELDS);
        return 1;
    }

    char *host = unhex(f[4], strlen(f[4]));
    char *path = unhex(f[5], strlen(f[5]));
    char *akid = unhex(f[7], strlen(f[7]));
    char *secret = unhex(f[8], strlen(f[8]));
    char *token = unhex(f[9], strlen(f[9]));
    char *payload = unhex(f[12], strlen(f[12]));
    char *expected = unhex(f[15], strlen(f[15]));
    struct kv_list q = parse_kvs(f[13]);
    struct kv_list h = parse_kvs(f[14]);
    struct sigv4_creds creds = { akid, secret, *token ? token : NULL };
    struct sigv4_request req = {
        .method = f[2], .host = host, .path = path,
        .query = q.v, .n_query = q.n, .headers = h.v, .n_headers = h.n,
        .region = f[6], .service = NULL, .now = (time_t)strtoll(f[10], NULL, 10),
    };
    char err[256] = "";
    char *got = NULL;
    int bad = 0;

    if (strcmp(f[1], "presign") == 0) {
        got = sigv4_presign_url(&req, f[3], strtol(f[11], NULL, 10), &creds,
                                cache, err, sizeof(err));
    } else if (strcmp(f[1], "header") == 0) {
        struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS];
        int n = sigv4_sign_headers(&req, payload, &creds, cache, out, err,
                                   sizeof(err));
        if (n >= 0) {
            const char *a = find_header(out, n, "Authorization");
            const char *tok = find_header(out, n, "x-amz-security-token");
            const char *sha = find_header(out, n, "x-amz-content-sha256");
            got = a ? strdup(a) : NULL;
            /* The other headers must carry what was signed. */
            if (!sha || strcmp(sha, payload) != 0 ||
                (*token && (!tok || strcmp(tok, token) != 0)) ||
                (!*token && tok) || !find_header(out, n, "x-amz-date"))
                bad = 1;
            sigv4_headers_free(out, n);
        }
    } else if (strcmp(f[1], "post") == 0) {
        /* botocore's policy: our signature of it, and our credential field. */
        char sig[65], cred[256], amz_date[17];
        if (sigv4_sign_policy(payload, &creds, req.region, req.now, cache, sig, err,
                              sizeof(err)))
            got = strdup(sig);
        sigv4_amz_date(req.now, amz_date);
        if (!sigv4_post_credential(&creds, req.region, req.now, cred, sizeof(cred)) ||
            q.n != 2 || strcmp(q.v[0].value, cred) != 0 || strcmp(q.v[1].value, amz_date) != 0)
            bad = 1;
    } else {
        print_error("line %d: unknown kind %s\n", lineno, f[1]);
        bad = 1;
    }

    if (!got || strcmp(got, expected) != 0 || bad) {
        print_error("line %d (%s): mismatch\n  want %s\n  got  %s%s%s\n",
                    lineno, f[0], expected, got ? got : "(null)",
                    got ? "" : " err=", got ? "" : err);
        bad = 1;
    }
    free(got);
    free(host);
    free(path);
    free(akid);
    free(secret);
    free(token);
    free(payload);
    free(expected);
    free_kvs(&q);
    free_kvs(&h);
    return bad;
}

static void test_botocore_vectors(void **state)
{
    (void)state;
    const char *path = getenv("SIGV4_VECTORS");
    if (!path || !*path)
        fail_msg("SIGV4_VECTORS is not set (run through make unit)");
    FILE *fp = fopen(path, "r");
    if (!fp)
        fail_msg("cannot open %s", path);

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rows = 0, failures = 0, presign = 0, header = 0, post = 0;
    /* One shared cache, as a worker has: rows change key, date and region
     * all the time, so this also proves the cache never serves a stale key. */
    struct sigv4_cache cache = { 0 };

    while ((len = getline(&line, &cap, fp)) != -1) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        rows++;
        if (strstr(line, "\tpresign\t"))
            presign++;
        if (strstr(line, "\tpost\t"))
            post++;
        else
            header++;
        failures += run_vector(line, rows, &cache);
    }
    free(line);
    fclose(fp);
    sigv4_cache_wipe(&cache);

    print_message("botocore vectors: %d rows (%d presigned URLs, %d "
                  "Authorization headers, %d POST policies), %d mismatches\n",
                  rows, presign, header, post, failures);
    assert_int_equal(failures, 0);
    if (rows < MIN_VECTORS)
        fail_msg("only %d vectors in %s (need at least %d)", rows, path,
                 MIN_VECTORS);
    assert_true(presign >= 100);
    assert_true(header >= 100);
    assert_true(post >= 10);
}

/* ---- encoding and small helpers */

static void test_uri_encode(void **state)
{
    (void)state;
    static const struct { const char *in; bool slash; const char *out; } c[] = {
        { "", true, "" },
        { "AZaz09-._~", false, "AZaz09-._~" },
        { "a b", true, "a%20b" },
        { "a/b", true, "a/b" },
        { "a/b", false, "a%2Fb" },
        { "//./../", true, "//./../" },
        { "+=&%", false, "%2B%3D%26%25" },
        { "'\"()*!$,;:@#?", true, "%27%22%28%29%2A%21%24%2C%3B%3A%40%23%3F" },
        { "\xc3\xa9", true, "%C3%A9" },
        { "\xe6\x97\xa5\xe6\x9c\xac", true, "%E6%97%A5%E6%9C%AC" },
        { "\xf0\x9f\x98\x80", true, "%F0%9F%98%80" },
        { "\t\n\x7f\xff", true, "%09%0A%7F%FF" },
        { "%20", true, "%2520" },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char *e = sigv4_uri_encode(c[i].in, c[i].slash);
        assert_non_null(e);
        assert_string_equal(e, c[i].out);
        free(e);
    }
}

static void test_sha256_and_date(void **state)
{
    (void)state;
    char h[65], d[17];

    sigv4_sha256_hex("", 0, h);
    assert_string_equal(h, EMPTY_SHA256);
    sigv4_sha256_hex("abc", 3, h);
    assert_string_equal(h,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sigv4_amz_date(DOC_TIME, d);
    assert_string_equal(d, "20130524T000000Z");
    sigv4_amz_date(0, d);
    assert_string_equal(d, "19700101T000000Z");
    sigv4_amz_date((time_t)1709642096, d);
    assert_string_equal(d, "20240305T123456Z");
}

/* ---- derived-key cache */

static const char *sig_of(const char *auth)
{
    const char *s = strstr(auth, "Signature=");
    assert_non_null(s);
    return s + 10;
}

static void test_cache_reuse_and_rederive(void **state)
{
    (void)state;
    struct sigv4_cache cache = { 0 };
    struct sigv4_kv hdrs[] = { { "Range", "bytes=0-9" } };
    struct sigv4_request req = {
        .method = "GET", .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt", .headers = hdrs, .n_headers = 1,
        .region = "us-east-1", .now = DOC_TIME,
    };
    const char *want =
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    char *a = sign_auth(&req, NULL, &doc_creds, &cache);
    assert_string_equal(sig_of(a), want);
    free(a);
    assert_true(cache.valid);
    assert_string_equal(cache.access_key_id, DOC_AKID);
    assert_string_equal(cache.date, "20130524");
    assert_string_equal(cache.region, "us-east-1");
    assert_string_equal(cache.service, "s3");

    /* Same day, later time: the cached key is used. Poison it to prove that
     * no fresh derivation happens behind the cache's back. */
    unsigned char saved[32];
    memcpy(saved, cache.key, 32);
    memset(cache.key, 0xAB, 32);
    req.now = DOC_TIME + 3600;
    a = sign_auth(&req, NULL, &doc_creds, &cache);
    char *b = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_string_not_equal(sig_of(a), sig_of(b));
    free(a);
    free(b);
    memcpy(cache.key, saved, 32);
    a = sign_auth(&req, NULL, &doc_creds, &cache);
    b = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_string_equal(sig_of(a), sig_of(b));
    free(a);
    free(b);

    /* A new date re-derives (the poison does not survive). */
    memset(cache.key, 0xAB, 32);
    req.now = DOC_TIME + 86400;
    a = sign_auth(&req, NULL, &doc_creds, &cache);
    b = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_string_equal(sig_of(a), sig_of(b));
    assert_string_equal(cache.date, "20130525");
    free(a);
    free(b);

    /* A new region re-derives. */
    memset(cache.key, 0xAB, 32);
    req.region = "eu-west-3";
    a = sign_auth(&req, NULL, &doc_creds, &cache);
    b = sign_auth(&req, NULL, &doc_creds, NULL);
    assert_string_equal(sig_of(a), sig_of(b));
    assert_string_equal(cache.region, "eu-west-3");
    free(a);
    free(b);

    /* New credentials re-derive. */
    struct sigv4_creds other = { "AKIDOTHER", "other-secret", NULL };
    memset(cache.key, 0xAB, 32);
    a = sign_auth(&req, NULL, &other, &cache);
    b = sign_auth(&req, NULL, &other, NULL);
    assert_string_equal(sig_of(a), sig_of(b));
    assert_string_equal(cache.access_key_id, "AKIDOTHER");
    free(a);
    free(b);

    /* Another service re-derives too. */
    memset(cache.key, 0xAB, 32);
    req.service = "sts";
    a = sign_auth(&req, NULL, &other, &cache);
    b = sign_auth(&req, NULL, &other, NULL);
    assert_string_equal(sig_of(a), sig_of(b));
    assert_string_equal(cache.service, "sts");
    free(a);
    free(b);

    /* Presigning shares the cache. */
    req.service = NULL;
    req.headers = NULL;
    req.n_headers = 0;
    char err[128];
    char *u1 = sigv4_presign_url(&req, "https", 60, &other, &cache, err, sizeof(err));
    char *u2 = sigv4_presign_url(&req, "https", 60, &other, NULL, err, sizeof(err));
    assert_non_null(u1);
    assert_non_null(u2);
    assert_string_equal(u1, u2);
    assert_string_equal(cache.service, "s3");
    free(u1);
    free(u2);

    sigv4_cache_wipe(&cache);
    assert_false(cache.valid);
    static const unsigned char zero[32];
    assert_memory_equal(cache.key, zero, 32);
    assert_string_equal(cache.access_key_id, "");
}

static void test_cache_oversized_fields_not_cached(void **state)
{
    (void)state;
    char akid[200];
    memset(akid, 'A', sizeof(akid) - 1);
    akid[sizeof(akid) - 1] = '\0';
    struct sigv4_creds c = { akid, "secret", NULL };
    struct sigv4_cache cache = { 0 };
    struct sigv4_request req = {
        .method = "HEAD", .host = "h", .path = "/k", .region = "us-east-1",
        .now = DOC_TIME,
    };
    char *a = sign_auth(&req, NULL, &c, &cache);
    char *b = sign_auth(&req, NULL, &c, NULL);
    assert_string_equal(a, b);
    assert_false(cache.valid);
    free(a);
    free(b);
}

/* ---- request shapes and refusals */

static void test_presign_put_and_token(void **state)
{
    (void)state;
    struct sigv4_kv hdrs[] = { { "Content-Type", "  image/png  " } };
    struct sigv4_creds creds = { DOC_AKID, DOC_SECRET, "tok/en+=" };
    struct sigv4_request req = {
        .method = "PUT", .host = "127.0.0.1:7480",
        .path = "/bucket/uploads/a b//c.png", .headers = hdrs, .n_headers = 1,
        .region = "us-east-1", .now = DOC_TIME,
    };
    char err[128];
    char *url = sigv4_presign_url(&req, "http", 600, &creds, NULL, err, sizeof(err));
    assert_non_null(url);
    assert_non_null(strstr(url, "http://127.0.0.1:7480/bucket/uploads/a%20b//c.png?"));
    assert_non_null(strstr(url, "&X-Amz-SignedHeaders=content-type%3Bhost&"));
    assert_non_null(strstr(url, "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature="));
    assert_non_null(strstr(url, "&X-Amz-Expires=600&"));
    /* Whitespace around the value is not part of what is signed. */
    hdrs[0].value = "image/png";
    char *url2 = sigv4_presign_url(&req, "http", 600, &creds, NULL, err, sizeof(err));
    assert_string_equal(url, url2);
    free(url2);
    /* Another content type: another signature. */
    hdrs[0].value = "image/jpeg";
    url2 = sigv4_presign_url(&req, "http", 600, &creds, NULL, err, sizeof(err));
    assert_string_not_equal(url, url2);
    free(url2);
    free(url);

    /* Header auth with a token sends it as a header, and signs it. */
    struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS];
    req.method = "HEAD";
    req.headers = NULL;
    req.n_headers = 0;
    int n = sigv4_sign_headers(&req, NULL, &creds, NULL, out, err, sizeof(err));
    assert_int_equal(n, 4);
    assert_string_equal(find_header(out, n, "x-amz-security-token"), "tok/en+=");
    assert_string_equal(find_header(out, n, "x-amz-date"), "20130524T000000Z");
    assert_string_equal(find_header(out, n, "x-amz-content-sha256"), EMPTY_SHA256);
    assert_non_null(strstr(find_header(out, n, "Authorization"),
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
    sigv4_headers_free(out, n);

    /* An empty token is no token. */
    creds.session_token = "";
    n = sigv4_sign_headers(&req, NULL, &creds, NULL, out, err, sizeof(err));
    assert_int_equal(n, 3);
    assert_null(find_header(out, n, "x-amz-security-token"));
    sigv4_headers_free(out, n);
}

static void test_refusals(void **state)
{
    (void)state;
    struct sigv4_request ok = {
        .method = "GET", .host = "h.example", .path = "/k",
        .region = "us-east-1", .now = DOC_TIME,
    };
    struct sigv4_request r;
    char err[128];
    struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS];
    struct sigv4_creds nocreds = { "", "", NULL };

#define REFUSE_PRESIGN(req_, scheme_, exp_, creds_) do { \
        err[0] = '\0'; \
        char *u_ = sigv4_presign_url((req_), (scheme_), (exp_), (creds_), NULL, \
                                     err, sizeof(err)); \
        assert_null(u_); \
        assert_true(err[0] != '\0'); \
    } while (0)

    REFUSE_PRESIGN(&ok, "https", 0, &doc_creds);
    REFUSE_PRESIGN(&ok, "https", 604801, &doc_creds);
    REFUSE_PRESIGN(&ok, "ftp", 60, &doc_creds);
    REFUSE_PRESIGN(&ok, NULL, 60, &doc_creds);
    REFUSE_PRESIGN(&ok, "https", 60, &nocreds);
    REFUSE_PRESIGN(&ok, "https", 60, NULL);
    REFUSE_PRESIGN(NULL, "https", 60, &doc_creds);
    r = ok; r.path = "k";
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    r = ok; r.host = "evil.example/x";
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    r = ok; r.host = "a b";
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    r = ok; r.method = "get";
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    r = ok; r.region = "";
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    r = ok; r.region = "us/east";
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    struct sigv4_kv bad_hdr[] = { { "content-type", "a\r\nX-Evil: 1" } };
    r = ok; r.headers = bad_hdr; r.n_headers = 1;
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    struct sigv4_kv bad_name[] = { { "content type", "x" } };
    r = ok; r.headers = bad_name; r.n_headers = 1;
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);
    struct sigv4_kv null_q[] = { { "a", NULL } };
    r = ok; r.query = null_q; r.n_query = 1;
    REFUSE_PRESIGN(&r, "https", 60, &doc_creds);

    /* Limits are inclusive. */
    char *u = sigv4_presign_url(&ok, "https", 604800, &doc_creds, NULL, err, sizeof(err));
    assert_non_null(u);
    free(u);
    u = sigv4_presign_url(&ok, "https", 1, &doc_creds, NULL, err, sizeof(err));
    assert_non_null(u);
    free(u);

    /* Header auth refuses to have its own headers supplied twice. */
    struct sigv4_kv dup[] = { { "X-Amz-Date", "20000101T000000Z" } };
    r = ok; r.headers = dup; r.n_headers = 1;
    err[0] = '\0';
    assert_int_equal(sigv4_sign_headers(&r, NULL, &doc_creds, NULL, out, err,
                                        sizeof(err)), -1);
    assert_true(err[0] != '\0');
    assert_int_equal(sigv4_sign_headers(&ok, "bad\nhash", &doc_creds, NULL,
                                        out, err, sizeof(err)), -1);
    assert_int_equal(sigv4_sign_headers(&ok, NULL, &nocreds, NULL,
                                        out, err, sizeof(err)), -1);
}

static void test_host_from_request_only(void **state)
{
    (void)state;
    /* A caller's "Host" header is ignored: the signed host is REQ->host. */
    struct sigv4_kv hdrs[] = { { "Host", "other.example" } };
    struct sigv4_request a = {
        .method = "GET", .host = "h.example", .path = "/k",
        .region = "us-east-1", .now = DOC_TIME,
    };
    struct sigv4_request b = a;
    b.headers = hdrs;
    b.n_headers = 1;
    char err[64];
    char *ua = sigv4_presign_url(&a, "https", 60, &doc_creds, NULL, err, sizeof(err));
    char *ub = sigv4_presign_url(&b, "https", 60, &doc_creds, NULL, err, sizeof(err));
    assert_non_null(ua);
    assert_non_null(ub);
    assert_string_equal(ua, ub);
    free(ua);
    free(ub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_get_object_range),
        cmocka_unit_test(test_doc_put_object),
        cmocka_unit_test(test_doc_get_lifecycle),
        cmocka_unit_test(test_doc_list_objects),
        cmocka_unit_test(test_doc_presigned_get),
        cmocka_unit_test(test_botocore_vectors),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_sha256_and_date),
        cmocka_unit_test(test_cache_reuse_and_rederive),
        cmocka_unit_test(test_cache_oversized_fields_not_cached),
        cmocka_unit_test(test_presign_put_and_token),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_host_from_request_only),
    };
    return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
