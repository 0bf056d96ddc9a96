/*
 * fuzz_sigv4.c - libFuzzer harness for what the signer does with text from
 * outside: object keys, query values and header values a client sent go
 * through common/sigv4.c's URI encoder (sigv4_uri_encode) into presigned
 * URLs (sigv4_presign_url); digests and policies through common/b64.c
 * (b64_encode, b64_decode in both alphabets).
 *
 * Input: byte 0 has flags (bit 0: temporary credentials, bit 1: a
 * Content-Type header is signed, bit 2: http, bit 3: PUT), bytes 1-2 the
 * expiry; then lines: the key, the Content-Type value, and NAME=VALUE
 * query parameters (up to 4).
 *
 * Checks, besides memory errors: the encoder writes only the unreserved
 * set and upper-case %XX (and '/' when kept), and decoding gives the input
 * back; base64 decodes what it encodes, and what decodes in the standard
 * alphabet encodes back to the same text (canonical); a presigned URL is
 * one evhttp accepts, its path and query decode to the key and parameters
 * asked for, and its X-Amz-Signature is the one S3 computes from the URL
 * as received: the harness builds the canonical request from the URL's
 * own text (sorted query, host and signed headers), the string to sign
 * and the HMAC chain itself, with OpenSSL, sharing no code with sigv4.c.
 * Signing with a warm key cache gives the same URL as with a cold one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "b64.h"
#include "http.h"
#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOST "127.0.0.1:7480"
#define REGION "us-east-1"
#define MAX_Q 4

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_sigv4: contract broken: %s\n", what);
        abort();
    }
}

static const struct sigv4_creds creds_static = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL,
};
static const struct sigv4_creds creds_temp = {
    "ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==",
};

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode ENC (N bytes of the encoder's output) into a new string, checking
 * that it holds only what the encoder may write. */
static char *decode_checked(const char *enc, size_t n, bool slash)
{
    char *out = malloc(n + 1);
    size_t o = 0;

    check(out != NULL, "memory");
    for (size_t i = 0; i < n; i++) {
        if (enc[i] == '%') {
            check(i + 2 < n && hexval(enc[i + 1]) >= 0 && hexval(enc[i + 2]) >= 0,
                  "%XX with upper-case hex");
            unsigned char c = (unsigned char)(hexval(enc[i + 1]) * 16 + hexval(enc[i + 2]));
            check(!unreserved(c) && !(slash && c == '/'), "only what must be is encoded");
            out[o++] = (char)c;
            i += 2;
        } else {
            check(unreserved((unsigned char)enc[i]) || (slash && enc[i] == '/'),
                  "only unreserved characters are left as they are");
            out[o++] = enc[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;

    check(HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out,
               &n) != NULL, "HMAC");
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

struct qp {
    const char *s;      /* "name=value", encoded, as in the URL */
    size_t n;
};

static int cmp_qp(const void *a, const void *b)
{
    const struct qp *x = a, *y = b;
    /* By name, then value: comparing "name=value" bytewise would put
     * "a-b=" before "a=" ('-' < '='). */
    size_t xn = strcspn(x->s, "="), yn = strcspn(y->s, "=");
    size_t m = xn < yn ? xn : yn;
    int c = memcmp(x->s, y->s, m);
    if (c || xn != yn)
        return c ? c : (xn < yn ? -1 : 1);
    size_t xv = x->n - xn, yv = y->n - yn;
    c = memcmp(x->s + xn, y->s + yn, xv < yv ? xv : yv);
    return c ? c : (xv > yv) - (xv < yv);
}

/* A header value as S3 canonicalizes it: blanks trimmed, runs of blanks
 * one space. (Values the daemon signs are visible ASCII, spaces, tabs.) */
static void canon_value(const char *v, char *out)
{
    size_t o = 0;
    bool space = false;

    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = *v;
    }
    out[o] = '\0';
}

/* The signature S3 computes for URL (METHOD, headers of the request). */
static void verify_url(const char *url, const char *method, const struct sigv4_creds *creds,
                       const char *ctype)
{
    const char *path = strstr(url, "://");
    check(path != NULL, "a scheme");
    path += 3 + strlen(HOST);
    const char *q = strchr(path, '?');
    check(q != NULL, "a query");

    struct qp params[MAX_Q + 8];
    size_t np = 0;
    const char *sig = NULL, *sh = NULL, *date = NULL, *cred = NULL;
    size_t sh_len = 0, date_len = 0, cred_len = 0;
    for (const char *p = q + 1; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        check(np < sizeof params / sizeof *params, "few parameters");
        check(memchr(p, '=', n) != NULL, "name=value");
        if (!strncmp(p, "X-Amz-Signature=", 16)) {
            sig = p + 16;
            check(n == 16 + 64, "a 64-digit signature");
        } else {
            params[np++] = (struct qp){ p, n };
            if (!strncmp(p, "X-Amz-SignedHeaders=", 20))
                sh = p + 20, sh_len = n - 20;
            else if (!strncmp(p, "X-Amz-Date=", 11))
                date = p + 11, date_len = n - 11;
            else if (!strncmp(p, "X-Amz-Credential=", 17))
                cred = p + 17, cred_len = n - 17;
        }
        p = amp ? amp + 1 : p + n;
    }
    check(sig && sh && date && cred && date_len == 16, "the X-Amz- parameters");
    qsort(params, np, sizeof *params, cmp_qp);

    /* Canonical request. */
    char *shd = decode_checked(sh, sh_len, false);
    char *credd = decode_checked(cred, cred_len, false);
    check(strcmp(shd, ctype ? "content-type;host" : "host") == 0, "the signed headers");
    size_t cap = strlen(url) + (ctype ? strlen(ctype) : 0) + 256;
    char *cr = malloc(cap), *o = cr;
    check(cr != NULL, "memory");
    o += sprintf(o, "%s\n%.*s\n", method, (int)(q - path), path);
    for (size_t i = 0; i < np; i++)
        o += sprintf(o, "%s%.*s", i ? "&" : "", (int)params[i].n, params[i].s);
    *o++ = '\n';
    if (ctype) {
        o += sprintf(o, "content-type:");
        canon_value(ctype, o);
        o += strlen(o);
        *o++ = '\n';
    }
    o += sprintf(o, "host:%s\n\n%s\nUNSIGNED-PAYLOAD", HOST, shd);
    unsigned char h[32];
    char hh[65];
    SHA256((const unsigned char *)cr, (size_t)(o - cr), h);
    hex(h, 32, hh);

    /* String to sign, key, signature. */
    const char *scope = credd + strlen(creds->access_key_id) + 1;
    check(!strncmp(credd, creds->access_key_id, strlen(creds->access_key_id)) &&
          credd[strlen(creds->access_key_id)] == '/', "the credential names the key id");
    char sts[512], secret[128], day[9];
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%.16s\n%s\n%s", date, scope, hh);
    snprintf(secret, sizeof secret, "AWS4%s", creds->secret_access_key);
    snprintf(day, sizeof day, "%.8s", date);
    unsigned char k[32];
    hmac(secret, strlen(secret), day, k);
    hmac(k, 32, REGION, k);
    hmac(k, 32, "s3", k);
    hmac(k, 32, "aws4_request", k);
    hmac(k, 32, sts, k);
    char want[65];
    hex(k, 32, want);
    check(strncmp(sig, want, 64) == 0, "X-Amz-Signature is what S3 computes from the URL");
    free(cr);
    free(shd);
    free(credd);
}

static void fuzz_b64(const char *s, size_t n)
{
    char *enc = malloc(4 * ((n + 2) / 3) + 1);
    unsigned char *dec = malloc(n + 3);
    size_t dn = 0;

    check(enc && dec, "memory");
    size_t el = b64_encode((const unsigned char *)s, n, enc);
    check(el == 4 * ((n + 2) / 3) && enc[el] == '\0', "encoded length");
    check(b64_decode(enc, el, false, dec, &dn) && dn == n && memcmp(dec, s, n) == 0,
          "base64 decodes what it encodes");
    /* The input as base64 text: canonical in the standard alphabet. */
    unsigned char *raw = malloc(3 * n / 4 + 3);
    check(raw != NULL, "memory");
    if (b64_decode(s, n, false, raw, &dn)) {
        char *again = malloc(4 * ((dn + 2) / 3) + 1);
        check(again != NULL, "memory");
        b64_encode(raw, dn, again);
        check(strlen(again) == n && memcmp(again, s, n) == 0, "standard base64 is canonical");
        free(again);
    }
    if (b64_decode(s, n, true, raw, &dn)) {
        /* URL-safe, padding optional: the same bytes in the other alphabet. */
        char *again = malloc(4 * ((dn + 2) / 3) + 1);
        check(again != NULL, "memory");
        size_t al = b64_encode(raw, dn, again);
        for (size_t i = 0; i < al; i++)
            again[i] = again[i] == '+' ? '-' : again[i] == '/' ? '_' : again[i];
        while (al > 0 && again[al - 1] == '=')
            al--;
        size_t sl = n;
        while (sl > 0 && s[sl - 1] == '=')
            sl--;
        check(al == sl && memcmp(again, s, al) == 0, "URL-safe base64 is canonical");
        free(again);
    }
    free(raw);
    free(enc);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t flags = data[0];
    long expires = 1 + ((long)data[1] << 8 | data[2]) * 10;    /* up to 655351 */
    char *text = strndup((const char *)data + 3, size - 3);
    check(text != NULL, "memory");
    size_t tlen = strlen(text);

    fuzz_b64(text, tlen);
    for (int slash = 0; slash < 2; slash++) {
        char *e = sigv4_uri_encode(text, slash);
        check(e != NULL, "memory");
        char *d = decode_checked(e, strlen(e), slash);
        check(strcmp(d, text) == 0, "the URI encoding decodes to its input");
        free(d);
        free(e);
    }

    /* key \n Content-Type \n name=value... */
    char *lines[2 + MAX_Q] = { 0 };
    size_t n_lines = 0;
    for (char *p = text; p && n_lines < 2 + MAX_Q;) {
        lines[n_lines++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    char *path;
    check(asprintf(&path, "/presignd-dev/%s", lines[0]) > 0, "memory");
    const char *ctype = (flags & 2) && n_lines > 1 && http_header_value_ok(lines[1], 256)
                            ? lines[1] : NULL;
    struct sigv4_kv query[MAX_Q], hdr = { "content-type", ctype };
    size_t nq = 0;
    for (size_t i = 2; i < n_lines; i++) {
        char *eq = strchr(lines[i], '=');
        if (!eq || eq == lines[i] || !strncmp(lines[i], "X-Amz-", 6))
            continue;
        *eq = '\0';
        query[nq++] = (struct sigv4_kv){ lines[i], eq + 1 };
    }
    const struct sigv4_creds *creds = flags & 1 ? &creds_temp : &creds_static;
    const char *method = flags & 8 ? "PUT" : "GET";
    struct sigv4_request req = {
        .method = method, .host = HOST, .path = path, .query = query, .n_query = nq,
        .headers = ctype ? &hdr : NULL, .n_headers = ctype ? 1 : 0, .region = REGION,
        .now = (time_t)1764300000 + (time_t)(flags >> 4) * 86400,
    };
    struct sigv4_cache cold = { 0 }, warm = { 0 };
    char err[200];
    const char *scheme = flags & 4 ? "http" : "https";
    char *url = sigv4_presign_url(&req, scheme, expires, creds, &cold, err, sizeof err);
    check((url != NULL) == (expires <= 604800), "a URL for every expiry up to 7 days");
    if (url) {
        struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
        check(u != NULL, "evhttp parses the URL");
        char *dpath = evhttp_uridecode(evhttp_uri_get_path(u), 0, NULL);
        check(dpath && strcmp(dpath, path) == 0, "the path decodes to the key's");
        free(dpath);
        /* Every parameter asked for is in the query, in order, decoded. */
        const char *qs = evhttp_uri_get_query(u);
        size_t i = 0;
        for (const char *p = qs; i < nq; i++) {
            const char *amp = strchr(p, '&');
            check(amp != NULL, "the parameters come first");
            const char *eq = memchr(p, '=', (size_t)(amp - p));
            check(eq != NULL, "name=value");
            char *dn = decode_checked(p, (size_t)(eq - p), false);
            char *dv = decode_checked(eq + 1, (size_t)(amp - eq - 1), false);
            check(!strcmp(dn, query[i].name) && !strcmp(dv, query[i].value),
                  "each parameter decodes to what was asked for");
            free(dn);
            free(dv);
            p = amp + 1;
        }
        evhttp_uri_free(u);
        verify_url(url, method, creds, ctype);
        /* A warm cache signs the same. */
        char *u1 = sigv4_presign_url(&req, scheme, expires, creds, &warm, err, sizeof err);
        char *u2 = sigv4_presign_url(&req, scheme, expires, creds, &warm, err, sizeof err);
        check(u1 && u2 && !strcmp(u1, url) && !strcmp(u2, url), "the cache changes nothing");
        free(u1);
        free(u2);
        free(url);
    }
    sigv4_cache_wipe(&cold);
    sigv4_cache_wipe(&warm);
    free(path);
    free(text);
    return 0;
}
