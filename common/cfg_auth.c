/*
 * cfg_auth.c - the auth:, rate_limit: and audit: sections of the
 * configuration: who may ask for what (API keys by their SHA-256, or JWTs
 * from an identity provider, each principal with its own key prefix and
 * permissions), how often, and where the decisions are written down (see
 * cfg_schema.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "cfg_schema.h"
#include "str.h"
#include "url.h"

#define NAME_MAX_LEN   64
#define CLAIM_MAX_LEN  64
#define TEMPLATE_MAX   256

/* ------------------------------------------------------------- helpers */

static const struct { const char *name; unsigned bit; } perm_names[] = {
    { "upload", CFG_PERM_UPLOAD }, { "download", CFG_PERM_DOWNLOAD },
    { "list", CFG_PERM_LIST }, { "delete", CFG_PERM_DELETE },
};

const char *cfg_perm_name(unsigned perm)
{
    for (size_t i = 0; i < CFG_NKEYS(perm_names); i++)
        if (perm_names[i].bit == perm)
            return perm_names[i].name;
    return "?";
}

/* A list of words into a bit set: each word must be one of NAMES. */
static void read_word_set(struct cfgw *w, yaml_node_t *v, const char *what,
                          const char *const *names, const unsigned *bits, size_t n_names,
                          unsigned *out)
{
    char d[80];
    size_t n = 0;
    unsigned set = 0;

    if (!v || v->type != YAML_SEQUENCE_NODE) {
        cfgw_err(w, v, "%s: expected a list of %s, got %s", w->path, what,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    yaml_node_t **items = cfgw_items(w, v, &n);
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        int r = cfgw_str(w, items[i], &s);
        size_t k = n_names;
        for (size_t j = 0; r > 0 && j < n_names; j++)
            if (!strcmp(s, names[j]))
                k = j;
        if (r >= 0 && k == n_names) {
            cfgw_err(w, items[i], "%s: %s is not one of %s", w->path,
                     cfgw_describe(items[i], d, sizeof d), what);
            bad = true;
        } else if (r > 0) {
            set |= bits[k];
        }
    }
    free(items);
    if (!bad)
        *out = set;
}

static void h_perms(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    static const char *const names[] = { "upload", "download", "list", "delete" };
    static const unsigned bits[] = { CFG_PERM_UPLOAD, CFG_PERM_DOWNLOAD, CFG_PERM_LIST,
                                     CFG_PERM_DELETE };
    (void)k;
    read_word_set(w, v, "upload, download, list, delete", names, bits, 4,
                  (unsigned *)cfgw_field(w, kd));
}

static void h_algorithms(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                         yaml_node_t *v)
{
    static const char *const names[] = { "RS256", "ES256" };
    static const unsigned bits[] = { CFG_ALG_RS256, CFG_ALG_ES256 };
    unsigned *out = cfgw_field(w, kd);

    (void)k;
    read_word_set(w, v, "RS256, ES256", names, bits, 2, out);
    if (*out == 0)
        cfgw_err(w, v, "%s: at least one algorithm is needed", w->path);
}

/* A key prefix of a principal: "" or segments ending with '/' ("alice/"),
 * with no "." or ".." segment, no backslash, no control character. The
 * trailing '/' is what keeps "alice" from owning "alicebob/". */
static const char *check_principal_prefix(const char *p)
{
    size_t len = strlen(p);

    if (len == 0)
        return NULL;
    if (len > 256)
        return "is longer than 256 bytes";
    if (p[0] == '/')
        return "must not start with '/'";
    if (p[len - 1] != '/')
        return "must end with '/' (so that \"alice\" cannot reach \"alicebob/\")";
    if (strpbrk(p, "\\{}") || str_has_ctl(p, len))
        return "must not contain '\\', '{', '}' or control characters";
    for (const char *seg = p; *seg;) {
        size_t sl = strcspn(seg, "/");
        if (sl == 0)
            return "must not contain an empty segment (\"//\")";
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return "must not contain a \".\" or \"..\" segment";
        seg += sl + 1;
    }
    return NULL;
}

static void h_principal_prefix(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                               yaml_node_t *v)
{
    (void)k;
    cfg_read_checked(w, v, check_principal_prefix, " ", false, (char **)cfgw_field(w, kd));
}

static bool simple_name(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!str_is_alnum(s[i]) && s[i] != '_')
            return false;
    return true;
}

/* "users/{sub}/": literal parts as a principal prefix, each {claim} a
 * simple claim name. The claim values are checked when a token arrives
 * (keys.h), never spliced in unchecked. */
static const char *check_template(const char *t)
{
    char flat[TEMPLATE_MAX + 1];
    size_t o = 0;

    if (strlen(t) > TEMPLATE_MAX)
        return "is longer than 256 bytes";
    for (const char *p = t; *p; p++) {
        if (*p == '}')
            return "has a '}' without its '{'";
        if (*p != '{') {
            flat[o++] = *p;
            continue;
        }
        const char *close = strchr(p, '}');
        if (!close)
            return "has a '{' without its '}'";
        if (!simple_name(p + 1, (size_t)(close - p - 1), CLAIM_MAX_LEN))
            return "has a {claim} that is not a simple name (letters, digits, '_')";
        flat[o++] = 'x';    /* a claim value stands for one non-empty piece */
        p = close;
    }
    flat[o] = '\0';
    return check_principal_prefix(flat);
}

static void h_template(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                       yaml_node_t *v)
{
    (void)k;
    cfg_read_checked(w, v, check_template, " ", false, (char **)cfgw_field(w, kd));
}

static const char *check_claim(const char *s)
{
    return simple_name(s, strlen(s), CLAIM_MAX_LEN) ? NULL
           : "is not a simple claim name (letters, digits, '_')";
}

static void h_claim(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    (void)k;
    cfg_read_checked(w, v, check_claim, " ", true, (char **)cfgw_field(w, kd));
}

/* An https:// URL, or http:// to this very machine (a local IdP in tests,
 * a sidecar): the keys that decide who gets in must not come over a
 * network in the clear. */
static const char *check_jwks_url(const char *s)
{
    struct url u;
    const char *why = url_parse(s, true, &u);

    if (why)
        return why;
    if (strcmp(u.scheme, "https") != 0 && !url_is_loopback(&u))
        why = "must be https:// (http:// only to a loopback address)";
    url_free(&u);
    return why;
}

static void h_jwks_url(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                       yaml_node_t *v)
{
    (void)k;
    cfg_read_checked(w, v, check_jwks_url, ": ", true, (char **)cfgw_field(w, kd));
}

static const char *check_nonempty(const char *s)
{
    (void)s;
    return NULL;
}

static void h_nonempty(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                       yaml_node_t *v)
{
    (void)k;
    cfg_read_checked(w, v, check_nonempty, ": ", true, (char **)cfgw_field(w, kd));
}

/* --------------------------------------------------------------- auth: */

static void h_mode(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    static const struct { const char *name; enum cfg_auth_mode mode; } modes[] = {
        { "none", CFG_AUTH_NONE }, { "api_key", CFG_AUTH_API_KEY }, { "jwt", CFG_AUTH_JWT },
    };
    char d[64];
    const char *s;

    (void)kd;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    for (size_t i = 0; r > 0 && i < CFG_NKEYS(modes); i++) {
        if (!strcmp(s, modes[i].name)) {
            cfg_ctx(w)->cfg->auth.mode = modes[i].mode;
            cfg_ctx(w)->k_auth_mode = k;
            return;
        }
    }
    cfgw_err(w, v, "%s: expected none, api_key or jwt, got %s", w->path,
             cfgw_describe(v, d, sizeof d));
}

static const char *check_principal_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > NAME_MAX_LEN)
        return "must be 1 to 64 characters long";
    for (size_t i = 0; i < len; i++)
        if (!str_is_alnum(s[i]) && !strchr("._@-", s[i]))
            return "may only hold letters, digits, '.', '_', '@' and '-'";
    return NULL;
}

static void h_name(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    (void)k;
    cfg_read_checked(w, v, check_principal_name, ": ", true, (char **)cfgw_field(w, kd));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The SHA-256 of a key, as 64 hex digits ("sha256sum" prints them). */
static void h_sha256(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    unsigned char *out = cfgw_field(w, kd);
    const char *s;

    (void)k;
    int r = cfgw_str(w, v, &s);
    if (r < 0)
        return;
    bool ok = r > 0 && strlen(s) == 64;
    for (size_t i = 0; ok && i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            out[i] = (unsigned char)(hi << 4 | lo);
    }
    /* The value is the hash, not a secret; still, say nothing of it. */
    if (!ok)
        cfgw_err(w, v, "%s: expected the SHA-256 of the key as 64 hex digits "
                 "(printf %%s KEY | sha256sum)", w->path);
    else
        cfg_ctx(w)->api_key_hash_set = true;
}

#define AK(f) offsetof(struct cfg_api_key, f)

static const struct cfgw_key api_key_keys[] = {
    { "name", h_name, AK(name), 0, 0, NULL },
    { "sha256", h_sha256, AK(sha256), 0, 0, NULL },
    { "prefix", h_principal_prefix, AK(prefix), 0, 0, NULL },
    { "permissions", h_perms, AK(perms), 0, 0, NULL },
};

static void clear_api_key(struct cfg_api_key *k)
{
    free(k->name);
    free(k->prefix);
    OPENSSL_cleanse(k, sizeof *k);
}

static void free_api_keys(struct cfg_api_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        clear_api_key(&keys[i]);
    free(keys);
}

static void h_api_keys(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                       yaml_node_t *v)
{
    struct cfg_auth *a = &cfg_ctx(w)->cfg->auth;
    char d[80], path[sizeof w->path + 24], base_path[sizeof w->path];
    size_t n = 0, good = 0;

    (void)kd;
    (void)k;
    if (!v || v->type != YAML_SEQUENCE_NODE) {
        cfgw_err(w, v, "%s: expected a list of {name, sha256, prefix, permissions}, got %s",
                 w->path, cfgw_describe(v, d, sizeof d));
        return;
    }
    yaml_node_t **items = cfgw_items(w, v, &n);
    struct cfg_api_key *keys = n ? calloc(n, sizeof *keys) : NULL;
    if (n && !keys) {
        free(items);
        w->oom = true;
        return;
    }
    snprintf(base_path, sizeof base_path, "%s", w->path);
    for (size_t i = 0; i < n; i++) {
        struct cfg_api_key *key = &keys[good];
        size_t errs_before = w->n_errs;
        snprintf(path, sizeof path, "%s[%zu]", base_path, i);
        if (!items[i] || items[i]->type != YAML_MAPPING_NODE) {
            cfgw_err(w, items[i], "%s: expected {name, sha256, prefix, permissions}, got %s",
                     path, cfgw_describe(items[i], d, sizeof d));
            continue;
        }
        cfg_ctx(w)->api_key_hash_set = false;
        key->perms = ~0u;   /* "not given" */
        cfgw_walk_map(w, items[i], path, api_key_keys, CFG_NKEYS(api_key_keys), key);
        const char *missing = !key->name ? "name" : !cfg_ctx(w)->api_key_hash_set ? "sha256"
                              : key->perms == ~0u ? "permissions" : NULL;
        if (missing && w->n_errs == errs_before)
            cfgw_err(w, items[i], "%s.%s: required key is missing", path, missing);
        for (size_t j = 0; !missing && j < good; j++) {
            if (!strcmp(keys[j].name, key->name)) {
                cfgw_err(w, items[i], "%s: the name %s is used twice", path, key->name);
                missing = "";
            } else if (!CRYPTO_memcmp(keys[j].sha256, key->sha256, 32)) {
                cfgw_err(w, items[i], "%s: the same key (sha256) as %s", path, keys[j].name);
                missing = "";
            }
        }
        if (missing || w->n_errs != errs_before) {
            clear_api_key(key);
            continue;
        }
        if (!key->prefix && !(key->prefix = strdup("")))
            w->oom = true;
        good++;
    }
    free(items);
    free_api_keys(a->api_keys, a->n_api_keys);
    a->api_keys = keys;
    a->n_api_keys = good;
}

#define JWT(f) offsetof(struct cfg_jwt, f)

static const struct cfgw_key jwt_keys[] = {
    { "jwks_url", h_jwks_url, JWT(jwks_url), 0, 0, NULL },
    { "issuer", h_nonempty, JWT(issuer), 0, 0, NULL },
    { "audience", h_nonempty, JWT(audience), 0, 0, NULL },
    { "algorithms", h_algorithms, JWT(algorithms), 0, 0, NULL },
    { "leeway", cfgw_h_int, JWT(leeway), 0, 3600, NULL },
    { "prefix", h_template, JWT(prefix), 0, 0, NULL },
    { "permissions_claim", h_claim, JWT(permissions_claim), 0, 0, NULL },
};

static void h_jwt(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    char path[sizeof w->path];

    (void)kd;
    cfg_ctx(w)->k_jwt = k;
    snprintf(path, sizeof path, "%s", w->path);
    cfgw_walk_map(w, v, path, jwt_keys, CFG_NKEYS(jwt_keys), &cfg_ctx(w)->cfg->auth.jwt);
}

const struct cfgw_key cfg_auth_keys[] = {
    { "mode", h_mode, 0, 0, 0, "none" },
    { "api_keys", h_api_keys, 0, 0, 0, NULL },
    { "jwt", h_jwt, 0, 0, 0,
      "{algorithms: [RS256, ES256], leeway: 60, prefix: \"\", permissions_claim: scope}" },
};

const size_t cfg_n_auth_keys = CFG_NKEYS(cfg_auth_keys);

/* --------------------------------------------------------- rate_limit: */

/* A plain non-negative decimal: "10", "0.5". */
static void h_rate(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    char d[64];
    double *out = cfgw_field(w, kd);

    (void)k;
    if (cfgw_is_scalar(v) && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        const char *s = cfgw_sval(v);
        size_t ip = strspn(s, "0123456789"), fp = 0;
        if (s[ip] == '.')
            fp = strspn(s + ip + 1, "0123456789");
        bool ok = ip > 0 && ip <= 7 && (s[ip] == '\0' || (s[ip] == '.' && fp > 0 &&
                                                           s[ip + 1 + fp] == '\0'));
        if (ok) {
            *out = strtod(s, NULL);
            return;
        }
    }
    cfgw_err(w, v, "%s: expected a number of requests per second such as 10 or 0.5 "
             "(0: off), got %s", w->path, cfgw_describe(v, d, sizeof d));
}

/* "10.0.0.0/8", "2001:db8::/32", or a single address. */
static const char *parse_cidr(const char *s, struct cfg_cidr *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);

    if (hl == 0 || hl >= sizeof host)
        return "expected an address or ADDRESS/BITS";
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    } else {
        return "not an IPv4 or IPv6 address";
    }
    if (slash) {
        int max = out->bits;
        if (!str_is_digits(slash + 1, strlen(slash + 1)) || strlen(slash + 1) > 3)
            return "the prefix length must be a number";
        out->bits = atoi(slash + 1);
        if (out->bits > max)
            return "the prefix length is too long for the address";
    }
    return NULL;
}

/* cfg_read_str_list normalizes into strings; the networks are parsed again
 * into their binary form below. */
static const char *parse_cidr_str(const char *s, char **norm)
{
    struct cfg_cidr c;
    const char *why = parse_cidr(s, &c);

    *norm = why ? NULL : strdup(s);
    return why ? why : *norm ? NULL : "out of memory";
}

static void h_trusted(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                      yaml_node_t *v)
{
    struct cfg_rate_limit *rl = &cfg_ctx(w)->cfg->rate_limit;
    char **list = NULL;
    size_t n = 0;

    (void)kd;
    (void)k;
    cfg_read_str_list(w, v, "an address or network", parse_cidr_str, &list, &n);
    struct cfg_cidr *nets = n ? calloc(n, sizeof *nets) : NULL;
    if (n && !nets)
        w->oom = true;
    for (size_t i = 0; i < n; i++) {
        if (nets)
            parse_cidr(list[i], &nets[i]);
        free(list[i]);
    }
    free(list);
    if (n && !nets)
        return;
    free(rl->trusted_proxies);
    rl->trusted_proxies = nets;
    rl->n_trusted_proxies = n;
}

#define RL(f) offsetof(struct cfg_rate_limit, f)

const struct cfgw_key cfg_rate_limit_keys[] = {
    { "requests_per_second", h_rate, RL(requests_per_second), 0, 0, "0" },
    { "burst", cfgw_h_int, RL(burst), 1, 1000000, "20" },
    { "trusted_proxies", h_trusted, 0, 0, 0, "[]" },
    { "entries", cfgw_h_int, RL(entries), 16, 10000000, "10000" },
};

const size_t cfg_n_rate_limit_keys = CFG_NKEYS(cfg_rate_limit_keys);

/* -------------------------------------------------------------- audit: */

const struct cfgw_key cfg_audit_keys[] = {
    { "log_file", cfgw_h_opt_str, offsetof(struct cfg_audit, log_file), 0, 0, NULL },
};

const size_t cfg_n_audit_keys = CFG_NKEYS(cfg_audit_keys);

/* ------------------------------------------------------------- checks */

void cfg_auth_checks(struct cfgw *w)
{
    struct cctx *c = cfg_ctx(w);
    struct cfg_auth *a = &c->cfg->auth;
    yaml_node_t *at = c->k_auth_mode;

    if (a->mode == CFG_AUTH_API_KEY && a->n_api_keys == 0 && at)
        cfgw_err(w, at, "auth.mode: api_key needs at least one entry in auth.api_keys");
    if (a->mode == CFG_AUTH_JWT && at) {
        const char *missing = !a->jwt.jwks_url ? "jwks_url" : !a->jwt.issuer ? "issuer"
                              : !a->jwt.audience ? "audience" : NULL;
        if (missing)
            cfgw_err(w, c->k_jwt ? c->k_jwt : at, "auth.jwt.%s: required when auth.mode is jwt",
                     missing);
    }
}

void cfg_auth_free(struct cfg *cfg)
{
    free_api_keys(cfg->auth.api_keys, cfg->auth.n_api_keys);
    free(cfg->auth.jwt.jwks_url);
    free(cfg->auth.jwt.issuer);
    free(cfg->auth.jwt.audience);
    free(cfg->auth.jwt.prefix);
    free(cfg->auth.jwt.permissions_claim);
    free(cfg->rate_limit.trusted_proxies);
    free(cfg->audit.log_file);
}

/* --------------------------------------------------------------- lookups */

bool cfg_trusted_proxy(const struct cfg *cfg, const char *addr)
{
    unsigned char a[16];
    int family;

    if (inet_pton(AF_INET, addr, a) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, addr, a) == 1)
        family = AF_INET6;
    else
        return false;
    for (size_t i = 0; i < cfg->rate_limit.n_trusted_proxies; i++) {
        const struct cfg_cidr *n = &cfg->rate_limit.trusted_proxies[i];
        if (n->family != family)
            continue;
        int full = n->bits / 8, rest = n->bits % 8;
        if (memcmp(a, n->addr, (size_t)full) != 0)
            continue;
        if (rest && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))) != 0)
            continue;
        return true;
    }
    return false;
}
