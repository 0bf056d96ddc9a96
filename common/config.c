/*
 * config.c - presignd's YAML configuration (see config.h).
 *
 * The whole file is loaded with libyaml's document API (a node graph where
 * every node keeps its start mark), then walked section by section against
 * fixed key tables. Nothing stops at the first problem: every error is
 * recorded with the 1-based line and column of the key or value it is about,
 * sorted by position and handed back as "FILE:LINE:COL: message" lines, so an
 * operator fixes a file in one round instead of one reload per mistake.
 *
 * Typing is deliberately stricter than YAML's: an integer is a plain
 * (unquoted) decimal scalar, a boolean is a plain true/false. A quoted "2"
 * for workers is a string, and saying so beats guessing what was meant.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define CFG_FILE_MAX   (1024 * 1024) /* a config file bigger than this is a mistake */
#define CFG_ERRORS_MAX 50            /* past this, more lines only bury the first ones */
#define WORKERS_MAX    1024
#define S3_KEY_MAX     1024          /* S3's limit on an object key, in bytes */
#define KEY_UUID_BYTES 37            /* uuid4 + "-" between prefix and file name */
#define PREFIX_MAX     512
#define EXT_MAX        32
#define ORIGINS_MAX    256
#define PUT_MAX        5368709120LL  /* S3 accepts at most 5 GiB in one PUT */

/* One collected problem; the FILE:LINE:COL prefix is added at the end. */
struct cfg_err {
    size_t line, col;   /* 1-based */
    size_t seq;         /* discovery order, to keep the sort stable */
    char *msg;
};

struct ctx {
    const char *name;
    yaml_document_t *doc;
    struct cfg *cfg;

    struct cfg_err *errs;
    size_t n_errs, cap_errs;
    size_t dropped;             /* errors past CFG_ERRORS_MAX */
    struct cfg_err first_dropped;
    bool oom;

    char path[96];              /* "section.key" of the key being read */
    yaml_node_t *cur_key;       /* its key node: where a missing value is reported */
    bool cred_bad;              /* a credential was unreadable: skip the pairing rules */
    bool s3_bad;                /* the s3 section (or the root) is not a mapping */

    /* Key nodes remembered for checks that involve more than one key. */
    yaml_node_t *k_s3, *k_bucket, *k_access, *k_secret, *k_token;
    yaml_node_t *k_prefix, *k_maxfn, *k_metrics;
};

/* ---------------------------------------------------------------- errors */

static void add_err_v(struct ctx *c, size_t line, size_t col,
                      const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);

    if (c->n_errs >= CFG_ERRORS_MAX) {
        if (c->dropped++ == 0) {
            c->first_dropped.line = line;
            c->first_dropped.col = col;
        }
        return;
    }
    if (c->n_errs == c->cap_errs) {
        size_t ncap = c->cap_errs ? c->cap_errs * 2 : 8;
        struct cfg_err *n = realloc(c->errs, ncap * sizeof(*n));
        if (!n) {
            c->oom = true;
            return;
        }
        c->errs = n;
        c->cap_errs = ncap;
    }
    struct cfg_err *e = &c->errs[c->n_errs];
    if (!(e->msg = strdup(buf))) {
        c->oom = true;
        return;
    }
    e->line = line;
    e->col = col;
    e->seq = c->n_errs++;
}

__attribute__((format(printf, 4, 5)))
static void err_at(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_err_v(c, line, col, fmt, ap);
    va_end(ap);
}

/*
 * libyaml marks are 0-based; people count from 1. An empty plain value
 * ("workers:" and nothing after) is marked after the colon, at the end of
 * the line; its key is where the reader's eye goes, so report it there.
 */
__attribute__((format(printf, 3, 4)))
static void err_node(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0 &&
        n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && c->cur_key)
        n = c->cur_key;
    if (n)
        add_err_v(c, n->start_mark.line + 1, n->start_mark.column + 1, fmt, ap);
    else
        add_err_v(c, 1, 1, fmt, ap);
    va_end(ap);
}

static int cmp_err(const void *a, const void *b)
{
    const struct cfg_err *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void push_line(struct cfg_errors *errs, char *line)
{
    if (!line)
        return;
    char **n = realloc(errs->lines, (errs->n + 1) * sizeof(*n));
    if (!n) {
        free(line);
        return;
    }
    errs->lines = n;
    errs->lines[errs->n++] = line;
}

static void flush_errors(struct ctx *c, struct cfg_errors *errs)
{
    if (c->n_errs > 1)
        qsort(c->errs, c->n_errs, sizeof(*c->errs), cmp_err);
    for (size_t i = 0; i < c->n_errs; i++) {
        char *line = NULL;
        if (errs && asprintf(&line, "%s:%zu:%zu: %s", c->name, c->errs[i].line,
                             c->errs[i].col, c->errs[i].msg) < 0)
            line = NULL;
        if (errs)
            push_line(errs, line);
        free(c->errs[i].msg);
    }
    if (errs && c->dropped) {
        char *line = NULL;
        if (asprintf(&line, "%s:%zu:%zu: too many errors, %zu more not shown",
                     c->name, c->first_dropped.line, c->first_dropped.col,
                     c->dropped) < 0)
            line = NULL;
        push_line(errs, line);
    }
    if (errs && c->oom) {
        char *line = NULL;
        if (asprintf(&line, "%s:1:1: out of memory while reading the configuration",
                     c->name) < 0)
            line = NULL;
        push_line(errs, line);
    }
    free(c->errs);
    c->errs = NULL;
    c->n_errs = c->cap_errs = 0;
}

/* ------------------------------------------------------------ node helpers */

static yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static bool is_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

static bool is_plain(const yaml_node_t *n)
{
    return is_scalar(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML 1.2 core schema null: an empty plain value, ~ or null. */
static bool is_null(const yaml_node_t *n)
{
    if (!n)
        return true;
    if (!is_plain(n))
        return false;
    const char *s = sval(n);
    return slen(n) == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/*
 * A short printable rendition of a value for messages: scalars quoted,
 * escaped and cut, other nodes named. Never used on secrets.
 */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (is_null(n))
        return "nothing";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type != YAML_SCALAR_NODE)
        return "nothing";

    const unsigned char *s = n->data.scalar.value;
    size_t len = slen(n), o = 0, shown = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        bool lead = (s[i] & 0xc0) != 0x80;
        /* Cut only between characters; 12 bytes keep room for one more
         * escape or UTF-8 sequence, the "...", the quote and the NUL. */
        if (lead && (shown == 40 || o + 12 >= size)) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (s[i] == '"' || s[i] == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", s[i]);
        else
            buf[o++] = (char)s[i];
        if (lead)
            shown++;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static bool has_ctl(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/*
 * Read a string value. Returns 1 with *out set, 0 when the value is null
 * (*out = NULL), -1 after reporting a problem. Any scalar style counts: a
 * plain 12345 for an access key is still the string "12345".
 */
static int get_str(struct ctx *c, yaml_node_t *v, const char **out)
{
    char d[64];
    *out = NULL;
    if (is_null(v))
        return 0;
    if (!is_scalar(v)) {
        err_node(c, v, "%s: expected a string, got %s", c->path, describe(v, d, sizeof(d)));
        return -1;
    }
    if (has_ctl(sval(v), slen(v))) {
        err_node(c, v, "%s: must not contain control characters", c->path);
        return -1;
    }
    *out = sval(v);
    return 1;
}

static bool is_digits(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/*
 * Read an integer in MIN..MAX. WHAT names the expected value in the type
 * message ("an integer"). Returns true with *out set.
 */
static bool get_int(struct ctx *c, yaml_node_t *v, long long min, long long max,
                    const char *what, long long *out)
{
    char d[64];
    if (!is_scalar(v) || is_null(v)) {
        err_node(c, v, "%s: expected %s, got %s", c->path, what, describe(v, d, sizeof(d)));
        return false;
    }
    const char *s = sval(v);
    size_t len = slen(v);
    bool neg = len > 0 && s[0] == '-';
    bool numeric = is_digits(s + neg, len - neg);
    if (!is_plain(v)) {
        err_node(c, v, "%s: expected %s, got the quoted string %s%s", c->path, what,
                 describe(v, d, sizeof(d)), numeric ? " (write numbers without quotes)" : "");
        return false;
    }
    if (!numeric) {
        err_node(c, v, "%s: expected %s, got %s", c->path, what, describe(v, d, sizeof(d)));
        return false;
    }
    errno = 0;
    long long x = strtoll(s, NULL, 10);
    if (errno == ERANGE || x < min || x > max) {
        err_node(c, v, "%s: %.40s is out of range (%lld..%lld)", c->path, s, min, max);
        return false;
    }
    *out = x;
    return true;
}

static bool get_bool(struct ctx *c, yaml_node_t *v, bool *out)
{
    char d[64];
    if (is_plain(v)) {
        const char *s = sval(v);
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            *out = true;
            return true;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            *out = false;
            return true;
        }
    }
    err_node(c, v, "%s: expected true or false, got %s", c->path, describe(v, d, sizeof(d)));
    return false;
}

/* Replace *SLOT with a copy of S (NULL clears). */
static void set_str(struct ctx *c, char **slot, const char *s)
{
    char *n = NULL;
    if (s && !(n = strdup(s))) {
        c->oom = true;
        return;
    }
    free(*slot);
    *slot = n;
}

/* ------------------------------------------------------ address validation */

static bool is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

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
        if (!is_alnum(h[i]) && h[i] != '-')
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
                if (!is_alnum(*z) && *z != '-' && *z != '_' && *z != '.')
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

/*
 * Split "HOST:PORT" / "[V6]:PORT" / "HOST" (port optional unless
 * PORT_REQUIRED). On success fills the malloc'ed HOST (no brackets) and
 * PORT (NULL when absent) and returns NULL; else returns the reason.
 */
static const char *split_hostport(const char *s, size_t len, bool port_required,
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
        if (!is_digits(p, plen) || plen > 5)
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

static void free_listen(struct cfg_listen *l)
{
    free(l->text);
    free(l->host);
    free(l->port);
}

static const char *parse_listen(const char *s, struct cfg_listen *out)
{
    memset(out, 0, sizeof(*out));
    const char *why = split_hostport(s, strlen(s), true, &out->host, &out->port);
    if (why)
        return why;
    if (!(out->text = strdup(s))) {
        free_listen(out);
        return "out of memory";
    }
    return NULL;
}

/*
 * "http(s)://host[:port]" with nothing after the authority but an optional
 * "/". Sets *norm (scheme lower-cased, no trailing slash).
 */
static const char *parse_endpoint(const char *s, char **norm)
{
    size_t skip;
    const char *scheme;
    *norm = NULL;
    if (!strncasecmp(s, "https://", 8)) {
        skip = 8;
        scheme = "https://";
    } else if (!strncasecmp(s, "http://", 7)) {
        skip = 7;
        scheme = "http://";
    } else {
        return "must start with http:// or https://";
    }
    const char *auth = s + skip;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (*rest && strcmp(rest, "/") != 0)
        return "must not have a path, query or fragment (only scheme://host[:port])";
    if (memchr(auth, '@', alen))
        return "must not contain user information ('@')";
    char *host, *port;
    const char *why = split_hostport(auth, alen, false, &host, &port);
    if (why)
        return why;
    free(host);
    free(port);
    if (asprintf(norm, "%s%.*s", scheme, (int)alen, auth) < 0) {
        *norm = NULL;
        return "out of memory";
    }
    return NULL;
}

/*
 * A CORS origin: "*" or "scheme://host[:port]", as a browser sends it in the
 * Origin header. Stored lower-case without the scheme's default port, which
 * is how browsers serialize origins, so cfg_origin_allowed can compare.
 */
static const char *parse_origin(const char *s, char **norm)
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
        if (!is_alnum(*p) && *p != '+' && *p != '-' && *p != '.')
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
    const char *why = split_hostport(auth, alen, false, &host, &port);
    if (why)
        return why;
    free(host);

    char *n = strdup(s);
    if (!n) {
        free(port);
        return "out of memory";
    }
    for (char *p = n; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
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

/* ---------------------------------------------------------- key handlers */

struct keydef;
typedef void (*key_fn)(struct ctx *, const struct keydef *, yaml_node_t *k, yaml_node_t *v);

struct keydef {
    const char *name;
    key_fn fn;
    size_t off;             /* field offset in struct cfg, for generic handlers */
    long long min, max;
    size_t remember;        /* offset of a yaml_node_t * in struct ctx, or 0 */
};

#define FIELD(f) offsetof(struct cfg, f)
#define REM(f)   offsetof(struct ctx, f)

static void *field(struct ctx *c, const struct keydef *kd)
{
    return (char *)c->cfg + kd->off;
}

static void h_int(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;
    (void)k;
    if (get_int(c, v, kd->min, kd->max, "an integer", &x))
        *(int *)field(c, kd) = (int)x;
}

static void h_size(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;
    (void)k;
    if (get_int(c, v, kd->min, kd->max, "an integer", &x))
        *(size_t *)field(c, kd) = (size_t)x;
}

static void h_i64(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;
    (void)k;
    if (get_int(c, v, kd->min, kd->max, "an integer", &x))
        *(int64_t *)field(c, kd) = (int64_t)x;
}

static void h_bool(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    bool b;
    (void)k;
    if (get_bool(c, v, &b))
        *(bool *)field(c, kd) = b;
}

/* An optional string: null or "" leaves it unset (NULL). */
static void h_opt_str(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    const char *s;
    (void)k;
    if (get_str(c, v, &s) < 0)
        return;
    set_str(c, (char **)field(c, kd), s && *s ? s : NULL);
}

static void h_workers(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;
    (void)kd;
    (void)k;
    if (is_scalar(v) && slen(v) == 4 && !strcmp(sval(v), "auto")) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->cfg->workers_auto = true;
        c->cfg->workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
        return;
    }
    if (get_int(c, v, 1, WORKERS_MAX, "an integer or \"auto\"", &x)) {
        c->cfg->workers = (int)x;
        c->cfg->workers_auto = false;
    }
}

static void h_log_level(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    char d[64];
    const char *s;
    (void)kd;
    (void)k;
    int r = get_str(c, v, &s);
    if (r < 0)
        return;
    for (size_t i = 0; r > 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcmp(s, names[i])) {
            c->cfg->log_level = (enum cfg_log_level)i;
            return;
        }
    }
    err_node(c, v, "%s: expected debug, info, warn or error, got %s", c->path,
             describe(v, d, sizeof(d)));
}

static bool read_listen_item(struct ctx *c, yaml_node_t *v, struct cfg_listen *out)
{
    char d[64];
    const char *s;
    int r = get_str(c, v, &s);
    if (r < 0)
        return false;
    if (r == 0 || !*s) {
        err_node(c, v, "%s: expected HOST:PORT, got %s", c->path, describe(v, d, sizeof(d)));
        return false;
    }
    const char *why = parse_listen(s, out);
    if (why) {
        err_node(c, v, "%s: %s: %s", c->path, describe(v, d, sizeof(d)), why);
        return false;
    }
    return true;
}

static bool same_address(const struct cfg_listen *a, const struct cfg_listen *b)
{
    return !strcasecmp(a->host, b->host) && !strcmp(a->port, b->port);
}

static void h_listen(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[64];
    struct cfg_listen *list = NULL;
    size_t n = 0;
    (void)kd;
    (void)k;

    if (v && v->type == YAML_SEQUENCE_NODE) {
        size_t total = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (total == 0) {
            err_node(c, v, "%s: the list must hold at least one address", c->path);
            return;
        }
        if (!(list = calloc(total, sizeof(*list)))) {
            c->oom = true;
            return;
        }
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
            yaml_node_t *item = node(c, *it);
            if (!read_listen_item(c, item, &list[n]))
                continue;
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = same_address(&list[j], &list[n]);
            if (dup) {
                err_node(c, item, "%s: %s is listed twice", c->path,
                         describe(item, d, sizeof(d)));
                free_listen(&list[n]);
                continue;
            }
            n++;
        }
    } else if (is_scalar(v) && !is_null(v)) {
        if (!(list = calloc(1, sizeof(*list)))) {
            c->oom = true;
            return;
        }
        if (read_listen_item(c, v, &list[0]))
            n = 1;
    } else {
        err_node(c, v, "%s: expected HOST:PORT or a list of them, got %s", c->path,
                 describe(v, d, sizeof(d)));
        return;
    }
    for (size_t i = 0; i < c->cfg->n_listen; i++)
        free_listen(&c->cfg->listen[i]);
    free(c->cfg->listen);
    c->cfg->listen = list;
    c->cfg->n_listen = n;
}

static void h_metrics_listen(struct ctx *c, const struct keydef *kd, yaml_node_t *k,
                             yaml_node_t *v)
{
    (void)kd;
    if (is_null(v) || (is_scalar(v) && slen(v) == 0))
        return;
    struct cfg_listen *l = calloc(1, sizeof(*l));
    if (!l) {
        c->oom = true;
        return;
    }
    if (!read_listen_item(c, v, l)) {
        free(l);
        return;
    }
    c->cfg->metrics_listen = l;
    c->k_metrics = k;
}

/* S3 bucket naming rules (general purpose buckets). */
static const char *check_bucket(const char *b)
{
    size_t len = strlen(b);
    if (len < 3 || len > 63)
        return "must be 3 to 63 characters long";
    for (size_t i = 0; i < len; i++) {
        char ch = b[i];
        if (ch >= 'A' && ch <= 'Z')
            return "must be lower-case";
        if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '.' && ch != '-')
            return "may only hold lower-case letters, digits, '.' and '-'";
    }
    if (!is_alnum(b[0]) || !is_alnum(b[len - 1]))
        return "must begin and end with a letter or digit";
    if (strstr(b, ".."))
        return "must not contain \"..\"";
    struct in_addr a4;
    if (inet_pton(AF_INET, b, &a4) == 1)
        return "must not look like an IP address";
    if (!strncmp(b, "xn--", 4) || !strncmp(b, "sthree-", 7))
        return "must not start with \"xn--\" or \"sthree-\"";
    if ((len > 8 && !strcmp(b + len - 8, "-s3alias")) ||
        (len > 7 && !strcmp(b + len - 7, "--ol-s3")))
        return "must not end with \"-s3alias\" or \"--ol-s3\"";
    return NULL;
}

/* Credentials: values never appear in messages (get_str echoes none). */
static void h_cred(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    const char *s;
    (void)k;
    int r = get_str(c, v, &s);
    if (r < 0) {
        c->cred_bad = true;
        return;
    }
    set_str(c, (char **)field(c, kd), s && *s ? s : NULL);
}

static void h_bucket(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s, *why;
    (void)kd;
    c->k_bucket = k;
    int r = get_str(c, v, &s);
    if (r < 0)
        return;
    if (r == 0 || !*s) {
        err_node(c, v, "%s: must not be empty", c->path);
        return;
    }
    if ((why = check_bucket(s))) {
        err_node(c, v, "%s: %s: bucket name %s", c->path, describe(v, d, sizeof(d)), why);
        return;
    }
    set_str(c, &c->cfg->bucket, s);
}

static void h_region(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s;
    (void)kd;
    (void)k;
    int r = get_str(c, v, &s);
    if (r < 0)
        return;
    size_t len = r > 0 ? strlen(s) : 0;
    if (len == 0 || len > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != len) {
        err_node(c, v, "%s: expected a region name such as us-east-1 "
                 "(lower-case letters, digits, '-'), got %s", c->path, describe(v, d, sizeof(d)));
        return;
    }
    set_str(c, &c->cfg->region, s);
}

/* endpoint, public_endpoint (optional) and imds_endpoint (min = 1: required). */
static void h_endpoint(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s, *why;
    char *norm;
    (void)k;
    int r = get_str(c, v, &s);
    if (r < 0)
        return;
    if (r == 0 || !*s) {
        if (kd->min)
            err_node(c, v, "%s: must not be empty", c->path);
        else
            set_str(c, (char **)field(c, kd), NULL);
        return;
    }
    if ((why = parse_endpoint(s, &norm))) {
        err_node(c, v, "%s: %s: %s", c->path, describe(v, d, sizeof(d)), why);
        return;
    }
    free(*(char **)field(c, kd));
    *(char **)field(c, kd) = norm;
}

static const char *check_prefix(const char *p)
{
    size_t len = strlen(p);
    if (len == 0)
        return "must not be empty";
    if (len > PREFIX_MAX)
        return "is longer than 512 bytes";
    if (p[0] == '/')
        return "must not start with '/'";
    if (strchr(p, '\\'))
        return "must not contain '\\'";
    /* Segments: no "." or "..", no empty one (the last may be empty: "uploads/"). */
    const char *seg = p;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);
        if (slash && sl == 0)
            return "must not contain an empty segment (\"//\")";
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return "must not contain a \".\" or \"..\" segment";
        if (!slash)
            break;
        seg = slash + 1;
    }
    return NULL;
}

static void h_prefix(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s, *why;
    (void)kd;
    c->k_prefix = k;
    int r = get_str(c, v, &s);
    if (r < 0)
        return;
    if (r == 0) {
        err_node(c, v, "%s: must not be empty", c->path);
        return;
    }
    /* No UTF-8 check: libyaml refuses invalid input and surrogate escapes. */
    if ((why = check_prefix(s))) {
        err_node(c, v, "%s: %s %s", c->path, describe(v, d, sizeof(d)), why);
        return;
    }
    set_str(c, &c->cfg->prefix, s);
}

/* RFC 6838 restricted-name: alnum first, then alnum and !#$&-^_.+ , 1..127. */
static bool restricted_name(const char *s, size_t len)
{
    if (len == 0 || len > 127 || !is_alnum(s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!is_alnum(s[i]) && !strchr("!#$&-^_.+", s[i]))
            return false;
    return true;
}

static bool valid_media_type(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash && restricted_name(s, (size_t)(slash - s)) &&
           restricted_name(slash + 1, strlen(slash + 1));
}

static void free_types(struct cfg_type *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].ext);
        free(t[i].type);
    }
    free(t);
}

static void h_types(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    (void)kd;
    if (!v || v->type != YAML_MAPPING_NODE) {
        err_node(c, v, "%s: expected a mapping of \".ext: type/subtype\", got %s", c->path,
                 describe(v, d, sizeof(d)));
        return;
    }
    size_t total = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (total == 0) {
        err_node(c, v, "%s: must list at least one \".ext: type/subtype\"", c->path);
        return;
    }
    struct cfg_type *types = calloc(total, sizeof(*types));
    yaml_node_t **keys = calloc(total, sizeof(*keys));
    size_t n = 0;
    if (!types || !keys) {
        free(types);
        free(keys);
        c->oom = true;
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
        c->cur_key = kn;
        if (!is_scalar(kn) || is_null(kn)) {
            err_node(c, kn, "%s: expected an extension such as .jpg as the key, got %s",
                     c->path, describe(kn, d, sizeof(d)));
            continue;
        }
        const char *ext = sval(kn);
        size_t elen = slen(kn);
        if (elen < 2 || elen > EXT_MAX + 1 || ext[0] != '.' || strlen(ext) != elen) {
            err_node(c, kn, "%s: %s is not an extension: expected '.' and 1 to %d letters "
                     "or digits, e.g. .jpg", c->path, describe(kn, d, sizeof(d)), EXT_MAX);
            continue;
        }
        bool ok = true;
        for (size_t i = 1; i < elen && ok; i++)
            ok = is_alnum(ext[i]);
        if (!ok) {
            err_node(c, kn, "%s: %s is not an extension: expected '.' and 1 to %d letters "
                     "or digits, e.g. .jpg", c->path, describe(kn, d, sizeof(d)), EXT_MAX);
            continue;
        }
        char *lower = strdup(ext);
        if (!lower) {
            c->oom = true;
            break;
        }
        for (char *q = lower; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
        size_t dup = n;
        for (size_t j = 0; j < n; j++)
            if (!strcmp(types[j].ext, lower))
                dup = j;
        if (dup < n) {
            err_node(c, kn, "%s: duplicate extension \"%s\" (first at %zu:%zu)", c->path,
                     lower, keys[dup]->start_mark.line + 1, keys[dup]->start_mark.column + 1);
            free(lower);
            continue;
        }
        if (!is_scalar(vn) || is_null(vn) || !valid_media_type(sval(vn)) ||
            strlen(sval(vn)) != slen(vn)) {
            err_node(c, vn, "%s: %s: expected a content type such as image/jpeg "
                     "(type/subtype), got %s", c->path, lower, describe(vn, d, sizeof(d)));
            free(lower);
            continue;
        }
        if (!(types[n].type = strdup(sval(vn)))) {
            free(lower);
            c->oom = true;
            break;
        }
        types[n].ext = lower;
        keys[n] = kn;
        n++;
    }
    c->cur_key = k;
    free(keys);
    free_types(c->cfg->types, c->cfg->n_types);
    c->cfg->types = types;
    c->cfg->n_types = n;
}

/* A string or a list of strings, each checked by PARSE; replaces *LIST. */
static void read_str_list(struct ctx *c, yaml_node_t *v, const char *what,
                          const char *(*parse)(const char *, char **),
                          char ***list_out, size_t *n_out)
{
    char d[80];
    yaml_node_t *one[1] = { v };
    yaml_node_t **items = one;
    size_t total = 1;
    yaml_node_t **alloc = NULL;

    if (v && v->type == YAML_SEQUENCE_NODE) {
        total = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (total == 0) {
            for (size_t i = 0; i < *n_out; i++)
                free((*list_out)[i]);
            free(*list_out);
            *list_out = NULL;
            *n_out = 0;
            return;
        }
        if (total > ORIGINS_MAX) {
            err_node(c, v, "%s: more than %d entries", c->path, ORIGINS_MAX);
            return;
        }
        if (!(alloc = calloc(total, sizeof(*alloc)))) {
            c->oom = true;
            return;
        }
        for (size_t i = 0; i < total; i++)
            alloc[i] = node(c, v->data.sequence.items.start[i]);
        items = alloc;
    } else if (!is_scalar(v) || is_null(v)) {
        err_node(c, v, "%s: expected %s or a list of them, got %s", c->path, what,
                 describe(v, d, sizeof(d)));
        return;
    }

    char **list = calloc(total, sizeof(*list));
    size_t n = 0;
    if (!list) {
        free(alloc);
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < total; i++) {
        const char *s, *why;
        char *norm;
        int r = get_str(c, items[i], &s);
        if (r < 0)
            continue;
        if (r == 0 || !*s) {
            err_node(c, items[i], "%s: expected %s, got %s", c->path, what,
                     describe(items[i], d, sizeof(d)));
            continue;
        }
        if ((why = parse(s, &norm))) {
            err_node(c, items[i], "%s: %s: %s", c->path, describe(items[i], d, sizeof(d)), why);
            continue;
        }
        list[n++] = norm;
    }
    free(alloc);
    for (size_t i = 0; i < *n_out; i++)
        free((*list_out)[i]);
    free(*list_out);
    *list_out = list;
    *n_out = n;
}

static void h_origins(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    (void)kd;
    (void)k;
    read_str_list(c, v, "\"*\" or an origin", parse_origin, &c->cfg->allow_origins,
                  &c->cfg->n_allow_origins);
}

/* An HTTP field name (RFC 9110 token). */
static const char *parse_header_name(const char *s, char **norm)
{
    *norm = NULL;
    for (const char *p = s; *p; p++)
        if (!is_alnum(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return "not a valid header name";
    *norm = strdup(s);
    return *norm ? NULL : "out of memory";
}

static void h_headers(struct ctx *c, const struct keydef *kd, yaml_node_t *k, yaml_node_t *v)
{
    (void)kd;
    (void)k;
    read_str_list(c, v, "a header name", parse_header_name, &c->cfg->allow_headers,
                  &c->cfg->n_allow_headers);
}

/* ------------------------------------------------------------ key tables */

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

static const struct keydef server_keys[] = {
    { "listen", h_listen, 0, 0, 0, 0 },
    { "workers", h_workers, 0, 0, 0, 0 },
    { "shutdown_timeout", h_int, FIELD(shutdown_timeout), 0, 86400, 0 },
    { "user", h_opt_str, FIELD(user), 0, 0, 0 },
    { "group", h_opt_str, FIELD(group), 0, 0, 0 },
    { "pid_file", h_opt_str, FIELD(pid_file), 0, 0, 0 },
    { "log_file", h_opt_str, FIELD(log_file), 0, 0, 0 },
    { "log_level", h_log_level, 0, 0, 0, 0 },
    { "access_log", h_opt_str, FIELD(access_log), 0, 0, 0 },
    { "max_header_size", h_size, FIELD(max_header_size), 256, 1048576, 0 },
    { "max_body_size", h_size, FIELD(max_body_size), 1, 16777216, 0 },
    { "read_timeout", h_int, FIELD(read_timeout), 1, 3600, 0 },
    { "write_timeout", h_int, FIELD(write_timeout), 1, 3600, 0 },
    { "keepalive_timeout", h_int, FIELD(keepalive_timeout), 1, 3600, 0 },
    { "metrics_listen", h_metrics_listen, 0, 0, 0, 0 },
};

static const struct keydef s3_keys[] = {
    { "bucket", h_bucket, 0, 0, 0, 0 },
    { "region", h_region, 0, 0, 0, 0 },
    { "endpoint", h_endpoint, FIELD(endpoint), 0, 0, 0 },
    { "public_endpoint", h_endpoint, FIELD(public_endpoint), 0, 0, 0 },
    { "path_style", h_bool, FIELD(path_style), 0, 0, 0 },
    { "access_key_id", h_cred, FIELD(access_key_id), 0, 0, REM(k_access) },
    { "secret_access_key", h_cred, FIELD(secret_access_key), 0, 0, REM(k_secret) },
    { "session_token", h_cred, FIELD(session_token), 0, 0, REM(k_token) },
    { "imds_endpoint", h_endpoint, FIELD(imds_endpoint), 1, 0, 0 },
    { "connect_timeout_ms", h_int, FIELD(connect_timeout_ms), 1, 600000, 0 },
    { "request_timeout_ms", h_int, FIELD(request_timeout_ms), 1, 600000, 0 },
    { "max_attempts", h_int, FIELD(max_attempts), 1, 10, 0 },
    { "health_cache_ms", h_int, FIELD(health_cache_ms), 0, 3600000, 0 },
};

static const struct keydef presign_keys[] = {
    { "expires", h_int, FIELD(expires), 1, 604800, 0 },
    { "max_file_size", h_i64, FIELD(max_file_size), 1, PUT_MAX, 0 },
};

static const struct keydef uploads_keys[] = {
    { "prefix", h_prefix, 0, 0, 0, 0 },
    { "allowed_types", h_types, 0, 0, 0, 0 },
    { "max_filename_bytes", h_size, FIELD(max_filename_bytes), 1, S3_KEY_MAX - KEY_UUID_BYTES - 1,
      REM(k_maxfn) },
};

static const struct keydef cors_keys[] = {
    { "allow_origins", h_origins, 0, 0, 0, 0 },
    { "allow_headers", h_headers, 0, 0, 0, 0 },
    { "max_age", h_int, FIELD(max_age), 0, 86400, 0 },
};

struct section {
    const char *name;
    const struct keydef *keys;
    size_t n;
};

static const struct section sections[] = {
    { "server", server_keys, NKEYS(server_keys) },
    { "s3", s3_keys, NKEYS(s3_keys) },
    { "presign", presign_keys, NKEYS(presign_keys) },
    { "uploads", uploads_keys, NKEYS(uploads_keys) },
    { "cors", cors_keys, NKEYS(cors_keys) },
};

/* Edit distance, for "did you mean" on a misspelt key. Names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The candidate within edit distance 2 of NAME, or NULL. */
static const char *suggest(const char *name, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < n; i++) {
        const char *cand = cands[i];
        size_t dd = distance(name, cand);
        if (dd < bestd) {
            bestd = dd;
            best = cand;
        }
    }
    return best;
}

/*
 * Key names of a mapping: a non-null scalar without control characters.
 * Returns the name, or NULL after reporting.
 */
static const char *key_name(struct ctx *c, const char *where, yaml_node_t *k)
{
    char d[80];
    if (!is_scalar(k) || is_null(k)) {
        err_node(c, k, "%s: expected a key name, got %s", where, describe(k, d, sizeof(d)));
        return NULL;
    }
    if (has_ctl(sval(k), slen(k)) || strlen(sval(k)) != slen(k)) {
        err_node(c, k, "%s: unknown key %s", where, describe(k, d, sizeof(d)));
        return NULL;
    }
    return sval(k);
}

/* True (after reporting) when pair I's key repeats an earlier key of MAP. */
static bool duplicate_key(struct ctx *c, const char *where, yaml_node_t *map,
                          yaml_node_pair_t *pair, const char *name)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *k = node(c, p->key);
        if (is_scalar(k) && slen(k) == strlen(name) && !strcmp(sval(k), name)) {
            yaml_node_t *dup = node(c, pair->key);
            if (where)
                err_node(c, dup, "%s.%s: duplicate key (first at %zu:%zu)", where, name,
                         k->start_mark.line + 1, k->start_mark.column + 1);
            else
                err_node(c, dup, "%s: duplicate key (first at %zu:%zu)", name,
                         k->start_mark.line + 1, k->start_mark.column + 1);
            return true;
        }
    }
    return false;
}

static void walk_section(struct ctx *c, const struct section *sec, yaml_node_t *map)
{
    char d[80];
    if (is_null(map))
        return;     /* "cors:" with nothing under it: all defaults */
    if (map->type != YAML_MAPPING_NODE) {
        err_node(c, map, "%s: expected a mapping of keys, got %s", sec->name,
                 describe(map, d, sizeof(d)));
        return;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        const char *name = key_name(c, sec->name, k);
        if (!name || duplicate_key(c, sec->name, map, p, name))
            continue;
        const struct keydef *kd = NULL;
        for (size_t i = 0; i < sec->n && !kd; i++)
            if (!strcmp(sec->keys[i].name, name))
                kd = &sec->keys[i];
        if (!kd) {
            const char *cands[32];
            size_t nc = 0;
            for (size_t i = 0; i < sec->n && nc < 32; i++)
                cands[nc++] = sec->keys[i].name;
            const char *s = suggest(name, cands, nc);
            if (s)
                err_node(c, k, "%s.%.60s: unknown key (did you mean \"%s\"?)", sec->name,
                         name, s);
            else
                err_node(c, k, "%s.%.60s: unknown key", sec->name, name);
            continue;
        }
        snprintf(c->path, sizeof(c->path), "%s.%s", sec->name, name);
        c->cur_key = k;
        if (kd->remember)
            *(yaml_node_t **)((char *)c + kd->remember) = k;
        kd->fn(c, kd, k, v);
        c->cur_key = NULL;
    }
}

/*
 * Application tags ("!vault abc", "!env X") look like they do something;
 * they would be read as plain strings, so refuse them. The standard
 * tag:yaml.org,2002: tags are what untagged nodes carry anyway.
 */
static void check_tags(struct ctx *c)
{
    static const char std[] = "tag:yaml.org,2002:";
    for (yaml_node_t *n = c->doc->nodes.start; n < c->doc->nodes.top; n++) {
        const char *tag = (const char *)n->tag;
        if (tag && strncmp(tag, std, sizeof(std) - 1) != 0)
            err_node(c, n, "YAML tag \"%.40s\" is not supported", tag);
    }
}

static void walk_root(struct ctx *c, yaml_node_t *root)
{
    char d[80];
    if (!root || is_null(root))
        return;
    if (root->type != YAML_MAPPING_NODE) {
        c->s3_bad = true;
        err_node(c, root, "expected a mapping of sections (server, s3, presign, uploads, "
                 "cors) at the top level, got %s", describe(root, d, sizeof(d)));
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        const char *name = key_name(c, "top level", k);
        if (!name || duplicate_key(c, NULL, root, p, name))
            continue;
        const struct section *sec = NULL;
        for (size_t i = 0; i < NKEYS(sections) && !sec; i++)
            if (!strcmp(sections[i].name, name))
                sec = &sections[i];
        if (!sec) {
            const char *cands[NKEYS(sections)];
            for (size_t i = 0; i < NKEYS(sections); i++)
                cands[i] = sections[i].name;
            const char *s = suggest(name, cands, NKEYS(sections));
            if (s)
                err_node(c, k, "%.60s: unknown section (did you mean \"%s\"?)", name, s);
            else
                err_node(c, k, "%.60s: unknown section (expected server, s3, presign, "
                         "uploads or cors)", name);
            continue;
        }
        if (sec->keys == s3_keys) {
            c->k_s3 = k;
            c->s3_bad = !is_null(v) && v->type != YAML_MAPPING_NODE;
        }
        walk_section(c, sec, v);
    }
}

/* Rules that tie several keys together, checked once everything is read. */
static void cross_checks(struct ctx *c)
{
    struct cfg *cfg = c->cfg;

    if (!cfg->bucket && !c->k_bucket && !c->s3_bad) {
        if (c->k_s3)
            err_node(c, c->k_s3, "s3.bucket: required key is missing");
        else
            err_at(c, 1, 1, "s3.bucket: required key is missing (there is no s3 section)");
    }
    if (c->cred_bad)
        ;   /* already reported; a pairing complaint would only repeat it */
    else if (cfg->access_key_id && !cfg->secret_access_key && c->k_access)
        err_node(c, c->k_access, "s3.access_key_id is set but s3.secret_access_key is not: "
                 "set both, or neither to use the environment, the shared credentials "
                 "file or the instance role");
    else if (cfg->secret_access_key && !cfg->access_key_id && c->k_secret)
        err_node(c, c->k_secret, "s3.secret_access_key is set but s3.access_key_id is not: "
                 "set both, or neither");
    if (!c->cred_bad && cfg->session_token && !cfg->access_key_id && c->k_token)
        err_node(c, c->k_token, "s3.session_token: only allowed together with "
                 "s3.access_key_id and s3.secret_access_key");
    if (cfg->prefix && strlen(cfg->prefix) + KEY_UUID_BYTES + cfg->max_filename_bytes >
                           S3_KEY_MAX) {
        yaml_node_t *at = c->k_maxfn ? c->k_maxfn : c->k_prefix;
        err_node(c, at, "uploads: prefix (%zu bytes) + 37 + max_filename_bytes (%zu) "
                 "exceeds S3's %d-byte key limit", strlen(cfg->prefix),
                 cfg->max_filename_bytes, S3_KEY_MAX);
    }
    if (cfg->metrics_listen) {
        for (size_t i = 0; i < cfg->n_listen; i++) {
            if (same_address(cfg->metrics_listen, &cfg->listen[i])) {
                err_node(c, c->k_metrics, "server.metrics_listen: %s is also in server.listen "
                         "(leave metrics_listen out to serve /metrics there)",
                         cfg->metrics_listen->text);
                break;
            }
        }
    }
}

/* ------------------------------------------------------------- defaults */

static const struct cfg_type default_types[] = {
    { ".jpg", "image/jpeg" },   { ".jpeg", "image/jpeg" },  { ".png", "image/png" },
    { ".gif", "image/gif" },    { ".pdf", "application/pdf" }, { ".txt", "text/plain" },
    { ".csv", "text/csv" },     { ".json", "application/json" },
    { ".zip", "application/zip" }, { ".mp4", "video/mp4" },
};

static const char *const default_headers[] = { "Content-Type", "X-Request-Id" };

static bool set_defaults(struct cfg *cfg)
{
    cfg->workers = 2;
    cfg->shutdown_timeout = 30;
    cfg->log_level = CFG_LOG_INFO;
    cfg->max_header_size = 8192;
    cfg->max_body_size = 16384;
    cfg->read_timeout = 30;
    cfg->write_timeout = 30;
    cfg->keepalive_timeout = 60;
    cfg->path_style = false;
    cfg->connect_timeout_ms = 2000;
    cfg->request_timeout_ms = 10000;
    cfg->max_attempts = 3;
    cfg->health_cache_ms = 1000;
    cfg->expires = 600;
    cfg->max_file_size = 52428800;
    cfg->max_filename_bytes = 200;
    cfg->max_age = 600;

    if (!(cfg->listen = calloc(1, sizeof(*cfg->listen))) ||
        parse_listen("127.0.0.1:8000", cfg->listen) != NULL)
        return false;
    cfg->n_listen = 1;
    if (!(cfg->region = strdup("us-east-1")) || !(cfg->prefix = strdup("uploads/")) ||
        !(cfg->imds_endpoint = strdup("http://169.254.169.254")))
        return false;

    size_t nt = NKEYS(default_types);
    /* Counts are set right after each calloc: cfg_free copes with NULLs. */
    if (!(cfg->types = calloc(nt, sizeof(*cfg->types))))
        return false;
    cfg->n_types = nt;
    for (size_t i = 0; i < nt; i++)
        if (!(cfg->types[i].ext = strdup(default_types[i].ext)) ||
            !(cfg->types[i].type = strdup(default_types[i].type)))
            return false;
    if (!(cfg->allow_origins = calloc(1, sizeof(char *))))
        return false;
    cfg->n_allow_origins = 1;
    if (!(cfg->allow_origins[0] = strdup("*")))
        return false;
    size_t nh = NKEYS(default_headers);
    if (!(cfg->allow_headers = calloc(nh, sizeof(char *))))
        return false;
    cfg->n_allow_headers = nh;
    for (size_t i = 0; i < nh; i++)
        if (!(cfg->allow_headers[i] = strdup(default_headers[i])))
            return false;
    return true;
}

/* --------------------------------------------------------------- loading */

/* Line and column (1-based, in characters) of byte OFFSET of TEXT. */
static void offset_to_pos(const char *text, size_t len, size_t offset, size_t *line,
                          size_t *col)
{
    *line = 1;
    *col = 1;
    if (offset > len)
        offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static void syntax_error(struct ctx *c, yaml_parser_t *p, const char *text, size_t len)
{
    size_t line, col;
    const char *problem = p->problem ? p->problem : "unknown problem";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        c->oom = true;
        return;
    case YAML_READER_ERROR:
        offset_to_pos(text, len, p->problem_offset, &line, &col);
        err_at(c, line, col, "invalid input: %s", problem);
        return;
    default:
        line = p->problem_mark.line + 1;
        col = p->problem_mark.column + 1;
        if (p->context)
            err_at(c, line, col, "YAML syntax error: %s (%s at %zu:%zu)", problem, p->context,
                   p->context_mark.line + 1, p->context_mark.column + 1);
        else
            err_at(c, line, col, "YAML syntax error: %s", problem);
        return;
    }
}

struct cfg *cfg_load_string(const char *name, const char *text, size_t len,
                            struct cfg_errors *errs)
{
    struct ctx c = { 0 };
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_doc = false;

    c.name = name ? name : "-";
    if (!text)
        len = 0;
    if (!(c.cfg = calloc(1, sizeof(*c.cfg))) || !(c.cfg->path = strdup(c.name)) ||
        !set_defaults(c.cfg)) {
        c.oom = true;
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        c.oom = true;
        goto out;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&c, &parser, text, len);
    } else {
        have_doc = true;
        /* A second document would be ignored silently; say so instead. */
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(&c, &parser, text, len);
        } else {
            yaml_node_t *r = yaml_document_get_root_node(&extra);
            if (r)
                err_at(&c, extra.start_mark.line + 1, extra.start_mark.column + 1,
                       "only one YAML document is allowed in the configuration file");
            yaml_document_delete(&extra);
        }
    }
    yaml_parser_delete(&parser);

    if (have_doc) {
        c.doc = &doc;
        check_tags(&c);
        walk_root(&c, yaml_document_get_root_node(&doc));
        cross_checks(&c);
        yaml_document_delete(&doc);
    }

out:
    if (c.n_errs || c.dropped || c.oom) {
        flush_errors(&c, errs);
        cfg_free(c.cfg);
        return NULL;
    }
    flush_errors(&c, errs);
    return c.cfg;
}

struct cfg *cfg_load(const char *path, struct cfg_errors *errs)
{
    struct ctx c = { 0 };
    c.name = path ? path : "-";
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        err_at(&c, 1, 1, "cannot open the configuration file: %s",
               strerror(path ? errno : EINVAL));
        flush_errors(&c, errs);
        return NULL;
    }
    char *buf = malloc(CFG_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, CFG_FILE_MAX + 1, f) : 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || rerr || len > CFG_FILE_MAX) {
        if (!buf)
            c.oom = true;
        else if (rerr)
            err_at(&c, 1, 1, "cannot read the configuration file: %s", strerror(rerr));
        else
            err_at(&c, 1, 1, "the configuration file is larger than %d bytes", CFG_FILE_MAX);
        free(buf);
        flush_errors(&c, errs);
        return NULL;
    }
    struct cfg *cfg = cfg_load_string(path, buf, len, errs);
    free(buf);
    return cfg;
}

void cfg_free(struct cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->n_listen; i++)
        free_listen(&cfg->listen[i]);
    free(cfg->listen);
    free(cfg->user);
    free(cfg->group);
    free(cfg->pid_file);
    free(cfg->log_file);
    free(cfg->access_log);
    if (cfg->metrics_listen) {
        free_listen(cfg->metrics_listen);
        free(cfg->metrics_listen);
    }
    free(cfg->bucket);
    free(cfg->region);
    free(cfg->endpoint);
    free(cfg->public_endpoint);
    /* Credentials are wiped, not just released. */
    if (cfg->access_key_id)
        explicit_bzero(cfg->access_key_id, strlen(cfg->access_key_id));
    if (cfg->secret_access_key)
        explicit_bzero(cfg->secret_access_key, strlen(cfg->secret_access_key));
    if (cfg->session_token)
        explicit_bzero(cfg->session_token, strlen(cfg->session_token));
    free(cfg->access_key_id);
    free(cfg->secret_access_key);
    free(cfg->session_token);
    free(cfg->imds_endpoint);
    free(cfg->prefix);
    free_types(cfg->types, cfg->n_types);
    for (size_t i = 0; i < cfg->n_allow_origins; i++)
        free(cfg->allow_origins[i]);
    free(cfg->allow_origins);
    for (size_t i = 0; i < cfg->n_allow_headers; i++)
        free(cfg->allow_headers[i]);
    free(cfg->allow_headers);
    free(cfg);
}

void cfg_errors_free(struct cfg_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++)
        free(errs->lines[i]);
    free(errs->lines);
    errs->lines = NULL;
    errs->n = 0;
}

const char *cfg_type_for_filename(const struct cfg *cfg, const char *filename)
{
    if (!cfg || !filename)
        return NULL;
    const char *base = filename;
    for (const char *p = filename; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    /* Leading dots make a hidden file, not an extension: ".pdf" has none. */
    while (*base == '.')
        base++;
    const char *dot = strrchr(base, '.');
    if (!dot || !dot[1])
        return NULL;
    for (size_t i = 0; i < cfg->n_types; i++)
        if (!strcasecmp(cfg->types[i].ext, dot))
            return cfg->types[i].type;
    return NULL;
}

bool cfg_origin_allowed(const struct cfg *cfg, const char *origin)
{
    if (!cfg || !origin || !*origin)
        return false;
    for (size_t i = 0; i < cfg->n_allow_origins; i++) {
        const char *o = cfg->allow_origins[i];
        if (!strcmp(o, "*") || !strcasecmp(o, origin))
            return true;
    }
    return false;
}
