/*
 * cfg_s3.c - the s3: section of the configuration: bucket, region,
 * endpoints, credentials and the S3 client's timeouts (see cfg_schema.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_schema.h"
#include "str.h"
#include "url.h"

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
    if (!str_is_alnum(b[0]) || !str_is_alnum(b[len - 1]))
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
    (void)kd;
    cfg_ctx(w)->k_bucket = k;
    cfg_read_checked(w, v, check_bucket, ": bucket name ", true, &cfg_ctx(w)->cfg->s3.bucket);
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
    cfgw_set_str(w, &cfg_ctx(w)->cfg->s3.region, s);
}

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

static void h_cred(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cctx *c = cfg_ctx(w);
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

#define S3(f) offsetof(struct cfg_s3, f)

const struct cfgw_key cfg_s3_keys[] = {
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
    { "call_timeout_ms", cfgw_h_int, S3(call_timeout_ms), 1, 3600000, "5000" },
    { "max_attempts", cfgw_h_int, S3(max_attempts), 1, 10, "3" },
    { "health_cache_ms", cfgw_h_int, S3(health_cache_ms), 0, 3600000, "1000" },
};

const size_t cfg_n_s3_keys = CFG_NKEYS(cfg_s3_keys);
