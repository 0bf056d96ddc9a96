/*
 * auth.c - the principal of a request (see auth.h).
 */
#include "auth.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "digest.h"
#include "errbuf.h"
#include "httpc.h"
#include "jwt.h"
#include "keys.h"
#include "log.h"
#include "req.h"

#define JWKS_MAX_BODY        (512 * 1024)
#define JWKS_TIMEOUT_MS      5000
#define JWKS_MIN_AGE         60.0       /* seconds a JWKS is kept at least... */
#define JWKS_MAX_AGE         86400.0    /* ...and at most */
#define JWKS_DEFAULT_AGE     300.0      /* without a Cache-Control max-age */
#define KID_REFETCH_INTERVAL 30.0       /* an unknown kid fetches again at most this often */
#define RETRY_MIN            1.0
#define RETRY_MAX            60.0

struct auth {
    struct event_base *base;
    struct httpc *http;
    const struct cfg *cfg;
    void (*resume)(struct req *r);

    /* jwt */
    struct jwks *keys;              /* NULL: never loaded */
    double keys_expire;             /* monotonic: refetch from then on */
    double last_kid_fetch;          /* monotonic; 0: never */
    struct httpc_call *call;        /* the fetch under way, or NULL */
    struct req_list waiters;        /* requests waiting for it */
    int failures;                   /* consecutive failed fetches */
    char last_error[200];
    struct event timer;             /* the next fetch (expiry, or back-off) */
};

/* ---------------------------------------------------------------- JWKS */

static void fetch(struct auth *a, const char *why);
static enum auth_result decide(struct auth *a, struct req *r);

static bool prepare_fetch(struct httpc_call *call, void *arg, char *err, size_t errlen)
{
    struct auth *a = arg;

    (void)err;
    (void)errlen;
    httpc_set_url(call, a->cfg->auth.jwt.jwks_url);
    httpc_add_header(call, "Accept", "application/json");
    return true;
}

/* Seconds from a Cache-Control header's max-age, bounded; the default
 * without one. */
static double max_age(const char *cc)
{
    const char *p = cc ? strcasestr(cc, "max-age=") : NULL;
    double age = JWKS_DEFAULT_AGE;

    if (p && isdigit((unsigned char)p[8]))
        age = strtod(p + 8, NULL);
    return age < JWKS_MIN_AGE ? JWKS_MIN_AGE : age > JWKS_MAX_AGE ? JWKS_MAX_AGE : age;
}

static void schedule(struct auth *a, double seconds)
{
    struct timeval tv = clock_tv(seconds);

    evtimer_del(&a->timer);
    evtimer_add(&a->timer, &tv);
}

static void fetch_done(const struct httpc_response *res, void *arg)
{
    struct auth *a = arg;
    char err[200] = "";
    struct jwks *ks = NULL;

    a->call = NULL;
    if (res->status == 200 && !res->body_too_large)
        ks = jwks_parse(res->body, res->body_len, err, sizeof err);
    else if (res->status)
        snprintf(err, sizeof err, "HTTP %ld", res->status);
    else
        snprintf(err, sizeof err, "%s", res->error ? res->error : "no answer");
    if (ks) {
        double age = max_age(res->cache_control);
        jwks_free(a->keys);
        a->keys = ks;
        a->keys_expire = clock_mono() + age;
        a->failures = 0;
        log_info("JWKS from %s: %zu key%s, kept for %.0f s", a->cfg->auth.jwt.jwks_url,
                 jwks_count(ks), jwks_count(ks) == 1 ? "" : "s", age);
        schedule(a, age);
    } else {
        double delay = RETRY_MIN * pow(2.0, a->failures++);
        if (delay > RETRY_MAX)
            delay = RETRY_MAX;
        snprintf(a->last_error, sizeof a->last_error, "%s", err);
        log_warn("cannot load the JWKS from %s: %s (%s; next try in %.0f s)",
                 a->cfg->auth.jwt.jwks_url, err,
                 a->keys ? "keeping the keys loaded before" : "no keys: tokens are refused",
                 delay);
        schedule(a, delay);
    }
    /* Each waiter is decided again, now that the fetch is over; one that
     * has to wait again waits for the next fetch, not this loop. */
    struct req_list now;
    struct req *r;
    TAILQ_INIT(&now);
    TAILQ_CONCAT(&now, &a->waiters, wait_link);
    TAILQ_FOREACH(r, &now, wait_link)
        r->wait_list = &now;
    while ((r = TAILQ_FIRST(&now))) {
        TAILQ_REMOVE(&now, r, wait_link);
        r->wait_list = NULL;
        if (decide(a, r) == AUTH_OK)
            a->resume(r);
    }
}

static void fetch(struct auth *a, const char *why)
{
    struct httpc_spec spec = {
        .method = "GET", .name = "JWKS", .max_attempts = 2,
        .attempt_timeout_ms = JWKS_TIMEOUT_MS, .connect_timeout_ms = JWKS_TIMEOUT_MS,
        .max_body = JWKS_MAX_BODY,
    };

    if (a->call)
        return;
    log_debug("fetching the JWKS (%s)", why);
    a->call = httpc_start(a->http, &spec, NULL, 0, prepare_fetch, NULL, fetch_done, a);
    if (!a->call)
        log_warn("cannot start fetching the JWKS");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch(arg, "refresh");
}

/* ---------------------------------------------------------- principals */

/* The token of "Authorization: Bearer TOKEN" (RFC 6750 b64token), or NULL. */
static const char *bearer(const struct req *r, size_t *len)
{
    const char *h = req_header(r, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-._~+/");
    size_t eq = strspn(h + n, "=");
    size_t tail = strspn(h + n + eq, " ");
    if (n == 0 || h[n + eq + tail] != '\0')
        return NULL;
    *len = n + eq;
    return h;
}

static void unauthorized(struct req *r, bool token_given, const char *why)
{
    req_add_header(r, "WWW-Authenticate", token_given
                   ? "Bearer realm=\"presignd\", error=\"invalid_token\""
                   : "Bearer realm=\"presignd\"");
    req_fail(r, 401, "unauthorized", "%s", why);
}

static bool set_prefix(struct req *r, const char *tmpl, keys_claim_fn lookup, void *arg)
{
    char err[200];

    r->who.prefix = keys_principal_prefix(r->api->cfg->uploads.prefix, tmpl, lookup, arg,
                                          err, sizeof err);
    if (!r->who.prefix) {
        req_fail(r, 403, "forbidden", "no key prefix can be made for this principal: %s", err);
        return false;
    }
    return true;
}

static enum auth_result api_key(struct auth *a, struct req *r, const char *tok, size_t len)
{
    const struct cfg_auth *ca = &a->cfg->auth;
    unsigned char h[32];
    size_t found = ca->n_api_keys;

    bool hashed = digest_sha256(tok, len, h);
    /* The key, in evhttp's copy of the header, is not needed any more:
     * not left behind in memory the request frees. */
    OPENSSL_cleanse((char *)tok, len);
    if (!hashed) {
        req_fail(r, 500, "internal_error", "cannot hash the key");
        return AUTH_ANSWERED;
    }
    /* Every key is compared, in constant time, whatever matched before:
     * the time taken says nothing about which key is close. */
    for (size_t i = 0; i < ca->n_api_keys; i++)
        if (CRYPTO_memcmp(h, ca->api_keys[i].sha256, 32) == 0)
            found = i;
    OPENSSL_cleanse(h, sizeof h);
    if (found == ca->n_api_keys) {
        unauthorized(r, true, "invalid API key");
        return AUTH_ANSWERED;
    }
    const struct cfg_api_key *k = &ca->api_keys[found];
    r->who.name = k->name;
    r->who.auth = "api_key";
    r->who.perms = k->perms;
    return set_prefix(r, k->prefix, NULL, NULL) ? AUTH_OK : AUTH_ANSWERED;
}

static const char *claim_string(const char *name, size_t len, void *arg)
{
    struct json_object *claims = arg, *v;
    char key[80];

    if (len >= sizeof key)
        return NULL;
    memcpy(key, name, len);
    key[len] = '\0';
    if (!json_object_object_get_ex(claims, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static unsigned perm_word(const char *w, size_t n)
{
    static const unsigned bits[] = { CFG_PERM_UPLOAD, CFG_PERM_DOWNLOAD, CFG_PERM_LIST,
                                     CFG_PERM_DELETE };

    if (n > 9 && strncmp(w, "presignd:", 9) == 0) {
        w += 9;
        n -= 9;
    }
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        const char *name = cfg_perm_name(bits[i]);
        if (strlen(name) == n && strncmp(w, name, n) == 0)
            return bits[i];
    }
    return 0;   /* other scopes are someone else's */
}

/* The permissions of a claim: a space-separated string or an array. */
static unsigned claim_perms(struct json_object *claims, const char *name)
{
    struct json_object *v;
    unsigned perms = 0;

    if (!json_object_object_get_ex(claims, name, &v))
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        for (const char *p = json_object_get_string(v); *p;) {
            size_t n = strcspn(p, " ");
            perms |= perm_word(p, n);
            p += n + strspn(p + n, " ");
        }
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            if (json_object_is_type(e, json_type_string))
                perms |= perm_word(json_object_get_string(e),
                                   (size_t)json_object_get_string_len(e));
        }
    }
    return perms;
}

static enum auth_result jwt(struct auth *a, struct req *r, const char *tok, size_t len)
{
    const struct cfg_jwt *cj = &a->cfg->auth.jwt;
    struct json_object *claims = NULL;
    char err[200];

    if (!a->keys) {
        if (!a->call && a->failures == 0)
            fetch(a, "first use");
        if (a->call)
            goto wait;
        req_fail(r, 503, "auth_unavailable", "tokens cannot be checked: the identity "
                 "provider's keys (JWKS) could not be loaded (%s)", a->last_error);
        return AUTH_ANSWERED;
    }
    struct jwt_policy policy = {
        .algorithms = cj->algorithms, .issuer = cj->issuer, .audience = cj->audience,
        .leeway = cj->leeway, .now = clock_wall(),
    };
    enum jwt_status st = jwt_verify(tok, len, a->keys, &policy, &claims, err, sizeof err);
    if (st == JWT_UNKNOWN_KID) {
        /* The provider may have rotated its keys: ask again, not too often. */
        double now = clock_mono();
        if (a->call)
            goto wait;
        if (a->last_kid_fetch == 0 || now - a->last_kid_fetch >= KID_REFETCH_INTERVAL) {
            a->last_kid_fetch = now;
            fetch(a, "a token names an unknown key");
            if (a->call)
                goto wait;
        }
    }
    /* Decided: the token goes from evhttp's copy of the header. */
    OPENSSL_cleanse((char *)tok, len);
    if (st != JWT_OK) {
        json_object_put(claims);
        unauthorized(r, true, err);
        return AUTH_ANSWERED;
    }
    const char *sub = claim_string("sub", 3, claims);
    if (!sub || !*sub) {
        json_object_put(claims);
        unauthorized(r, true, "the token has no sub claim");
        return AUTH_ANSWERED;
    }
    r->who.owned = strndup(sub, 256);
    r->who.name = r->who.owned;
    r->who.auth = "jwt";
    r->who.perms = claim_perms(claims, cj->permissions_claim);
    bool ok = r->who.owned && set_prefix(r, cj->prefix, claim_string, claims);
    json_object_put(claims);
    if (!r->who.owned)
        req_fail(r, 500, "internal_error", "out of memory");
    return ok ? AUTH_OK : AUTH_ANSWERED;
wait:
    req_wait_other(r);      /* the JWKS fetch's own limit answers it */
    TAILQ_INSERT_TAIL(&a->waiters, r, wait_link);
    r->wait_list = &a->waiters;
    return AUTH_WAIT;
}

static enum auth_result decide(struct auth *a, struct req *r)
{
    size_t len = 0;
    const char *tok = bearer(r, &len);

    if (!tok) {
        unauthorized(r, req_header(r, "Authorization") != NULL,
                     req_header(r, "Authorization") ? "malformed Authorization header "
                     "(expected: Bearer TOKEN)" : "credentials are required "
                     "(Authorization: Bearer TOKEN)");
        return AUTH_ANSWERED;
    }
    if (a->cfg->auth.mode == CFG_AUTH_API_KEY)
        return api_key(a, r, tok, len);
    return jwt(a, r, tok, len);
}

/* ------------------------------------------------------------- public */

struct auth *auth_new(struct event_base *base, struct httpc *http, const struct cfg *cfg,
                      char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof *a);

    if (!a) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    a->base = base;
    a->http = http;
    a->cfg = cfg;
    TAILQ_INIT(&a->waiters);
    snprintf(a->last_error, sizeof a->last_error, "not fetched yet");
    evtimer_assign(&a->timer, base, on_timer, a);
    if (cfg->auth.mode == CFG_AUTH_JWT)
        fetch(a, "start");     /* so that keys are usually there for the first token */
    return a;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    httpc_cancel(a->call);
    event_del(&a->timer);
    while (!TAILQ_EMPTY(&a->waiters)) {
        struct req *r = TAILQ_FIRST(&a->waiters);
        TAILQ_REMOVE(&a->waiters, r, wait_link);
        r->wait_list = NULL;
    }
    jwks_free(a->keys);
    free(a);
}

void auth_anonymous(struct req *r)
{
    r->who.name = NULL;
    r->who.auth = "none";
    r->who.perms = CFG_PERM_ALL;
    r->who.prefix = strdup(r->api->cfg->uploads.prefix);
}

enum auth_result auth_request(struct auth *a, struct req *r, void (*resume)(struct req *r))
{
    a->resume = resume;
    if (a->cfg->auth.mode == CFG_AUTH_NONE) {
        auth_anonymous(r);
        if (!r->who.prefix) {
            req_fail(r, 500, "internal_error", "out of memory");
            return AUTH_ANSWERED;
        }
        return AUTH_OK;
    }
    return decide(a, r);
}

void auth_forget(struct req *r)
{
    free(r->who.prefix);
    free(r->who.owned);
    r->who.prefix = r->who.owned = NULL;
    r->who.name = NULL;
}
