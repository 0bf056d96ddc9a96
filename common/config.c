/*
 * config.c - presignd's configuration schema (see config.h): the key tables
 * of every section with their ranges and defaults, the handlers that know
 * what a value means (listen addresses, bucket names, content types,
 * origins...), the rules that tie keys together, and the lookups the other
 * modules use. Reading YAML, walking it and collecting errors is
 * cfgwalk.c's job.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfgwalk.h"
#include "keys.h"
#include "str.h"
#include "url.h"

#define CFG_FILE_MAX   (1024 * 1024) /* a config file bigger than this is a mistake */
#define WORKERS_MAX    1024
#define KEY_UUID_BYTES 37            /* uuid4 + "-" between prefix and file name */
#define PREFIX_MAX     512
#define EXT_MAX        32
#define LIST_MAX       256
#define PUT_MAX        5368709120LL  /* S3 accepts at most 5 GiB in one PUT */

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* The walker and what the cross-key rules need to point at. */
struct cctx {
    struct cfgw w;              /* first: handlers get &cctx.w */
    struct cfg *cfg;
    bool cred_bad;              /* a credential was unreadable: skip the pairing rules */
    yaml_node_t *k_bucket, *k_access, *k_secret, *k_token;
    yaml_node_t *k_prefix, *k_maxfn, *k_metrics;
};

static struct cctx *CC(struct cfgw *w)
{
    return (struct cctx *)w;
}

static bool is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* ---------------------------------------------------------------- server */

static void h_workers(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_server *s = &CC(w)->cfg->server;
    long long x;

    (void)kd;
    (void)k;
    if (cfgw_is_scalar(v) && cfgw_slen(v) == 4 && !strcmp(cfgw_sval(v), "auto")) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->workers_auto = true;
        s->workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
        return;
    }
    if (cfgw_int(w, v, 1, WORKERS_MAX, "an integer or \"auto\"", &x)) {
        s->workers = (int)x;
        s->workers_auto = false;
    }
}

static void h_log_level(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    static const struct { const char *name; enum log_level level; } names[] = {
        { "debug", LOG_LVL_DEBUG }, { "info", LOG_LVL_INFO },
        { "warn", LOG_LVL_WARN }, { "error", LOG_LVL_ERROR },
    };
    char d[64];
    const char *s;

    (void)kd;
    (void)k;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    for (size_t i = 0; r > 0 && i < NKEYS(names); i++) {
        if (!strcmp(s, names[i].name)) {
            CC(w)->cfg->server.log_level = names[i].level;
            return;
        }
    }
    cfgw_err(w, v, "%s: expected debug, info, warn or error, got %s", w->path,
             cfgw_describe(v, d, sizeof d));
}

static void free_listen(struct cfg_listen *l)
{
    free(l->text);
    free(l->host);
    free(l->port);
}

static bool read_listen_item(struct cfgw *w, yaml_node_t *v, struct cfg_listen *out)
{
    char d[64];
    const char *s, *why;

    memset(out, 0, sizeof *out);
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return false;
    if (r == 0 || !*s) {
        cfgw_err(w, v, "%s: expected HOST:PORT, got %s", w->path, cfgw_describe(v, d, sizeof d));
        return false;
    }
    if ((why = url_split_hostport(s, strlen(s), true, &out->host, &out->port))) {
        cfgw_err(w, v, "%s: %s: %s", w->path, cfgw_describe(v, d, sizeof d), why);
        return false;
    }
    if (!(out->text = strdup(s))) {
        free_listen(out);
        w->oom = true;
        return false;
    }
    return true;
}

static bool same_address(const struct cfg_listen *a, const struct cfg_listen *b)
{
    return !strcasecmp(a->host, b->host) && !strcmp(a->port, b->port);
}

static void h_listen(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_server *s = &CC(w)->cfg->server;
    char d[64];
    size_t total = 0, n = 0;

    (void)kd;
    (void)k;
    if (!(v && v->type == YAML_SEQUENCE_NODE) && !(cfgw_is_scalar(v) && !cfgw_is_null(v))) {
        cfgw_err(w, v, "%s: expected HOST:PORT or a list of them, got %s", w->path,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    yaml_node_t **items = cfgw_items(w, v, &total);
    if (total == 0) {
        if (!w->oom)
            cfgw_err(w, v, "%s: the list must hold at least one address", w->path);
        return;
    }
    struct cfg_listen *list = calloc(total, sizeof *list);
    if (!list) {
        free(items);
        w->oom = true;
        return;
    }
    for (size_t i = 0; i < total; i++) {
        if (!read_listen_item(w, items[i], &list[n]))
            continue;
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = same_address(&list[j], &list[n]);
        if (dup) {
            cfgw_err(w, items[i], "%s: %s is listed twice", w->path,
                     cfgw_describe(items[i], d, sizeof d));
            free_listen(&list[n]);
            continue;
        }
        n++;
    }
    free(items);
    for (size_t i = 0; i < s->n_listen; i++)
        free_listen(&s->listen[i]);
    free(s->listen);
    s->listen = list;
    s->n_listen = n;
}

static void h_metrics_listen(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                             yaml_node_t *v)
{
    struct cfg_server *s = &CC(w)->cfg->server;

    (void)kd;
    if (cfgw_is_null(v) || (cfgw_is_scalar(v) && cfgw_slen(v) == 0))
        return;
    struct cfg_listen *l = calloc(1, sizeof *l);
    if (!l) {
        w->oom = true;
        return;
    }
    if (!read_listen_item(w, v, l)) {
        free(l);
        return;
    }
    if (s->metrics_listen) {
        free_listen(s->metrics_listen);
        free(s->metrics_listen);
    }
    s->metrics_listen = l;
    CC(w)->k_metrics = k;
}

/* -------------------------------------------------------------------- s3 */

/* S3 bucket naming rules (general purpose buckets). */
static const char *check_bucket(const char *b)
{
    size_t len = strlen(b);
    struct in_addr a4;

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
    if (inet_pton(AF_INET, b, &a4) == 1)
        return "must not look like an IP address";
    if (!strncmp(b, "xn--", 4) || !strncmp(b, "sthree-", 7))
        return "must not start with \"xn--\" or \"sthree-\"";
    if ((len > 8 && !strcmp(b + len - 8, "-s3alias")) ||
        (len > 7 && !strcmp(b + len - 7, "--ol-s3")))
        return "must not end with \"-s3alias\" or \"--ol-s3\"";
    return NULL;
}

static void h_bucket(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s, *why;

    (void)kd;
    CC(w)->k_bucket = k;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    if (r == 0 || !*s) {
        cfgw_err(w, v, "%s: must not be empty", w->path);
        return;
    }
    if ((why = check_bucket(s))) {
        cfgw_err(w, v, "%s: %s: bucket name %s", w->path, cfgw_describe(v, d, sizeof d), why);
        return;
    }
    cfgw_set_str(w, &CC(w)->cfg->s3.bucket, s);
}

static void h_region(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s;

    (void)kd;
    (void)k;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    size_t len = r > 0 ? strlen(s) : 0;
    if (len == 0 || len > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != len) {
        cfgw_err(w, v, "%s: expected a region name such as us-east-1 "
                 "(lower-case letters, digits, '-'), got %s", w->path,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    cfgw_set_str(w, &CC(w)->cfg->s3.region, s);
}

/* endpoint, public_endpoint (optional) and imds_endpoint (min = 1: required). */
static void h_endpoint(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s, *why;
    struct url u;
    char **slot = cfgw_field(w, kd);

    (void)k;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    if (r == 0 || !*s) {
        if (kd->min)
            cfgw_err(w, v, "%s: must not be empty", w->path);
        else
            cfgw_set_str(w, slot, NULL);
        return;
    }
    if ((why = url_parse(s, false, &u))) {
        cfgw_err(w, v, "%s: %s: %s", w->path, cfgw_describe(v, d, sizeof d), why);
        return;
    }
    char *norm = url_format(&u);
    url_free(&u);
    if (!norm) {
        w->oom = true;
        return;
    }
    free(*slot);
    *slot = norm;
}

/* Credentials: values never appear in messages (cfgw_str echoes none). */
static void h_cred(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cctx *c = CC(w);
    const char *s;

    if (kd->off == offsetof(struct cfg_s3, access_key_id))
        c->k_access = k;
    else if (kd->off == offsetof(struct cfg_s3, secret_access_key))
        c->k_secret = k;
    else
        c->k_token = k;
    if (cfgw_str(w, v, &s) < 0) {
        c->cred_bad = true;
        return;
    }
    cfgw_set_str(w, (char **)cfgw_field(w, kd), s && *s ? s : NULL);
}

/* --------------------------------------------------------------- uploads */

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

static void h_prefix(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[80];
    const char *s, *why;

    (void)kd;
    CC(w)->k_prefix = k;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    if (r == 0) {
        cfgw_err(w, v, "%s: must not be empty", w->path);
        return;
    }
    /* No UTF-8 check: libyaml refuses invalid input and surrogate escapes. */
    if ((why = check_prefix(s))) {
        cfgw_err(w, v, "%s: %s %s", w->path, cfgw_describe(v, d, sizeof d), why);
        return;
    }
    cfgw_set_str(w, &CC(w)->cfg->uploads.prefix, s);
}

static void h_maxfn(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    CC(w)->k_maxfn = k;
    cfgw_h_size(w, kd, k, v);
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

/* One ".ext: type" pair into T; false (after reporting) when it is not one. */
static bool read_type(struct cfgw *w, yaml_node_t *kn, yaml_node_t *vn, struct cfg_type *types,
                      yaml_node_t **keys, size_t n)
{
    char d[80];
    const char *ext = cfgw_is_scalar(kn) && !cfgw_is_null(kn) ? cfgw_sval(kn) : NULL;
    size_t elen = ext ? cfgw_slen(kn) : 0;
    bool ok = ext && elen >= 2 && elen <= EXT_MAX + 1 && ext[0] == '.' && strlen(ext) == elen;

    if (!ext) {
        cfgw_err(w, kn, "%s: expected an extension such as .jpg as the key, got %s",
                 w->path, cfgw_describe(kn, d, sizeof d));
        return false;
    }
    for (size_t i = 1; i < elen && ok; i++)
        ok = is_alnum(ext[i]);
    if (!ok) {
        cfgw_err(w, kn, "%s: %s is not an extension: expected '.' and 1 to %d letters "
                 "or digits, e.g. .jpg", w->path, cfgw_describe(kn, d, sizeof d), EXT_MAX);
        return false;
    }
    char *lower = strdup(ext);
    if (!lower) {
        w->oom = true;
        return false;
    }
    str_lower(lower);
    for (size_t j = 0; j < n; j++) {
        if (!strcmp(types[j].ext, lower)) {
            cfgw_err(w, kn, "%s: duplicate extension \"%s\" (first at %zu:%zu)", w->path,
                     lower, keys[j]->start_mark.line + 1, keys[j]->start_mark.column + 1);
            free(lower);
            return false;
        }
    }
    if (!cfgw_is_scalar(vn) || cfgw_is_null(vn) || !valid_media_type(cfgw_sval(vn)) ||
        strlen(cfgw_sval(vn)) != cfgw_slen(vn)) {
        cfgw_err(w, vn, "%s: %s: expected a content type such as image/jpeg "
                 "(type/subtype), got %s", w->path, lower, cfgw_describe(vn, d, sizeof d));
        free(lower);
        return false;
    }
    if (!(types[n].type = strdup(cfgw_sval(vn)))) {
        free(lower);
        w->oom = true;
        return false;
    }
    types[n].ext = lower;
    keys[n] = kn;
    return true;
}

static void h_types(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_uploads *u = &CC(w)->cfg->uploads;
    char d[80];

    (void)kd;
    if (!v || v->type != YAML_MAPPING_NODE) {
        cfgw_err(w, v, "%s: expected a mapping of \".ext: type/subtype\", got %s", w->path,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    size_t total = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (total == 0) {
        cfgw_err(w, v, "%s: must list at least one \".ext: type/subtype\"", w->path);
        return;
    }
    struct cfg_type *types = calloc(total, sizeof *types);
    yaml_node_t **keys = calloc(total, sizeof *keys);
    size_t n = 0;
    if (!types || !keys) {
        free(types);
        free(keys);
        w->oom = true;
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cfgw_node(w, p->key), *vn = cfgw_node(w, p->value);
        w->cur_key = kn;
        if (read_type(w, kn, vn, types, keys, n))
            n++;
        if (w->oom)
            break;
    }
    w->cur_key = k;
    free(keys);
    free_types(u->types, u->n_types);
    u->types = types;
    u->n_types = n;
}

/* ------------------------------------------------------------------ cors */

/* A string or a list of strings, each checked by PARSE; replaces *LIST. */
static void read_str_list(struct cfgw *w, yaml_node_t *v, const char *what,
                          const char *(*parse)(const char *, char **),
                          char ***list_out, size_t *n_out)
{
    char d[80];
    size_t total = 0, n = 0;

    if (!(v && v->type == YAML_SEQUENCE_NODE) && (!cfgw_is_scalar(v) || cfgw_is_null(v))) {
        cfgw_err(w, v, "%s: expected %s or a list of them, got %s", w->path, what,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    yaml_node_t **items = cfgw_items(w, v, &total);
    if (w->oom)
        return;
    if (total > LIST_MAX) {
        cfgw_err(w, v, "%s: more than %d entries", w->path, LIST_MAX);
        free(items);
        return;
    }
    char **list = total ? calloc(total, sizeof *list) : NULL;
    if (total && !list) {
        free(items);
        w->oom = true;
        return;
    }
    for (size_t i = 0; i < total; i++) {
        const char *s, *why;
        char *norm;
        int r = cfgw_str(w, items[i], &s);
        if (r < 0)
            continue;
        if (r == 0 || !*s) {
            cfgw_err(w, items[i], "%s: expected %s, got %s", w->path, what,
                     cfgw_describe(items[i], d, sizeof d));
            continue;
        }
        if ((why = parse(s, &norm))) {
            cfgw_err(w, items[i], "%s: %s: %s", w->path, cfgw_describe(items[i], d, sizeof d),
                     why);
            continue;
        }
        list[n++] = norm;
    }
    free(items);
    for (size_t i = 0; i < *n_out; i++)
        free((*list_out)[i]);
    free(*list_out);
    *list_out = list;
    *n_out = n;
}

static void h_origins(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_cors *c = &CC(w)->cfg->cors;

    (void)kd;
    (void)k;
    read_str_list(w, v, "\"*\" or an origin", url_parse_origin, &c->allow_origins,
                  &c->n_allow_origins);
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

static void h_headers(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_cors *c = &CC(w)->cfg->cors;

    (void)kd;
    (void)k;
    read_str_list(w, v, "a header name", parse_header_name, &c->allow_headers,
                  &c->n_allow_headers);
}

/* ------------------------------------------------------------ the schema */

#define SRV(f) offsetof(struct cfg_server, f)
#define S3(f)  offsetof(struct cfg_s3, f)
#define PRE(f) offsetof(struct cfg_presign, f)
#define UPL(f) offsetof(struct cfg_uploads, f)
#define CRS(f) offsetof(struct cfg_cors, f)

static const struct cfgw_key server_keys[] = {
    { "listen", h_listen, 0, 0, 0, "\"127.0.0.1:8000\"" },
    { "workers", h_workers, 0, 0, 0, "2" },
    { "shutdown_timeout", cfgw_h_int, SRV(shutdown_timeout), 0, 86400, "30" },
    { "user", cfgw_h_opt_str, SRV(user), 0, 0, NULL },
    { "group", cfgw_h_opt_str, SRV(group), 0, 0, NULL },
    { "pid_file", cfgw_h_opt_str, SRV(pid_file), 0, 0, NULL },
    { "log_file", cfgw_h_opt_str, SRV(log_file), 0, 0, NULL },
    { "log_level", h_log_level, 0, 0, 0, "info" },
    { "access_log", cfgw_h_opt_str, SRV(access_log), 0, 0, NULL },
    { "max_header_size", cfgw_h_size, SRV(max_header_size), 256, 1048576, "8192" },
    { "max_body_size", cfgw_h_size, SRV(max_body_size), 1, 16777216, "16384" },
    { "read_timeout", cfgw_h_int, SRV(read_timeout), 1, 3600, "30" },
    { "write_timeout", cfgw_h_int, SRV(write_timeout), 1, 3600, "30" },
    { "keepalive_timeout", cfgw_h_int, SRV(keepalive_timeout), 1, 3600, "60" },
    { "metrics_listen", h_metrics_listen, 0, 0, 0, NULL },
};

static const struct cfgw_key s3_keys[] = {
    { "bucket", h_bucket, 0, 0, 0, NULL },
    { "region", h_region, 0, 0, 0, "us-east-1" },
    { "endpoint", h_endpoint, S3(endpoint), 0, 0, NULL },
    { "public_endpoint", h_endpoint, S3(public_endpoint), 0, 0, NULL },
    { "path_style", cfgw_h_bool, S3(path_style), 0, 0, "false" },
    { "access_key_id", h_cred, S3(access_key_id), 0, 0, NULL },
    { "secret_access_key", h_cred, S3(secret_access_key), 0, 0, NULL },
    { "session_token", h_cred, S3(session_token), 0, 0, NULL },
    { "imds_endpoint", h_endpoint, S3(imds_endpoint), 1, 0, "\"http://169.254.169.254\"" },
    { "connect_timeout_ms", cfgw_h_int, S3(connect_timeout_ms), 1, 600000, "2000" },
    { "request_timeout_ms", cfgw_h_int, S3(request_timeout_ms), 1, 600000, "10000" },
    { "max_attempts", cfgw_h_int, S3(max_attempts), 1, 10, "3" },
    { "health_cache_ms", cfgw_h_int, S3(health_cache_ms), 0, 3600000, "1000" },
};

static const struct cfgw_key presign_keys[] = {
    { "expires", cfgw_h_int, PRE(expires), 1, 604800, "600" },
    { "max_file_size", cfgw_h_i64, PRE(max_file_size), 1, PUT_MAX, "52428800" },
};

static const struct cfgw_key uploads_keys[] = {
    { "prefix", h_prefix, 0, 0, 0, "\"uploads/\"" },
    { "allowed_types", h_types, 0, 0, 0,
      "{.jpg: image/jpeg, .jpeg: image/jpeg, .png: image/png, .gif: image/gif, "
      ".pdf: application/pdf, .txt: text/plain, .csv: text/csv, .json: application/json, "
      ".zip: application/zip, .mp4: video/mp4}" },
    { "max_filename_bytes", h_maxfn, UPL(max_filename_bytes), 1,
      KEYS_MAX_KEY_BYTES - KEY_UUID_BYTES - 1, "200" },
};

static const struct cfgw_key cors_keys[] = {
    { "allow_origins", h_origins, 0, 0, 0, "[\"*\"]" },
    { "allow_headers", h_headers, 0, 0, 0, "[Content-Type, X-Request-Id]" },
    { "max_age", cfgw_h_int, CRS(max_age), 0, 86400, "600" },
};

enum { SEC_SERVER, SEC_S3, SEC_PRESIGN, SEC_UPLOADS, SEC_CORS };

static const struct cfgw_section sections[] = {
    [SEC_SERVER]  = { "server", server_keys, NKEYS(server_keys), offsetof(struct cfg, server) },
    [SEC_S3]      = { "s3", s3_keys, NKEYS(s3_keys), offsetof(struct cfg, s3) },
    [SEC_PRESIGN] = { "presign", presign_keys, NKEYS(presign_keys),
                      offsetof(struct cfg, presign) },
    [SEC_UPLOADS] = { "uploads", uploads_keys, NKEYS(uploads_keys),
                      offsetof(struct cfg, uploads) },
    [SEC_CORS]    = { "cors", cors_keys, NKEYS(cors_keys), offsetof(struct cfg, cors) },
};

/* Rules that tie several keys together, checked once everything is read. */
static void cross_checks(struct cctx *c)
{
    struct cfgw *w = &c->w;
    struct cfg *cfg = c->cfg;
    yaml_node_t *k_s3 = w->sec_key[SEC_S3];

    if (!cfg->s3.bucket && !c->k_bucket && !w->sec_bad[SEC_S3] && !w->root_bad) {
        if (k_s3)
            cfgw_err(w, k_s3, "s3.bucket: required key is missing");
        else
            cfgw_err_at(w, 1, 1, "s3.bucket: required key is missing (there is no s3 section)");
    }
    if (c->cred_bad)
        ;   /* already reported; a pairing complaint would only repeat it */
    else if (cfg->s3.access_key_id && !cfg->s3.secret_access_key && c->k_access)
        cfgw_err(w, c->k_access, "s3.access_key_id is set but s3.secret_access_key is not: "
                 "set both, or neither to use the environment, the shared credentials "
                 "file or the instance role");
    else if (cfg->s3.secret_access_key && !cfg->s3.access_key_id && c->k_secret)
        cfgw_err(w, c->k_secret, "s3.secret_access_key is set but s3.access_key_id is not: "
                 "set both, or neither");
    if (!c->cred_bad && cfg->s3.session_token && !cfg->s3.access_key_id && c->k_token)
        cfgw_err(w, c->k_token, "s3.session_token: only allowed together with "
                 "s3.access_key_id and s3.secret_access_key");
    if (cfg->uploads.prefix && strlen(cfg->uploads.prefix) + KEY_UUID_BYTES +
                                   cfg->uploads.max_filename_bytes > KEYS_MAX_KEY_BYTES) {
        yaml_node_t *at = c->k_maxfn ? c->k_maxfn : c->k_prefix;
        cfgw_err(w, at, "uploads: prefix (%zu bytes) + 37 + max_filename_bytes (%zu) "
                 "exceeds S3's %d-byte key limit", strlen(cfg->uploads.prefix),
                 cfg->uploads.max_filename_bytes, KEYS_MAX_KEY_BYTES);
    }
    if (cfg->server.metrics_listen) {
        for (size_t i = 0; i < cfg->server.n_listen; i++) {
            if (same_address(cfg->server.metrics_listen, &cfg->server.listen[i])) {
                cfgw_err(w, c->k_metrics, "server.metrics_listen: %s is also in server.listen "
                         "(leave metrics_listen out to serve /metrics there)",
                         cfg->server.metrics_listen->text);
                break;
            }
        }
    }
}

/* --------------------------------------------------------------- loading */

struct cfg *cfg_load_string(const char *name, const char *text, size_t len,
                            struct cfg_errors *errs)
{
    struct cctx c;
    struct cfg *cfg = calloc(1, sizeof *cfg);

    memset(&c, 0, sizeof c);
    cfgw_init(&c.w, name, cfg, sections, NKEYS(sections));
    c.cfg = cfg;
    if (!cfg || !(cfg->path = strdup(c.w.name))) {
        c.w.oom = true;
    } else {
        cfgw_apply_defaults(&c.w);
        /* Nodes remembered from the defaults' document are gone with it. */
        c.k_bucket = c.k_access = c.k_secret = c.k_token = NULL;
        c.k_prefix = c.k_maxfn = c.k_metrics = NULL;
        cfgw_walk_text(&c.w, text, len);
        if (c.w.loaded)
            cross_checks(&c);
    }
    bool failed = cfgw_failed(&c.w);
    cfgw_flush(&c.w, errs ? &errs->lines : NULL, errs ? &errs->n : NULL);
    if (failed) {
        cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

struct cfg *cfg_load(const char *path, struct cfg_errors *errs)
{
    struct cfgw w;
    const char *why = NULL;
    char detail[128] = "";

    cfgw_init(&w, path, NULL, NULL, 0);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        cfgw_err_at(&w, 1, 1, "cannot open the configuration file: %s",
                    strerror(path ? errno : EINVAL));
        cfgw_flush(&w, errs ? &errs->lines : NULL, errs ? &errs->n : NULL);
        return NULL;
    }
    char *buf = malloc(CFG_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, CFG_FILE_MAX + 1, f) : 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf) {
        w.oom = true;
    } else if (rerr) {
        why = "cannot read the configuration file";
        snprintf(detail, sizeof detail, "%s", strerror(rerr));
    } else if (len > CFG_FILE_MAX) {
        why = "the configuration file is larger than";
        snprintf(detail, sizeof detail, "%d bytes", CFG_FILE_MAX);
    }
    if (!buf || why) {
        if (why)
            cfgw_err_at(&w, 1, 1, "%s%s %s", why, rerr ? ":" : "", detail);
        free(buf);
        cfgw_flush(&w, errs ? &errs->lines : NULL, errs ? &errs->n : NULL);
        return NULL;
    }
    struct cfg *cfg = cfg_load_string(path, buf, len, errs);
    /* The text may hold secret_access_key. */
    explicit_bzero(buf, len);
    free(buf);
    return cfg;
}

static void wipe_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void cfg_free(struct cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->server.n_listen; i++)
        free_listen(&cfg->server.listen[i]);
    free(cfg->server.listen);
    free(cfg->server.user);
    free(cfg->server.group);
    free(cfg->server.pid_file);
    free(cfg->server.log_file);
    free(cfg->server.access_log);
    if (cfg->server.metrics_listen) {
        free_listen(cfg->server.metrics_listen);
        free(cfg->server.metrics_listen);
    }
    free(cfg->s3.bucket);
    free(cfg->s3.region);
    free(cfg->s3.endpoint);
    free(cfg->s3.public_endpoint);
    /* Credentials are wiped, not just released. */
    wipe_free(cfg->s3.access_key_id);
    wipe_free(cfg->s3.secret_access_key);
    wipe_free(cfg->s3.session_token);
    free(cfg->s3.imds_endpoint);
    free(cfg->uploads.prefix);
    free_types(cfg->uploads.types, cfg->uploads.n_types);
    for (size_t i = 0; i < cfg->cors.n_allow_origins; i++)
        free(cfg->cors.allow_origins[i]);
    free(cfg->cors.allow_origins);
    for (size_t i = 0; i < cfg->cors.n_allow_headers; i++)
        free(cfg->cors.allow_headers[i]);
    free(cfg->cors.allow_headers);
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

/* ---------------------------------------------------------------- lookups */

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
    for (size_t i = 0; i < cfg->uploads.n_types; i++)
        if (!strcasecmp(cfg->uploads.types[i].ext, dot))
            return cfg->uploads.types[i].type;
    return NULL;
}

bool cfg_origin_allowed(const struct cfg *cfg, const char *origin)
{
    if (!cfg || !origin || !*origin)
        return false;
    for (size_t i = 0; i < cfg->cors.n_allow_origins; i++) {
        const char *o = cfg->cors.allow_origins[i];
        if (!strcmp(o, "*") || !strcasecmp(o, origin))
            return true;
    }
    return false;
}

bool cfg_origin_any(const struct cfg *cfg)
{
    for (size_t i = 0; i < cfg->cors.n_allow_origins; i++)
        if (!strcmp(cfg->cors.allow_origins[i], "*"))
            return true;
    return false;
}
