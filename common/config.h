/*
 * config.h - presignd's YAML configuration: the validated, immutable struct
 * every other module reads, and the loader that builds it.
 *
 * A struct cfg is built once by cfg_load() and never changed afterwards; a
 * reload builds a new one and the old one is freed when nobody uses it.
 * Errors are collected, all of them, as "FILE:LINE:COL: message" lines.
 * Every key's default lives in the schema table of config.c, nowhere else:
 * the modules that read a struct cfg take its values as they are.
 */
#ifndef PRESIGND_CONFIG_H
#define PRESIGND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* One parsed listen address ("HOST:PORT" or "[V6]:PORT"). */
struct cfg_listen {
    char *text;     /* as written, e.g. "127.0.0.1:8000" or "[::1]:8000" */
    char *host;     /* "127.0.0.1", "::1", "0.0.0.0", "::", "localhost" */
    char *port;     /* "8000" */
};

/* One entry of uploads.allowed_types; ext is stored lower-case, with dot. */
struct cfg_type {
    char *ext;      /* ".jpg" */
    char *type;     /* the canonical type, "image/jpeg" (aliases[0]) */
    char **aliases; /* every type accepted for it, the canonical one first */
    size_t n_aliases;
};

struct ssl_ctx_st;

/* server.tls: HTTPS on addresses of its own (tls.h). */
struct cfg_tls {
    struct cfg_listen *listen;      /* at least one when the section is there */
    size_t n_listen;
    char *certificate;              /* PEM chain, leaf first */
    char *key;                      /* PEM */
    int min_version;                /* TLS1_2_VERSION or TLS1_3_VERSION */
    struct ssl_ctx_st *ctx;         /* made and checked when the file is loaded */
};

struct cfg_server {
    struct cfg_listen *listen;      /* at least one */
    size_t n_listen;
    int workers;                    /* resolved: "auto" -> online CPUs */
    bool workers_auto;
    int shutdown_timeout;           /* seconds */
    char *user;                     /* NULL: keep the user we run as */
    char *group;                    /* NULL: user's primary group */
    char *pid_file;                 /* NULL: none */
    char *log_file;                 /* NULL: stderr */
    enum log_level log_level;
    char *access_log;               /* NULL: same stream as the log; "off" disables */
    size_t max_header_size;         /* bytes */
    size_t max_body_size;           /* bytes of a JSON request body */
    int read_timeout;               /* seconds */
    int write_timeout;
    int keepalive_timeout;          /* seconds idle before a kept-alive conn closes */
    int header_timeout;             /* seconds a request's line and headers may take */
    int max_connections;            /* client connections per worker */
    int start_timeout;              /* seconds new workers have to serve */
    bool allow_core_dumps;          /* else not dumpable, RLIMIT_CORE 0 */
    bool docs;                      /* /openapi.json, /docs, /redoc and their files */
    struct cfg_listen *metrics_listen; /* NULL: /metrics on the main listeners */
    struct cfg_tls *tls;            /* NULL: no HTTPS */
};

struct cfg_s3 {
    char *bucket;
    char *region;
    char *endpoint;                 /* NULL: AWS regional endpoint; else scheme://authority */
    char *public_endpoint;          /* NULL: same as endpoint; host used in presigned URLs */
    bool path_style;
    char *access_key_id;            /* NULL when empty in the file */
    char *secret_access_key;
    char *session_token;
    char *imds_endpoint;            /* scheme://authority */
    int connect_timeout_ms;
    int request_timeout_ms;         /* one attempt */
    int call_timeout_ms;            /* a whole call, every attempt and back-off */
    int max_attempts;
    int health_cache_ms;
};

struct cfg_presign {
    int expires;                    /* seconds a URL lives */
    int64_t max_file_size;          /* bytes */
};

struct cfg_uploads {
    char *prefix;                   /* never empty, never starts with '/' */
    struct cfg_type *types;         /* allowed_types, in file order */
    size_t n_types;
    size_t max_filename_bytes;
    bool require_size;              /* /upload-url without size: 400 size_required */
    bool overwrite;                 /* false: upload URLs sign If-None-Match: * */
    int64_t max_multipart_size;     /* 0: presign.max_file_size (cfg_multipart_limit) */
};

struct cfg_cors {
    char **allow_origins;           /* "*" or normalized origins */
    size_t n_allow_origins;
    char **allow_headers;
    size_t n_allow_headers;
    int max_age;                    /* Access-Control-Max-Age seconds */
};

/* What a principal may do (auth.api_keys[].permissions, a JWT's claim). */
#define CFG_PERM_UPLOAD    1u
#define CFG_PERM_DOWNLOAD  2u
#define CFG_PERM_LIST      4u
#define CFG_PERM_DELETE    8u
#define CFG_PERM_ALL       15u

enum cfg_auth_mode { CFG_AUTH_NONE, CFG_AUTH_API_KEY, CFG_AUTH_JWT };

/* JWT signature algorithms presignd verifies (auth.jwt.algorithms). */
#define CFG_ALG_RS256 1u
#define CFG_ALG_ES256 2u

struct cfg_api_key {
    char *name;                     /* the principal */
    unsigned char sha256[32];       /* of the key; the key itself is never stored */
    char *prefix;                   /* appended to uploads.prefix; "" = all of it */
    unsigned perms;                 /* CFG_PERM_* */
};

struct cfg_jwt {
    char *jwks_url;
    char *issuer;
    char *audience;
    unsigned algorithms;            /* CFG_ALG_* */
    int leeway;                     /* seconds of clock skew on exp/nbf/iat */
    char *prefix;                   /* template: "users/{sub}/" */
    char *permissions_claim;        /* "scope" */
};

struct cfg_auth {
    enum cfg_auth_mode mode;
    struct cfg_api_key *api_keys;
    size_t n_api_keys;
    struct cfg_jwt jwt;
};

/* An IPv4 or IPv6 network (rate_limit.trusted_proxies). */
struct cfg_cidr {
    int family;                     /* AF_INET, AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct cfg_rate_limit {
    double requests_per_second;     /* 0: off */
    int burst;
    struct cfg_cidr *trusted_proxies;
    size_t n_trusted_proxies;
    int entries;                    /* principals or addresses tracked at once */
};

struct cfg_audit {
    char *log_file;                 /* NULL: no audit log */
};

struct cfg {
    char *path;                     /* the file it was read from */
    struct cfg_server server;
    struct cfg_s3 s3;
    struct cfg_presign presign;
    struct cfg_uploads uploads;
    struct cfg_cors cors;
    struct cfg_auth auth;
    struct cfg_rate_limit rate_limit;
    struct cfg_audit audit;
};

/* All problems found by one cfg_load(), each a full "FILE:LINE:COL: message". */
struct cfg_errors {
    char **lines;
    size_t n;
};

/*
 * Read and validate PATH. Returns a new config, or NULL with at least one
 * line in ERRS (which the caller frees with cfg_errors_free). Never exits.
 */
struct cfg *cfg_load(const char *path, struct cfg_errors *errs);

/* Same, from a string already in memory (NAME is used in error lines). */
struct cfg *cfg_load_string(const char *name, const char *text, size_t len,
                            struct cfg_errors *errs);

void cfg_free(struct cfg *cfg);
void cfg_errors_free(struct cfg_errors *errs);

/* Content type for a file name's extension (case-insensitive), or NULL. */
const char *cfg_type_for_filename(const struct cfg *cfg, const char *filename);

/* The largest total a multipart upload may reach. */
int64_t cfg_multipart_limit(const struct cfg *cfg);

/* The allowed_types entry for a file name's extension, or NULL. */
const struct cfg_type *cfg_type_lookup(const struct cfg *cfg, const char *filename);

/* True when ORIGIN is allowed by cors.allow_origins ("*" allows all). */
bool cfg_origin_allowed(const struct cfg *cfg, const char *origin);

/* True when cors.allow_origins holds "*". */
bool cfg_origin_any(const struct cfg *cfg);

/* True when ADDR (a numeric IPv4 or IPv6 address) is in a network of
 * rate_limit.trusted_proxies. */
bool cfg_trusted_proxy(const struct cfg *cfg, const char *addr);

/* "upload", "download", "list", "delete" for one CFG_PERM_* bit. */
const char *cfg_perm_name(unsigned perm);

#endif
