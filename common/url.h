/*
 * url.h - the addresses presignd reads from its configuration: HOST:PORT
 * pairs (listen addresses), http(s) URLs (the S3 endpoint, instance
 * metadata, a JWKS) and CORS origins. One parser for all of them, so the
 * config check and the code that uses an address agree on what it means.
 *
 * Each function returns NULL on success or a short reason ("missing port
 * after ':'") that the caller puts into its own message.
 */
#ifndef PRESIGND_URL_H
#define PRESIGND_URL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * "HOST:PORT", "[V6]:PORT" or "HOST" (the port optional unless
 * PORT_REQUIRED). HOST is an IPv4 address, a bracketed IPv6 address (zone
 * allowed) or an RFC 1123 host name. Fills malloc'd HOST (no brackets) and
 * PORT (decimal, NULL when absent).
 */
const char *url_split_hostport(const char *s, size_t len, bool port_required,
                               char **host, char **port);

struct url {
    char *scheme;       /* "http" or "https" */
    char *host;         /* lower-case; an IPv6 address without brackets */
    char *port;         /* NULL when absent or the scheme's default */
    char *authority;    /* what a Host header carries: host (v6 in brackets)
                           and ":port" unless it is the default */
    char *path;         /* "" or "/a/b", never ending in '/' */
};

/*
 * An http:// or https:// URL: scheme://host[:port][/path]. No user
 * information, query or fragment; a path only when ALLOW_PATH (a lone
 * trailing '/' is always fine). OUT is filled on success only.
 */
const char *url_parse(const char *s, bool allow_path, struct url *out);
void url_free(struct url *u);

/* "scheme://authority" + path of U, malloc'd (NULL: out of memory). */
char *url_format(const struct url *u);

/* True when U's host is a loopback address (127.0.0.0/8, ::1, localhost). */
bool url_is_loopback(const struct url *u);

/*
 * A CORS origin: "*" or "scheme://host[:port]" as a browser serializes it:
 * stored lower-case without the scheme's default port, so that an exact
 * comparison with an Origin header works. *NORM is malloc'd.
 */
const char *url_parse_origin(const char *s, char **norm);

#endif
