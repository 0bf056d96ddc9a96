/*
 * fuzz_url.c - libFuzzer harness for the address parser of common/url.c,
 * which reads every address of the configuration (server.listen and
 * metrics_listen, s3.endpoint and public_endpoint, s3.imds_endpoint,
 * auth.jwt.jwks_url, cors.allow_origins) and the Origin header a browser
 * sends is compared with what it made of cors.allow_origins:
 * url_split_hostport, url_parse (+ url_format, url_is_loopback) and
 * url_parse_origin.
 *
 * Input: byte 0's bits pick url_split_hostport's port_required (bit 0) and
 * url_parse's allow_path (bit 1); the rest is the address (up to a NUL).
 *
 * Checks, besides memory errors: whatever is accepted is normalized - a
 * host without brackets and a port 1..65535 in canonical decimal; a URL's
 * host in lower case, its default port dropped, its authority the host
 * (an IPv6 one in brackets) and port, its path empty or "/..." without a
 * trailing '/' - and normalizing is idempotent: what url_format writes
 * parses back to the same URL, a normalized origin normalizes to itself,
 * HOST:PORT written back splits the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_url: contract broken: %s\n", what);
        abort();
    }
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_port(const char *port)
{
    if (!port)
        return;
    char *end;
    long n = strtol(port, &end, 10);
    check(!*end && n >= 1 && n <= 65535 && port[0] != '0', "a port is 1..65535, canonical");
}

static void fuzz_hostport(const char *s, bool port_required)
{
    char *host, *port, *h2, *p2, *again;

    if (url_split_hostport(s, strlen(s), port_required, &host, &port)) {
        check(!host && !port, "a refused address leaves nothing");
        return;
    }
    check(host && host[0], "a host");
    check(!port_required || port, "a port when required");
    check_port(port);
    bool v6 = strchr(host, ':') != NULL;
    check(asprintf(&again, "%s%s%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "", port ? ":" : "",
                   port ? port : "") > 0, "memory");
    check(url_split_hostport(again, strlen(again), port_required, &h2, &p2) == NULL &&
          same(h2, host) && same(p2, port), "HOST:PORT written back splits the same");
    free(h2);
    free(p2);
    free(again);
    free(host);
    free(port);
}

static void fuzz_url(const char *s, bool allow_path)
{
    struct url u, v;

    if (url_parse(s, allow_path, &u))
        return;
    check(!strcmp(u.scheme, "http") || !strcmp(u.scheme, "https"), "scheme http or https");
    for (const char *p = u.host; *p; p++)
        check(!(*p >= 'A' && *p <= 'Z'), "the host in lower case");
    check_port(u.port);
    check(!u.port || strcmp(u.port, strcmp(u.scheme, "https") ? "80" : "443"),
          "the scheme's default port dropped");
    bool v6 = strchr(u.host, ':') != NULL;
    char *auth;
    check(asprintf(&auth, "%s%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "",
                   u.port ? ":" : "", u.port ? u.port : "") > 0, "memory");
    check(strcmp(auth, u.authority) == 0, "the authority is host and port");
    free(auth);
    size_t pl = strlen(u.path);
    check(pl == 0 || (u.path[0] == '/' && u.path[pl - 1] != '/'), "a path: \"\" or /..., no trailing /");
    check(allow_path || pl == 0, "no path unless allowed");
    char *f = url_format(&u);
    check(f != NULL, "memory");
    check(url_parse(f, allow_path, &v) == NULL, "url_format's URL parses");
    check(same(u.scheme, v.scheme) && same(u.host, v.host) && same(u.port, v.port) &&
          same(u.authority, v.authority) && same(u.path, v.path), "and is the same URL");
    check(url_is_loopback(&u) == url_is_loopback(&v), "url_is_loopback");
    free(f);
    url_free(&v);
    url_free(&u);
}

static void fuzz_origin(const char *s)
{
    char *norm, *again;

    if (url_parse_origin(s, &norm)) {
        check(norm == NULL, "a refused origin leaves nothing");
        return;
    }
    check(norm && strlen(norm) <= strlen(s), "a normalized origin");
    for (const char *p = norm; *p; p++)
        check(!(*p >= 'A' && *p <= 'Z'), "an origin in lower case");
    check(url_parse_origin(norm, &again) == NULL && strcmp(again, norm) == 0,
          "a normalized origin normalizes to itself");
    free(again);
    free(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = strndup((const char *)data + 1, size - 1);
    if (!s)
        return 0;
    fuzz_hostport(s, data[0] & 1);
    fuzz_url(s, data[0] & 2);
    fuzz_origin(s);
    free(s);
    return 0;
}
