/*
 * url.c - host:port pairs, http(s) URLs and CORS origins (see url.h).
 */
#include "url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "str.h"

/* RFC 1123 host name: dot-separated labels of letters, digits, hyphens. */
static const char *check_hostname(const char *h, size_t len)
{
    if (len == 0)
        return "missing host";
    if (len > 253)
        return "host name longer than 253 characters";
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || h[i] == '.') {
            if (label == 0)
                return "empty label in host name";
            if (label > 63)
                return "host name label longer than 63 characters";
            if (h[i - 1] == '-' || h[i - label] == '-')
                return "host name label starts or ends with '-'";
            label = 0;
            continue;
        }
        if (!str_is_alnum(h[i]) && h[i] != '-')
            return "host name has a character other than letters, digits, '-' and '.'";
        label++;
    }
    return NULL;
}

/* HOST (no brackets) or V6 (the inside of brackets). NULL when valid. */
static const char *check_host(const char *h, size_t len, bool bracketed)
{
    char tmp[256];

    if (len == 0)
        return "missing host";
    if (len >= sizeof(tmp))
        return "host too long";
    memcpy(tmp, h, len);
    tmp[len] = '\0';

    if (bracketed) {
        struct in6_addr a6;
        /* A zone ("fe80::1%eth0") is legal for link-local listeners. */
        char *zone = strchr(tmp, '%');
        if (zone) {
            *zone++ = '\0';
            if (!*zone)
                return "empty IPv6 zone";
            for (const char *z = zone; *z; z++)
                if (!str_is_alnum(*z) && *z != '-' && *z != '_' && *z != '.')
                    return "bad IPv6 zone";
        }
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return "not a valid IPv6 address";
        return NULL;
    }
    if (memchr(tmp, ':', len))
        return "an IPv6 address must be written in brackets, e.g. [::1]:8000";
    if (strspn(tmp, "0123456789.") == len) {
        struct in_addr a4;
        if (inet_pton(AF_INET, tmp, &a4) != 1)
            return "not a valid IPv4 address";
        return NULL;
    }
    return check_hostname(tmp, len);
}

const char *url_split_hostport(const char *s, size_t len, bool port_required,
                               char **host, char **port)
{
    const char *h, *p = NULL, *end = s + len;
    size_t hlen;
    bool bracketed = false;
    const char *why;

    *host = *port = NULL;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return "missing ']' after the IPv6 address";
        h = s + 1;
        hlen = (size_t)(close - h);
        bracketed = true;
        if (close + 1 < end) {
            if (close[1] != ':')
                return "expected ':' and a port after ']'";
            p = close + 2;
        }
    } else {
        const char *colon = memrchr(s, ':', len);
        h = s;
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) {
            if (memchr(s, ':', hlen))
                return "an IPv6 address must be written in brackets, e.g. [::1]:8000";
            p = colon + 1;
        }
    }
    /* "listen: 8000" is the likely mistake; name the missing part first. */
    if (!p && port_required)
        return "missing host or port (expected HOST:PORT, e.g. 127.0.0.1:8000)";
    if ((why = check_host(h, hlen, bracketed)))
        return why;
    if (p) {
        size_t plen = (size_t)(end - p);
        if (plen == 0)
            return "missing port after ':'";
        if (!str_is_digits(p, plen) || plen > 5)
            return "port must be a number from 1 to 65535";
        long n = strtol(p, NULL, 10);
        if (n < 1 || n > 65535)
            return "port must be a number from 1 to 65535";
        if (asprintf(port, "%ld", n) < 0) {
            *port = NULL;
            return "out of memory";
        }
    }
    if (!(*host = strndup(h, hlen))) {
        free(*port);
        *port = NULL;
        return "out of memory";
    }
    return NULL;
}

void url_free(struct url *u)
{
    free(u->scheme);
    free(u->host);
    free(u->port);
    free(u->authority);
    free(u->path);
    memset(u, 0, sizeof *u);
}

const char *url_parse(const char *s, bool allow_path, struct url *out)
{
    struct url u = { 0 };
    const char *rest, *why, *scheme;

    if (!strncasecmp(s, "https://", 8))
        scheme = "https";
    else if (!strncasecmp(s, "http://", 7))
        scheme = "http";
    else
        return "must start with http:// or https://";
    rest = s + strlen(scheme) + 3;
    u.scheme = strdup(scheme);
    size_t alen = strcspn(rest, "/?#");
    const char *tail = rest + alen;
    size_t plen = strcspn(tail, "?#");
    if (!allow_path && (plen > 1 || tail[plen])) {
        url_free(&u);
        return "must not have a path, query or fragment (only scheme://host[:port])";
    }
    if (tail[plen]) {
        url_free(&u);
        return "must not have a query or fragment";
    }
    if (memchr(rest, '@', alen)) {
        url_free(&u);
        return "must not contain user information ('@')";
    }
    if ((why = url_split_hostport(rest, alen, false, &u.host, &u.port))) {
        url_free(&u);
        return why;
    }
    if (!u.scheme || !(u.path = strndup(tail, plen)))
        goto oom;
    /* A trailing '/' is not part of any path we build on. */
    for (size_t n = strlen(u.path); n > 0 && u.path[n - 1] == '/'; n--)
        u.path[n - 1] = '\0';
    str_lower(u.host);
    /* Clients leave the default port out of Host, and signatures cover
     * Host: drop it so that both sides write the same string. */
    const char *dflt = strcmp(u.scheme, "https") == 0 ? "443" : "80";
    if (u.port && strcmp(u.port, dflt) == 0) {
        free(u.port);
        u.port = NULL;
    }
    bool v6 = strchr(u.host, ':') != NULL;
    if (asprintf(&u.authority, "%s%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "",
                 u.port ? ":" : "", u.port ? u.port : "") < 0) {
        u.authority = NULL;
        goto oom;
    }
    *out = u;
    return NULL;
oom:
    url_free(&u);
    return "out of memory";
}

char *url_format(const struct url *u)
{
    char *s;

    if (asprintf(&s, "%s://%s%s", u->scheme, u->authority, u->path) < 0)
        return NULL;
    return s;
}

bool url_is_loopback(const struct url *u)
{
    struct in_addr a4;

    if (!strcmp(u->host, "localhost") || !strcmp(u->host, "::1"))
        return true;
    return inet_pton(AF_INET, u->host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

const char *url_parse_origin(const char *s, char **norm)
{
    *norm = NULL;
    if (!strcmp(s, "*")) {
        *norm = strdup(s);
        return *norm ? NULL : "out of memory";
    }
    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return "must be \"*\" or scheme://host[:port], e.g. https://app.example.com";
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return "bad scheme";
    for (const char *p = s; p < sep; p++)
        if (!str_is_alnum(*p) && *p != '+' && *p != '-' && *p != '.')
            return "bad scheme";
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    if (auth[alen] == '/' && auth[alen + 1] == '\0')
        return "an origin has no path: remove the trailing '/'";
    if (auth[alen])
        return "an origin has no path, query or fragment";
    if (memchr(auth, '@', alen))
        return "an origin has no user information ('@')";
    char *host, *port;
    const char *why = url_split_hostport(auth, alen, false, &host, &port);
    if (why)
        return why;
    free(host);

    char *n = strdup(s);
    if (!n) {
        free(port);
        return "out of memory";
    }
    str_lower(n);
    size_t slen_scheme = (size_t)(sep - s);
    bool dflt = port &&
                ((slen_scheme == 4 && !strncmp(n, "http", 4) && !strcmp(port, "80")) ||
                 (slen_scheme == 5 && !strncmp(n, "https", 5) && !strcmp(port, "443")));
    if (dflt)
        *strrchr(n, ':') = '\0';
    free(port);
    *norm = n;
    return NULL;
}
