/*
 * fuzz_s3resp.c - libFuzzer harness for the response headers presignd's
 * HTTP client reads from S3, the instance metadata service and a JWKS
 * endpoint: common/httpc.c's header callback (on_header: the status line's
 * reason, ETag, Last-Modified, Content-Type, Cache-Control,
 * Content-Length), and what the handlers then do with Last-Modified
 * (http_time_normalize). httpc.c is compiled into this file (#include) to
 * reach its static callback; nothing in it is changed.
 *
 * Input: the header block as libcurl delivers it, one call per line with
 * its line end ("HTTP/1.1 200 OK\r\n", "ETag: \"...\"\r\n", ...); several
 * status lines are allowed (a 100 Continue, then the answer).
 *
 * Checks, besides memory errors: each field is the last one of its name
 * after the last status line, trimmed, one line; the ETag without one pair
 * of quotes; Content-Length a non-negative number or -1, as a reference
 * parser here reads it; a normalized Last-Modified is a valid time.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpc.c"

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_s3resp: contract broken: %s\n", what);
        abort();
    }
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void check_field(const char *v)
{
    if (!v)
        return;
    size_t n = strlen(v);
    check(n == 0 || (!blank(v[0]) && !blank(v[n - 1])), "a header value is trimmed");
}

/* The reference: the value of header NAME in LINE (N bytes), trimmed, or
 * NULL when LINE is not that header. */
static char *ref_value(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const char *colon = memchr(line, ':', n);

    if (!colon || (size_t)(colon - line) != nl || strncasecmp(line, name, nl) != 0)
        return NULL;
    const char *v = colon + 1, *end = line + n;
    while (v < end && blank(*v))
        v++;
    while (end > v && blank(end[-1]))
        end--;
    return strndup(v, (size_t)(end - v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct httpc_call c;
    char *etag = NULL, *ctype = NULL, *lm = NULL;
    int64_t clen = -1;
    bool clen_known = true;

    /* libcurl refuses header lines with a NUL byte (CURLE_WEIRD_SERVER_REPLY):
     * none reaches the callback. */
    if (memchr(data, '\0', size))
        return 0;

    memset(&c, 0, sizeof c);
    c.content_length = -1;
    for (size_t i = 0; i < size;) {
        const char *line = (const char *)data + i;
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (data + i)) + 1 : size - i;
        /* libcurl hands over a copy; the callback must not need a NUL. */
        char *copy = malloc(n);
        check(copy != NULL, "memory");
        memcpy(copy, line, n);
        check(on_header(copy, 1, n, &c) == n, "every header line is taken");

        if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
            free(etag), free(ctype), free(lm);
            etag = ctype = lm = NULL;
            clen = -1;
            clen_known = true;
        } else {
            char *v;
            if ((v = ref_value(line, n, "etag"))) {
                size_t vl = strlen(v);
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    memmove(v, v + 1, vl - 2);
                    v[vl - 2] = '\0';
                }
                free(etag);
                etag = v;
            } else if ((v = ref_value(line, n, "content-type"))) {
                free(ctype);
                ctype = v;
            } else if ((v = ref_value(line, n, "last-modified"))) {
                free(lm);
                lm = v;
            } else if ((v = ref_value(line, n, "content-length"))) {
                /* 1..18 digits: that size; a sign, a \v or \f first, or
                 * more digits: the reference does not say (strtoll's). */
                size_t d = strspn(v, "0123456789");
                if (d >= 1 && d <= 18 && v[d] == '\0') {
                    clen = strtoll(v, NULL, 10);
                    clen_known = true;
                }
                else if (v[0] == '+' || v[0] == '-' || isspace((unsigned char)v[0]) ||
                         (d > 18 && v[d] == '\0'))
                    clen_known = false;
                free(v);
            }
        }
        free(copy);
        i += n;
    }
    check(c.content_length >= -1, "Content-Length is a size or -1");
    check((etag == NULL) == (c.etag == NULL) && (!etag || strcmp(etag, c.etag) == 0),
          "the ETag is the last one, trimmed, one pair of quotes off");
    check((ctype == NULL) == (c.content_type == NULL) &&
          (!ctype || strcmp(ctype, c.content_type) == 0), "the Content-Type is the last one");
    check((lm == NULL) == (c.last_modified == NULL) &&
          (!lm || strcmp(lm, c.last_modified) == 0), "the Last-Modified is the last one");
    check(!clen_known || c.content_length == clen, "Content-Length: the last number given");
    check_field(c.reason);
    check_field(c.content_type);
    check_field(c.cache_control);
    check_field(c.last_modified);

    char t[32];
    if (c.last_modified && http_time_normalize(c.last_modified, t, sizeof t))
        check(strlen(t) == 20 && t[19] == 'Z', "a normalized Last-Modified");

    replace_str(&c.reason, NULL);
    replace_str(&c.etag, NULL);
    replace_str(&c.last_modified, NULL);
    replace_str(&c.content_type, NULL);
    replace_str(&c.cache_control, NULL);
    free(etag), free(ctype), free(lm);
    return 0;
}
