/*
 * cfg_server.c - the server: section of the configuration: listen
 * addresses, workers, logs, HTTP limits (see cfg_schema.h).
 */
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "cfg_schema.h"
#include "tls.h"
#include "str.h"
#include "url.h"

#define WORKERS_MAX 1024

static void h_workers(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_server *s = &cfg_ctx(w)->cfg->server;
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
    for (size_t i = 0; r > 0 && i < CFG_NKEYS(names); i++) {
        if (!strcmp(s, names[i].name)) {
            cfg_ctx(w)->cfg->server.log_level = names[i].level;
            return;
        }
    }
    cfgw_err(w, v, "%s: expected debug, info, warn or error, got %s", w->path,
             cfgw_describe(v, d, sizeof d));
}

void cfg_free_listen(struct cfg_listen *l)
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
        cfg_free_listen(out);
        w->oom = true;
        return false;
    }
    return true;
}

bool cfg_same_address(const struct cfg_listen *a, const struct cfg_listen *b)
{
    return !strcasecmp(a->host, b->host) && !strcmp(a->port, b->port);
}

/* An address or a list of them (V) into *LIST / *N, replacing theirs. */
static void read_listen_list(struct cfgw *w, yaml_node_t *v, struct cfg_listen **out,
                             size_t *out_n)
{
    char d[64];
    size_t total = 0, n = 0;

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
            dup = cfg_same_address(&list[j], &list[n]);
        if (dup) {
            cfgw_err(w, items[i], "%s: %s is listed twice", w->path,
                     cfgw_describe(items[i], d, sizeof d));
            cfg_free_listen(&list[n]);
            continue;
        }
        n++;
    }
    free(items);
    for (size_t i = 0; i < *out_n; i++)
        cfg_free_listen(&(*out)[i]);
    free(*out);
    *out = list;
    *out_n = n;
}

static void h_listen(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_server *s = &cfg_ctx(w)->cfg->server;

    (void)kd;
    (void)k;
    read_listen_list(w, v, &s->listen, &s->n_listen);
}

/* ---- server.tls */

static void h_tls_listen(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                         yaml_node_t *v)
{
    struct cfg_tls *t = cfg_ctx(w)->cfg->server.tls;

    (void)kd;
    (void)k;
    read_listen_list(w, v, &t->listen, &t->n_listen);
}

static void h_tls_path(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                       yaml_node_t *v)
{
    struct cfg_tls *t = cfg_ctx(w)->cfg->server.tls;
    bool cert = strcmp(kd->name, "certificate") == 0;
    const char *p;

    if (cfgw_str(w, v, &p) <= 0 || !*p) {
        char d[64];
        if (!cfgw_failed(w))
            cfgw_err(w, v, "%s: expected the path of a PEM file, got %s", w->path,
                     cfgw_describe(v, d, sizeof d));
        return;
    }
    cfgw_set_str(w, cert ? &t->certificate : &t->key, p);
    if (cert)
        cfg_ctx(w)->k_tls_cert = k;
    else
        cfg_ctx(w)->k_tls_key = k;
}

static void h_tls_version(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                          yaml_node_t *v)
{
    struct cfg_tls *t = cfg_ctx(w)->cfg->server.tls;
    char d[64];

    (void)kd;
    (void)k;
    if (cfgw_is_scalar(v) && strcmp(cfgw_sval(v), "1.2") == 0)
        t->min_version = TLS1_2_VERSION;
    else if (cfgw_is_scalar(v) && strcmp(cfgw_sval(v), "1.3") == 0)
        t->min_version = TLS1_3_VERSION;
    else
        cfgw_err(w, v, "%s: expected \"1.2\" or \"1.3\" (older versions are not offered), "
                 "got %s", w->path, cfgw_describe(v, d, sizeof d));
}

static const struct cfgw_key tls_keys[] = {
    { "listen", h_tls_listen, 0, 0, 0, NULL },
    { "certificate", h_tls_path, 0, 0, 0, NULL },
    { "key", h_tls_path, 0, 0, 0, NULL },
    { "min_version", h_tls_version, 0, 0, 0, NULL },
};

static void h_tls(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_server *s = &cfg_ctx(w)->cfg->server;
    char path[128], d[64];

    (void)kd;
    if (cfgw_is_null(v))
        return;
    if (!v || v->type != YAML_MAPPING_NODE) {
        cfgw_err(w, v, "%s: expected a mapping (listen, certificate, key, min_version), "
                 "got %s", w->path, cfgw_describe(v, d, sizeof d));
        return;
    }
    if (!s->tls && !(s->tls = calloc(1, sizeof *s->tls))) {
        w->oom = true;
        return;
    }
    s->tls->min_version = TLS1_2_VERSION;
    cfg_ctx(w)->k_tls = k;
    snprintf(path, sizeof path, "%s", w->path);
    cfgw_walk_map(w, v, path, tls_keys, CFG_NKEYS(tls_keys), s->tls);
}

void cfg_tls_free(struct cfg_tls *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_listen; i++)
        cfg_free_listen(&t->listen[i]);
    free(t->listen);
    free(t->certificate);
    free(t->key);
    tls_ctx_free(t->ctx);
    free(t);
}

void cfg_tls_checks(struct cfgw *w)
{
    struct cctx *c = cfg_ctx(w);
    struct cfg_server *s = &c->cfg->server;
    struct cfg_tls *t = s->tls;
    char err[400];

    if (!t || cfgw_failed(w))
        return;
    if (!t->n_listen || !t->certificate || !t->key) {
        cfgw_err(w, c->k_tls, "server.tls: %s is required", !t->n_listen ? "listen"
                 : !t->certificate ? "certificate" : "key");
        return;
    }
    for (size_t i = 0; i < t->n_listen; i++) {
        bool clash = s->metrics_listen && cfg_same_address(s->metrics_listen, &t->listen[i]);
        for (size_t j = 0; j < s->n_listen && !clash; j++)
            clash = cfg_same_address(&s->listen[j], &t->listen[i]);
        if (clash) {
            cfgw_err(w, c->k_tls, "server.tls.listen: %s is also a plain HTTP address "
                     "(server.listen or metrics_listen): an address speaks one or the other",
                     t->listen[i].text);
            return;
        }
    }
    /* Loaded now, by whoever loads the file (the master, as root, or
     * presignd -t): a bad or mismatched pair is a configuration error, and
     * a reload with one keeps the workers serving the old one. */
    enum tls_fault fault;
    t->ctx = tls_server_ctx(t->certificate, t->key, t->min_version, &fault, err, sizeof err);
    if (!t->ctx) {
        bool key = fault == TLS_FAULT_KEY;
        yaml_node_t *at = key ? c->k_tls_key : fault == TLS_FAULT_CERTIFICATE ? c->k_tls_cert
                                                                             : c->k_tls;
        cfgw_err(w, at ? at : c->k_tls, "server.tls.%s: %s (%s)", key ? "key" : "certificate",
                 err, key ? t->key : t->certificate);
    }
}

static void h_metrics_listen(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                             yaml_node_t *v)
{
    struct cfg_server *s = &cfg_ctx(w)->cfg->server;

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
        cfg_free_listen(s->metrics_listen);
        free(s->metrics_listen);
    }
    s->metrics_listen = l;
    cfg_ctx(w)->k_metrics = k;
}

#define SRV(f) offsetof(struct cfg_server, f)

const struct cfgw_key cfg_server_keys[] = {
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
    { "header_timeout", cfgw_h_int, SRV(header_timeout), 1, 3600, "10" },
    { "max_connections", cfgw_h_int, SRV(max_connections), 1, 1000000, "4096" },
    { "start_timeout", cfgw_h_int, SRV(start_timeout), 1, 3600, "30" },
    { "allow_core_dumps", cfgw_h_bool, SRV(allow_core_dumps), 0, 0, "false" },
    { "docs", cfgw_h_bool, SRV(docs), 0, 0, "true" },
    { "metrics_listen", h_metrics_listen, 0, 0, 0, NULL },
    { "tls", h_tls, 0, 0, 0, NULL },
};

const size_t cfg_n_server_keys = CFG_NKEYS(cfg_server_keys);
