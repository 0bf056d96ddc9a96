/*
 * credprov.c - the credentials of a worker: the static chain, or EC2
 * instance metadata (IMDSv2) fetched and refreshed on the worker's HTTP
 * client (see credprov.h).
 */
#include "credprov.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/crypto.h>

#include "clock.h"
#include "config.h"
#include "creds.h"
#include "errbuf.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "sigv4.h"
#include "str.h"

#define IMDS_TOKEN_TTL      21600
#define IMDS_RETRY_MIN      1.0     /* seconds between failed fetches... */
#define IMDS_RETRY_MAX      60.0    /* ...doubling up to this */
#define IMDS_MAX_TIMEOUT_MS 5000    /* link-local: it answers fast or not at all */
#define IMDS_MAX_BODY       (64 * 1024)

enum imds_step { STEP_TOKEN, STEP_ROLE, STEP_CREDS };

static const char *const step_names[] = {
    [STEP_TOKEN] = "IMDS token", [STEP_ROLE] = "IMDS role", [STEP_CREDS] = "IMDS credentials",
};

struct credprov {
    struct event_base *base;
    struct httpc *http;
    const struct cfg *cfg;
    unsigned metric;
    struct creds creds;             /* CREDS_NONE when none */
    credprov_cb listener;
    void *listener_arg;
    char why[320];

    bool imds;                      /* the chain ends at instance metadata */
    bool fetching;
    enum imds_step step;
    struct httpc_call *call;        /* the current step */
    char *token;
    double token_expiry;            /* monotonic */
    char *role;
    int token_restarts;             /* 401s answered by a new token, this fetch */
    int failures;                   /* consecutive failed fetches */
    double last_failure;            /* monotonic, 0 = none */
    double fetch_start;             /* monotonic */
    struct event timer;             /* next refresh or retry */
    struct event notify;            /* runs the listener from the loop */
};

static bool usable(const struct credprov *p)
{
    if (p->creds.source == CREDS_NONE)
        return false;
    return p->creds.expiration == 0 || clock_wall() < p->creds.expiration;
}

static void publish_expiry(const struct credprov *p)
{
    if (p->creds.source == CREDS_NONE)
        metrics_set_credentials_expiry(0);
    else if (p->creds.expiration == 0)
        metrics_set_credentials_expiry(-1);
    else
        metrics_set_credentials_expiry(p->creds.expiration);
}

static void drop_expired(struct credprov *p)
{
    if (p->creds.source != CREDS_NONE && !usable(p)) {
        log_warn("AWS credentials from %s have expired", creds_source_name(p->creds.source));
        creds_clear(&p->creds);
        publish_expiry(p);
    }
}

static void notify_listener(struct credprov *p)
{
    struct timeval zero = { 0, 0 };

    evtimer_add(&p->notify, &zero);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct credprov *p = arg;

    (void)fd;
    (void)what;
    if (p->listener)
        p->listener(p->listener_arg);
}

static void schedule(struct credprov *p, double delay)
{
    struct timeval tv = clock_tv(delay);

    evtimer_del(&p->timer);
    evtimer_add(&p->timer, &tv);
}

/* ------------------------------------------------------------ the fetch */

static bool step_start(struct credprov *p, enum imds_step step);

static bool prepare_step(struct httpc_call *call, void *arg, char *err, size_t errlen)
{
    struct credprov *p = arg;
    const char *base = p->cfg->s3.imds_endpoint;
    char ttl[16];
    char *url = NULL;
    int n;

    switch (p->step) {
    case STEP_TOKEN:
        n = asprintf(&url, "%s/latest/api/token", base);
        snprintf(ttl, sizeof ttl, "%d", IMDS_TOKEN_TTL);
        httpc_add_header(call, "X-aws-ec2-metadata-token-ttl-seconds", ttl);
        break;
    case STEP_ROLE:
        n = asprintf(&url, "%s/latest/meta-data/iam/security-credentials/", base);
        httpc_add_header(call, "X-aws-ec2-metadata-token", p->token ? p->token : "");
        break;
    default: {
        char *role = sigv4_uri_encode(p->role, false);
        n = role ? asprintf(&url, "%s/latest/meta-data/iam/security-credentials/%s", base,
                            role) : -1;
        free(role);
        httpc_add_header(call, "X-aws-ec2-metadata-token", p->token ? p->token : "");
        break;
    }
    }
    if (n < 0) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    httpc_set_url(call, url);
    free(url);
    return true;
}

static enum metrics_s3_outcome outcome_of(const struct httpc_response *res)
{
    if (!res || res->prepare_failed)
        return METRICS_S3_CLIENT_ERROR;
    if (res->curl_code && !res->body_too_large)
        return METRICS_S3_UNREACHABLE;
    if (res->status == 404)
        return METRICS_S3_NOT_FOUND;
    return res->status >= 500 ? METRICS_S3_SERVER_ERROR : METRICS_S3_CLIENT_ERROR;
}

static void fetch_failed(struct credprov *p, const struct httpc_response *res, const char *why)
{
    p->fetching = false;
    p->failures++;
    p->last_failure = clock_mono();
    metrics_s3_call(p->metric, outcome_of(res), clock_mono() - p->fetch_start);
    drop_expired(p);

    double delay = IMDS_RETRY_MIN * pow(2.0, p->failures - 1);
    if (delay > IMDS_RETRY_MAX)
        delay = IMDS_RETRY_MAX;
    /* Retry sooner than the back-off if the old credentials expire first. */
    if (p->creds.source != CREDS_NONE) {
        double left = p->creds.expiration - clock_wall();
        if (left > 0 && left / 2 < delay)
            delay = fmax(left / 2, IMDS_RETRY_MIN);
    }
    snprintf(p->why, sizeof p->why, "instance metadata: %s", why);
    log_warn("could not fetch AWS credentials from instance metadata at %s: %s "
             "(%s; next try in %.0f s)", p->cfg->s3.imds_endpoint, why,
             p->creds.source != CREDS_NONE ? "keeping the current ones until they expire"
                                           : "none held", delay);
    schedule(p, delay);
    if (!usable(p))
        notify_listener(p);
}

static void got_creds(struct credprov *p, struct creds *nc)
{
    double now = clock_wall();
    double at = creds_refresh_at(now, nc->expiration);
    bool first = p->creds.source == CREDS_NONE;

    p->fetching = false;
    p->failures = 0;
    p->last_failure = 0;
    metrics_s3_call(p->metric, METRICS_S3_OK, clock_mono() - p->fetch_start);
    creds_replace(&p->creds, nc);
    publish_expiry(p);
    log_info("AWS credentials %s from instance metadata (role %s), valid for %.0f s, "
             "refresh in %.0f s", first ? "obtained" : "refreshed",
             p->role ? p->role : "?", p->creds.expiration - now, at - now);
    schedule(p, at - now);
    notify_listener(p);
}

static void step_done(const struct httpc_response *res, void *arg)
{
    struct credprov *p = arg;
    char err[256];

    p->call = NULL;
    if (res->status < 200 || res->status >= 300) {
        if (res->status == 401 && p->step != STEP_TOKEN && p->token_restarts++ == 0) {
            /* The session token expired or was revoked: get a new one. */
            free(p->token);
            p->token = NULL;
            if (step_start(p, STEP_TOKEN))
                return;
        }
        if (res->status)
            snprintf(err, sizeof err, "%s: HTTP %ld", step_names[p->step], res->status);
        else
            snprintf(err, sizeof err, "%s: %s", step_names[p->step],
                     res->error ? res->error : "error");
        fetch_failed(p, res, err);
        return;
    }
    switch (p->step) {
    case STEP_TOKEN: {
        char *t = str_ndup_trim(res->body, res->body_len);
        if (!t || !*t || strpbrk(t, "\r\n")) {
            free(t);
            fetch_failed(p, res, "empty or invalid session token");
            return;
        }
        if (p->token)
            OPENSSL_cleanse(p->token, strlen(p->token));
        free(p->token);
        p->token = t;
        p->token_expiry = clock_mono() + IMDS_TOKEN_TTL - 60;
        if (!step_start(p, STEP_ROLE))
            fetch_failed(p, NULL, "out of memory");
        return;
    }
    case STEP_ROLE: {
        char *role = str_ndup_trim(res->body, strcspn(res->body, "\r\n"));
        if (!role || !*role || strchr(role, '/')) {
            free(role);
            fetch_failed(p, res, "no IAM role attached to this instance");
            return;
        }
        free(p->role);
        p->role = role;
        if (!step_start(p, STEP_CREDS))
            fetch_failed(p, NULL, "out of memory");
        return;
    }
    case STEP_CREDS: {
        struct creds nc;
        if (creds_parse_imds(res->body, res->body_len, &nc, err, sizeof err) < 0) {
            fetch_failed(p, res, err);
            return;
        }
        if (nc.expiration <= clock_wall() + 1) {
            creds_clear(&nc);
            fetch_failed(p, res, "credentials already expired");
            return;
        }
        got_creds(p, &nc);
        return;
    }
    }
}

static bool step_start(struct credprov *p, enum imds_step step)
{
    long timeout = p->cfg->s3.request_timeout_ms;
    struct httpc_spec spec = {
        .method = step == STEP_TOKEN ? "PUT" : "GET",
        .name = step_names[step],
        .max_attempts = p->cfg->s3.max_attempts,
        .attempt_timeout_ms = timeout < IMDS_MAX_TIMEOUT_MS ? timeout : IMDS_MAX_TIMEOUT_MS,
        .connect_timeout_ms = p->cfg->s3.connect_timeout_ms,
        .max_body = IMDS_MAX_BODY,
        .no_proxy = true,       /* link-local, never proxied */
        .secret = true,         /* the token and the credentials */
    };

    p->step = step;
    p->call = httpc_start(p->http, &spec, step == STEP_TOKEN ? "" : NULL, 0, prepare_step,
                          NULL, step_done, p);
    return p->call != NULL;
}

/* Start a fetch unless one is running. False when none can start. */
static bool fetch_begin(struct credprov *p)
{
    if (p->fetching)
        return true;
    p->fetching = true;
    p->token_restarts = 0;
    p->fetch_start = clock_mono();
    evtimer_del(&p->timer);
    bool have_token = p->token && clock_mono() < p->token_expiry;
    if (!step_start(p, have_token ? STEP_ROLE : STEP_TOKEN)) {
        p->fetching = false;
        return false;
    }
    return true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct credprov *p = arg;

    (void)fd;
    (void)what;
    drop_expired(p);
    fetch_begin(p);
}

/* ------------------------------------------------------------ public */

struct credprov *credprov_new(struct event_base *base, struct httpc *h, const struct cfg *cfg,
                              unsigned metric, char *err, size_t errlen)
{
    struct credprov *p = calloc(1, sizeof *p);
    char cerr[256] = "";

    if (!p) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    p->base = base;
    p->http = h;
    p->cfg = cfg;
    p->metric = metric;
    snprintf(p->why, sizeof p->why, "no AWS credentials available");
    evtimer_assign(&p->timer, base, on_timer, p);
    evtimer_assign(&p->notify, base, on_notify, p);

    int src = creds_resolve_static(cfg, &p->creds, cerr, sizeof cerr);
    if (src < 0) {
        errbuf_set(err, errlen, "AWS credentials: %s", cerr);
        credprov_free(p);
        return NULL;
    }
    if (src != CREDS_NONE) {
        p->creds.expiration = 0;
        log_info("using AWS credentials from the %s", creds_source_name(p->creds.source));
    } else {
        p->imds = true;
        /* Fetch now so that credentials are usually there before the first
         * request; that request waits if not. */
        fetch_begin(p);
    }
    publish_expiry(p);
    return p;
}

void credprov_free(struct credprov *p)
{
    if (!p)
        return;
    httpc_cancel(p->call);
    event_del(&p->timer);
    event_del(&p->notify);
    creds_clear(&p->creds);
    if (p->token)
        OPENSSL_cleanse(p->token, strlen(p->token));
    free(p->token);
    free(p->role);
    free(p);
}

void credprov_set_listener(struct credprov *p, credprov_cb cb, void *arg)
{
    p->listener = cb;
    p->listener_arg = arg;
}

const struct creds *credprov_get(struct credprov *p)
{
    drop_expired(p);
    return usable(p) ? &p->creds : NULL;
}

bool credprov_kick(struct credprov *p)
{
    if (!p->imds)
        return false;
    if (p->fetching)
        return true;
    if (p->last_failure > 0)
        return false;
    return fetch_begin(p);
}

bool credprov_pending(const struct credprov *p)
{
    return !usable(p) && p->imds && p->fetching;
}

double credprov_expiry(struct credprov *p)
{
    if (!credprov_get(p))
        return -1;
    return p->creds.expiration;
}

const char *credprov_why(const struct credprov *p)
{
    return p->why;
}
