/*
 * cfg_schema.h - what the schema modules of the configuration share: the
 * loader's context (the walker and the key nodes the rules that tie
 * several keys together report at), the key table of every section, and
 * small checks more than one section uses. Private to config.c and the
 * cfg_*.c files; everyone else reads struct cfg (config.h).
 *
 *   cfg_server.c    server:  listen addresses, workers, logs, limits
 *   cfg_s3.c        s3:      bucket, region, endpoints, credentials
 *   cfg_uploads.c   presign:, uploads: (prefix, types), cors:
 *   cfg_auth.c      auth: (API keys, JWT), rate_limit:, audit:
 */
#ifndef PRESIGND_CFG_SCHEMA_H
#define PRESIGND_CFG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "cfgwalk.h"
#include "config.h"

/* The walker and what the cross-key rules need to point at. */
struct cctx {
    struct cfgw w;              /* first: handlers get &cctx.w */
    struct cfg *cfg;
    bool cred_bad;              /* a credential was unreadable: skip the pairing rules */
    yaml_node_t *k_bucket, *k_access, *k_secret, *k_token;
    yaml_node_t *k_prefix, *k_maxfn, *k_metrics;
    yaml_node_t *k_tls, *k_tls_cert, *k_tls_key;
    yaml_node_t *k_auth_mode, *k_jwt;
    bool api_key_hash_set;      /* the api key entry being read has its sha256 */
};

static inline struct cctx *cfg_ctx(struct cfgw *w)
{
    return (struct cctx *)w;
}

#define CFG_NKEYS(t) (sizeof(t) / sizeof((t)[0]))

extern const struct cfgw_key cfg_server_keys[];
extern const size_t cfg_n_server_keys;
extern const struct cfgw_key cfg_s3_keys[];
extern const size_t cfg_n_s3_keys;
extern const struct cfgw_key cfg_presign_keys[];
extern const size_t cfg_n_presign_keys;
extern const struct cfgw_key cfg_uploads_keys[];
extern const size_t cfg_n_uploads_keys;
extern const struct cfgw_key cfg_cors_keys[];
extern const size_t cfg_n_cors_keys;
extern const struct cfgw_key cfg_auth_keys[];
extern const size_t cfg_n_auth_keys;
extern const struct cfgw_key cfg_rate_limit_keys[];
extern const size_t cfg_n_rate_limit_keys;
extern const struct cfgw_key cfg_audit_keys[];
extern const size_t cfg_n_audit_keys;

/* server.tls (cfg_server.c): the rules that tie its keys together (and
 * make its context), and its freeing. */
void cfg_tls_checks(struct cfgw *w);
void cfg_tls_free(struct cfg_tls *t);

/* The rules of auth: that tie its keys together (cfg_auth.c), and the
 * freeing of the three sections of cfg_auth.c. */
void cfg_auth_checks(struct cfgw *w);
void cfg_auth_free(struct cfg *cfg);

/*
 * A string value V that must be there and must pass CHECK (which returns
 * NULL or the reason); stored in *SLOT. A failure is reported as
 * "PATH: VALUE<SEP><reason>" (SEP ": bucket name " or " ", say). An empty
 * string is missing when EMPTY_IS_NULL, else CHECK's to judge.
 */
void cfg_read_checked(struct cfgw *w, yaml_node_t *v, const char *(*check)(const char *),
                      const char *sep, bool empty_is_null, char **slot);

/* A string or a list of strings, each checked and normalized by PARSE
 * (NULL or a reason; *NORM malloc'd); replaces *LIST. */
void cfg_read_str_list(struct cfgw *w, yaml_node_t *v, const char *what,
                       const char *(*parse)(const char *, char **),
                       char ***list, size_t *n);

bool cfg_same_address(const struct cfg_listen *a, const struct cfg_listen *b);
void cfg_free_listen(struct cfg_listen *l);
void cfg_free_types(struct cfg_type *t, size_t n);

#endif
