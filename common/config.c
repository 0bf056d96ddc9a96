/*
 * config.c - presignd's configuration (see config.h): the list of sections
 * and their schema modules (cfg_schema.h), the rules that tie several keys
 * together, loading and freeing, and the lookups the other modules use.
 * Reading YAML, walking it and collecting errors is cfgwalk.c's job.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_schema.h"
#include "cfgwalk.h"
#include "keys.h"
#include "str.h"

#define CFG_FILE_MAX   (1024 * 1024) /* a config file bigger than this is a mistake */
#define KEY_UUID_BYTES 37            /* uuid4 + "-" between prefix and file name */

/* ---------------------------------------------------- shared by sections */

void cfg_read_checked(struct cfgw *w, yaml_node_t *v, const char *(*check)(const char *),
                      const char *sep, bool empty_is_null, char **slot)
{
    char d[80];
    const char *s, *why;
    int r = cfgw_str(w, v, &s);

    if (r < 0)
        return;
    if (r == 0 || (!*s && empty_is_null)) {
        cfgw_err(w, v, "%s: must not be empty", w->path);
        return;
    }
    if ((why = check(s))) {
        cfgw_err(w, v, "%s: %s%s%s", w->path, cfgw_describe(v, d, sizeof d), sep, why);
        return;
    }
    cfgw_set_str(w, slot, s);
}

/* ------------------------------------------------------------ the schema */

enum { SEC_SERVER, SEC_S3, SEC_PRESIGN, SEC_UPLOADS, SEC_CORS, SEC_AUTH, SEC_RATE_LIMIT,
       SEC_AUDIT };

/* Filled in by cfg_load_string: the tables' sizes are not constants here. */
static struct cfgw_section sections[] = {
    [SEC_SERVER]  = { "server", cfg_server_keys, 0, offsetof(struct cfg, server) },
    [SEC_S3]      = { "s3", cfg_s3_keys, 0, offsetof(struct cfg, s3) },
    [SEC_PRESIGN] = { "presign", cfg_presign_keys, 0, offsetof(struct cfg, presign) },
    [SEC_UPLOADS] = { "uploads", cfg_uploads_keys, 0, offsetof(struct cfg, uploads) },
    [SEC_CORS]    = { "cors", cfg_cors_keys, 0, offsetof(struct cfg, cors) },
    [SEC_AUTH]    = { "auth", cfg_auth_keys, 0, offsetof(struct cfg, auth) },
    [SEC_RATE_LIMIT] = { "rate_limit", cfg_rate_limit_keys, 0,
                         offsetof(struct cfg, rate_limit) },
    [SEC_AUDIT]   = { "audit", cfg_audit_keys, 0, offsetof(struct cfg, audit) },
};

static void size_sections(void)
{
    sections[SEC_SERVER].n = cfg_n_server_keys;
    sections[SEC_S3].n = cfg_n_s3_keys;
    sections[SEC_PRESIGN].n = cfg_n_presign_keys;
    sections[SEC_UPLOADS].n = cfg_n_uploads_keys;
    sections[SEC_CORS].n = cfg_n_cors_keys;
    sections[SEC_AUTH].n = cfg_n_auth_keys;
    sections[SEC_RATE_LIMIT].n = cfg_n_rate_limit_keys;
    sections[SEC_AUDIT].n = cfg_n_audit_keys;
}

/* Rules that tie several keys together, checked once everything is read. */
static void cross_checks(struct cfgw *w)
{
    struct cctx *c = cfg_ctx(w);
    struct cfg *cfg = c->cfg;
    yaml_node_t *k_s3 = w->sec_key[SEC_S3];

    cfg_auth_checks(w);

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
    cfg_tls_checks(w);
    if (cfg->server.metrics_listen) {
        for (size_t i = 0; i < cfg->server.n_listen; i++) {
            if (cfg_same_address(cfg->server.metrics_listen, &cfg->server.listen[i])) {
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
    size_sections();
    cfgw_init(&c.w, name, cfg, sections, CFG_NKEYS(sections));
    c.cfg = cfg;
    if (!cfg || !(cfg->path = strdup(c.w.name))) {
        c.w.oom = true;
    } else {
        cfgw_apply_defaults(&c.w);
        /* Nodes remembered from the defaults' document are gone with it. */
        c.k_bucket = c.k_access = c.k_secret = c.k_token = NULL;
        c.k_prefix = c.k_maxfn = c.k_metrics = NULL;
        c.k_tls = c.k_tls_cert = c.k_tls_key = NULL;
        c.k_auth_mode = c.k_jwt = NULL;
        cfgw_walk_text(&c.w, text, len, cross_checks);
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

void cfg_free(struct cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->server.n_listen; i++)
        cfg_free_listen(&cfg->server.listen[i]);
    free(cfg->server.listen);
    free(cfg->server.user);
    free(cfg->server.group);
    free(cfg->server.pid_file);
    free(cfg->server.log_file);
    free(cfg->server.access_log);
    cfg_tls_free(cfg->server.tls);
    if (cfg->server.metrics_listen) {
        cfg_free_listen(cfg->server.metrics_listen);
        free(cfg->server.metrics_listen);
    }
    free(cfg->s3.bucket);
    free(cfg->s3.region);
    free(cfg->s3.endpoint);
    free(cfg->s3.public_endpoint);
    /* Credentials are wiped, not just released. */
    str_free_secret(cfg->s3.access_key_id);
    str_free_secret(cfg->s3.secret_access_key);
    str_free_secret(cfg->s3.session_token);
    free(cfg->s3.imds_endpoint);
    free(cfg->uploads.prefix);
    cfg_free_types(cfg->uploads.types, cfg->uploads.n_types);
    for (size_t i = 0; i < cfg->cors.n_allow_origins; i++)
        free(cfg->cors.allow_origins[i]);
    free(cfg->cors.allow_origins);
    for (size_t i = 0; i < cfg->cors.n_allow_headers; i++)
        free(cfg->cors.allow_headers[i]);
    free(cfg->cors.allow_headers);
    cfg_auth_free(cfg);
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

int64_t cfg_multipart_limit(const struct cfg *cfg)
{
    return cfg->uploads.max_multipart_size ? cfg->uploads.max_multipart_size
                                           : cfg->presign.max_file_size;
}

const char *cfg_type_for_filename(const struct cfg *cfg, const char *filename)
{
    const struct cfg_type *t = cfg_type_lookup(cfg, filename);

    return t ? t->type : NULL;
}

const struct cfg_type *cfg_type_lookup(const struct cfg *cfg, const char *filename)
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
            return &cfg->uploads.types[i];
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
