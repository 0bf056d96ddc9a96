/*
 * s3.c - the asynchronous S3 client (see s3.h): a libcurl multi handle
 * driven by the worker's libevent loop, SigV4 on every attempt, retries with
 * full-jitter back-off, the credential chain including the asynchronous
 * IMDSv2 fetch and refresh, and presigning.
 *
 * Event plumbing follows curl's hiperfifo.c: curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to wake it (TIMERFUNCTION); we
 * keep one libevent event per socket plus one timer and hand readiness back
 * with curl_multi_socket_action(). Completed transfers are collected from
 * curl_multi_info_read() after each action, outside any curl callback, which
 * is what makes it safe for a completion callback to start, cancel or free.
 *
 * Every operation (public or an internal IMDS step) is a struct s3_op on the
 * client's list. Its states: waiting for credentials, transfer running,
 * backing off before a retry, or finishing on a zero timer (completions that
 * must not run inside the call that started them).
 */
#include "s3.h"
#include "errbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/crypto.h>

#include "config.h"
#include "creds.h"
#include "log.h"
#include "metrics.h"
#include "s3xml.h"
#include "sigv4.h"

/* Connections kept per S3 host. HTTP/1.1 carries one request at a time, so
 * this bounds the S3 calls a worker overlaps; beyond it curl queues. */
#define S3_MAX_HOST_CONNECTIONS 256
#define S3_MAX_LIST_BODY   (8 * 1024 * 1024)   /* 1000 keys of 1 KiB fit easily */
#define S3_MAX_OTHER_BODY  (256 * 1024)        /* error documents, IMDS answers */
#define S3_BACKOFF_BASE_MS 50.0
#define S3_BACKOFF_CAP_MS  1000.0
#define S3_PRESIGN_MARGIN  60        /* seconds a URL must end before its credentials */
#define S3_MAX_EXPIRES     604800L   /* SigV4's limit: 7 days */
#define IMDS_TOKEN_TTL     21600
#define IMDS_RETRY_MIN     1.0       /* seconds between failed credential fetches... */
#define IMDS_RETRY_MAX     60.0      /* ...doubling up to this */
#define S3_PROBE_TIMEOUT_MS 3000     /* answer before a load balancer's 5 s probe timeout */
#define IMDS_MAX_TIMEOUT_MS 5000     /* IMDS is link-local: it answers fast or not at all */

enum op_kind {
    OP_HEAD_OBJECT,
    OP_HEAD_BUCKET,
    OP_LIST_OBJECTS,
    OP_DELETE_OBJECT,
    OP_IMDS_TOKEN,
    OP_IMDS_ROLE,
    OP_IMDS_CREDS,
};

static const struct {
    const char *method;
    const char *name;
    enum metrics_s3_op metric;
} op_info[] = {
    [OP_HEAD_OBJECT]   = { "HEAD",   "HeadObject",    METRICS_S3_HEAD_OBJECT },
    [OP_HEAD_BUCKET]   = { "HEAD",   "HeadBucket",    METRICS_S3_HEAD_BUCKET },
    [OP_LIST_OBJECTS]  = { "GET",    "ListObjectsV2", METRICS_S3_LIST_OBJECTS },
    [OP_DELETE_OBJECT] = { "DELETE", "DeleteObject",  METRICS_S3_DELETE_OBJECT },
    [OP_IMDS_TOKEN]    = { "PUT",    "IMDS token",    METRICS_S3_IMDS },
    [OP_IMDS_ROLE]     = { "GET",    "IMDS role",     METRICS_S3_IMDS },
    [OP_IMDS_CREDS]    = { "GET",    "IMDS credentials", METRICS_S3_IMDS },
};

enum op_state {
    OPS_IDLE,
    OPS_WAIT_CREDS,    /* tev = deadline for credentials to show up */
    OPS_RUNNING,       /* easy handle in the multi */
    OPS_BACKOFF,       /* tev = start of the next attempt */
    OPS_FINISH,        /* tev (zero) = deliver the stored outcome */
};

struct buf {
    char *p;
    size_t len, cap, limit;
    bool overflow;
};

/* Where requests go: "SCHEME://HOST" + BASE + "/" + key. */
struct endpoint {
    char *scheme;      /* "https" / "http" */
    char *host;        /* Host header value; ":port" only when not the default */
    char *base;        /* raw path prefix: "" or "/bucket" (and any endpoint path) */
};

struct s3_sock {
    struct event ev;
    struct s3_client *c;
    struct s3_sock *prev, *next;
};

struct s3_op {
    struct s3_client *c;
    struct s3_op *prev, *next;
    enum op_kind kind;
    enum op_state state;
    bool public;
    s3_done_cb cb;
    void *arg;

    char *raw_path;              /* unencoded, signed as is (S3 calls) */
    struct sigv4_kv query[4];    /* unencoded; values malloc'd */
    size_t n_query;
    char *url;                   /* full URL (IMDS steps) */

    CURL *easy;
    struct curl_slist *hdrs;
    struct event tev;
    int attempts;
    int max_attempts;            /* the client's, or 1 for a probe */
    long timeout_ms;             /* per attempt: the client's, or less for a probe */
    double t_start;              /* monotonic */
    double wait_deadline;        /* monotonic, while waiting for credentials */

    /* last response */
    struct buf body;
    long http_status;
    char *reason;                /* status line's reason phrase */
    char *etag, *last_modified, *content_type;
    int64_t content_length;
    char errbuf[CURL_ERROR_SIZE];

    /* outcome */
    enum s3_status status;
    char *code, *message;
    struct s3xml_list list;
};

struct imds {
    bool enabled;
    bool fetching;
    struct s3_op *op;            /* current step */
    char *base;                  /* "http://169.254.169.254" */
    char *token;
    double token_expiry;         /* monotonic */
    char *role;
    int token_restarts;          /* 401s answered by a new token, this fetch */
    int failures;                /* consecutive failed fetches */
    double last_failure;         /* monotonic, 0 = none */
    double fetch_start;          /* monotonic */
    struct event timer;          /* next refresh or retry */
};

struct s3_client {
    struct event_base *base;
    const struct cfg *cfg;
    CURLM *multi;
    struct event timer;          /* curl's timeout */
    struct s3_sock *socks;
    struct s3_op *ops;
    size_t inflight;             /* public ops on the list */
    int depth;                   /* nesting of our event callbacks */
    bool free_pending;           /* s3_client_free ran inside a callback */

    struct endpoint api, pub;
    struct sigv4_cache sigcache;
    struct creds creds;          /* CREDS_NONE when none */
    bool static_creds;
    struct imds imds;
    long connect_timeout_ms, request_timeout_ms;
    int max_attempts;
    double last_fail_log;        /* monotonic time of the last failure warning */
    unsigned long fail_suppressed;
};

/* ------------------------------------------------------------------ utils */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timeval tv_of(double seconds)
{
    struct timeval tv;
    if (seconds < 0)
        seconds = 0;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return tv;
}

/*
 * Back-off jitter: xorshift64* seeded per process from getrandom(). Re-seeded
 * after fork (pid check) so that workers do not retry in lockstep.
 */
static uint64_t rng_state;
static pid_t rng_pid;

static double rng_uniform(void)
{
    if (rng_state == 0 || rng_pid != getpid()) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
            seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        rng_state = seed ? seed : 0x9E3779B97F4A7C15ULL;
        rng_pid = getpid();
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static bool buf_append(struct buf *b, const char *p, size_t n)
{
    if (b->len + n > b->limit) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return false;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

/* Bodies may hold credentials (IMDS): wipe before freeing. */
static void buf_reset(struct buf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->overflow = false;
}

static void replace_str(char **slot, char *s)
{
    free(*slot);
    *slot = s;
}

/* ------------------------------------------------------------- addressing */

static void endpoint_free(struct endpoint *e)
{
    free(e->scheme);
    free(e->host);
    free(e->base);
    memset(e, 0, sizeof(*e));
}

/*
 * Virtual-hosted: BUCKET.HOST, keys at "/KEY"; path-style: HOST, keys at
 * "/BUCKET/KEY". No endpoint means AWS's regional one.
 */
static int endpoint_init(struct endpoint *e, const char *url, const char *bucket,
                         const char *region, bool path_style,
                         char *err, size_t errlen)
{
    char *authority = NULL, *path = NULL;
    int rc = -1;

    memset(e, 0, sizeof(*e));
    if (!url || !*url) {
        e->scheme = strdup("https");
        if (path_style) {
            if (asprintf(&e->host, "s3.%s.amazonaws.com", region) < 0)
                e->host = NULL;
            if (asprintf(&e->base, "/%s", bucket) < 0)
                e->base = NULL;
        } else {
            if (asprintf(&e->host, "%s.s3.%s.amazonaws.com", bucket, region) < 0)
                e->host = NULL;
            e->base = strdup("");
        }
        goto check;
    }

    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0) {
        e->scheme = strdup("https");
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        e->scheme = strdup("http");
        rest = url + 7;
    } else {
        errbuf_set(err, errlen, "endpoint %s: must start with http:// or https://", url);
        goto out;
    }
    size_t alen = strcspn(rest, "/?#");
    if (alen == 0 || rest[alen] == '?' || rest[alen] == '#' || memchr(rest, '@', alen)) {
        errbuf_set(err, errlen, "endpoint %s: expected SCHEME://HOST[:PORT][/PATH]", url);
        goto out;
    }
    authority = strndup(rest, alen);
    path = strdup(rest + alen);
    if (!authority || !path || !e->scheme)
        goto oom;
    /* A trailing '/' on the endpoint is not part of any key. */
    for (size_t n = strlen(path); n > 0 && path[n - 1] == '/'; n--)
        path[n - 1] = '\0';
    /* Clients omit the default port from Host, and the signature covers
     * Host: drop it so that presigned URLs verify. */
    char *colon = strrchr(authority, ':');
    if (colon && !strchr(colon, ']')) {
        const char *dflt = strcmp(e->scheme, "https") == 0 ? "443" : "80";
        if (strcmp(colon + 1, dflt) == 0 || colon[1] == '\0')
            *colon = '\0';
    }
    for (char *p = authority; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (path_style) {
        e->host = strdup(authority);
        if (asprintf(&e->base, "%s/%s", path, bucket) < 0)
            e->base = NULL;
    } else {
        if (asprintf(&e->host, "%s.%s", bucket, authority) < 0)
            e->host = NULL;
        e->base = strdup(path);
    }
check:
    if (!e->scheme || !e->host || !e->base)
        goto oom;
    rc = 0;
    goto out;
oom:
    errbuf_set(err, errlen, "out of memory");
out:
    if (rc < 0)
        endpoint_free(e);
    free(authority);
    free(path);
    return rc;
}

/* BASE + "/" + KEY (KEY NULL: the bucket itself). */
static char *object_path(const struct endpoint *e, const char *key)
{
    char *p;
    if (key) {
        if (asprintf(&p, "%s/%s", e->base, key) < 0)
            return NULL;
    } else {
        p = strdup(*e->base ? e->base : "/");
    }
    return p;
}

/* ------------------------------------------------------------ credentials */

static bool creds_usable(const struct s3_client *c)
{
    if (c->creds.source == CREDS_NONE)
        return false;
    return c->creds.expiration == 0 || wall_now() < c->creds.expiration;
}

static void publish_expiry(const struct s3_client *c)
{
    if (c->creds.source == CREDS_NONE)
        metrics_set_credentials_expiry(0);
    else if (c->creds.expiration == 0)
        metrics_set_credentials_expiry(-1);
    else
        metrics_set_credentials_expiry(c->creds.expiration);
}

static void drop_expired_creds(struct s3_client *c)
{
    if (c->creds.source != CREDS_NONE && !creds_usable(c)) {
        log_warn("AWS credentials from %s have expired",
                 creds_source_name(c->creds.source));
        creds_clear(&c->creds);
        sigv4_cache_wipe(&c->sigcache);
        publish_expiry(c);
    }
}

/* ---------------------------------------------------------------- op life */

static void op_timer_cb(evutil_socket_t fd, short what, void *arg);
static void start_attempt(struct s3_op *op);
static void imds_step_done(struct s3_op *op);
static bool imds_kick(struct s3_client *c);

static struct s3_op *op_new(struct s3_client *c, enum op_kind kind,
                            s3_done_cb cb, void *arg)
{
    struct s3_op *op = calloc(1, sizeof(*op));

    if (!op)
        return NULL;
    op->c = c;
    op->kind = kind;
    op->public = kind <= OP_DELETE_OBJECT;
    op->cb = cb;
    op->arg = arg;
    op->t_start = mono_now();
    op->max_attempts = c->max_attempts;
    op->timeout_ms = c->request_timeout_ms;
    op->content_length = -1;
    op->list.key_count = -1;
    op->body.limit = kind == OP_LIST_OBJECTS ? S3_MAX_LIST_BODY : S3_MAX_OTHER_BODY;
    event_assign(&op->tev, c->base, -1, 0, op_timer_cb, op);
    op->next = c->ops;
    if (c->ops)
        c->ops->prev = op;
    c->ops = op;
    if (op->public)
        c->inflight++;
    return op;
}

static void op_unlink(struct s3_op *op)
{
    struct s3_client *c = op->c;

    if (op->prev)
        op->prev->next = op->next;
    else if (c->ops == op)
        c->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    if (op->public && c->inflight > 0)
        c->inflight--;
}

static void response_reset(struct s3_op *op)
{
    buf_reset(&op->body);
    replace_str(&op->reason, NULL);
    replace_str(&op->etag, NULL);
    replace_str(&op->last_modified, NULL);
    replace_str(&op->content_type, NULL);
    op->content_length = -1;
    op->http_status = 0;
    op->errbuf[0] = '\0';
}

static void op_release_transfer(struct s3_op *op)
{
    if (op->easy) {
        curl_multi_remove_handle(op->c->multi, op->easy);
        curl_easy_cleanup(op->easy);
        op->easy = NULL;
    }
    /* The headers carry the session token (x-amz-security-token). */
    for (struct curl_slist *h = op->hdrs; h; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(op->hdrs);
    op->hdrs = NULL;
}

/* Free an op already unlinked. */
static void op_free(struct s3_op *op)
{
    op_release_transfer(op);
    event_del(&op->tev);
    response_reset(op);
    free(op->raw_path);
    for (size_t i = 0; i < op->n_query; i++)
        free((char *)op->query[i].value);
    free(op->url);
    free(op->code);
    free(op->message);
    s3xml_list_free(&op->list);
    free(op);
}

static void set_outcome(struct s3_op *op, enum s3_status st, const char *code,
                        const char *message)
{
    op->status = st;
    replace_str(&op->code, code ? strdup(code) : NULL);
    replace_str(&op->message, message ? strdup(message) : NULL);
}

static enum metrics_s3_outcome metric_outcome(const struct s3_op *op)
{
    switch (op->status) {
    case S3_OK:          return METRICS_S3_OK;
    case S3_NOT_FOUND:   return METRICS_S3_NOT_FOUND;
    case S3_UNREACHABLE: return METRICS_S3_UNREACHABLE;
    default:
        return op->http_status >= 500 ? METRICS_S3_SERVER_ERROR
                                      : METRICS_S3_CLIENT_ERROR;
    }
}

/*
 * One warning per failed call would flood the log during an S3 outage (every
 * API request fails the same way): at most one a second, with a count of
 * those left out.
 */
static void log_failure(const struct s3_op *op)
{
    struct s3_client *c = op->c;
    double now = mono_now();

    if (c->last_fail_log > 0 && now - c->last_fail_log < 1.0) {
        c->fail_suppressed++;
        return;
    }
    char more[64] = "";
    if (c->fail_suppressed)
        snprintf(more, sizeof(more), " (%lu similar failures since the last warning)",
                 c->fail_suppressed);
    log_warn("S3 %s failed after %d attempt%s: %s%s%s%s",
             op_info[op->kind].name, op->attempts, op->attempts == 1 ? "" : "s",
             op->code ? op->code : "error",
             op->message ? ": " : "", op->message ? op->message : "", more);
    c->last_fail_log = now;
    c->fail_suppressed = 0;
}

/* The final outcome is in OP: hand it over and free OP. */
static void op_complete(struct s3_op *op)
{
    op_unlink(op);
    op->state = OPS_IDLE;
    event_del(&op->tev);
    if (!op->public) {
        imds_step_done(op);
        op_free(op);
        return;
    }

    struct s3_result res;
    memset(&res, 0, sizeof(res));
    res.status = op->status;
    res.http_status = op->http_status;
    res.code = op->code;
    res.message = op->message;
    res.attempts = op->attempts;
    res.seconds = mono_now() - op->t_start;
    res.content_length = op->content_length;
    res.etag = op->etag;
    res.last_modified = op->last_modified;
    res.content_type = op->content_type;
    res.objects = op->list.objects;
    res.n_objects = op->list.n_objects;
    res.truncated = op->list.truncated;
    res.next_token = op->list.next_token;

    /* Without credentials no S3 request was made: nothing to count. */
    if (op->status != S3_NO_CREDENTIALS)
        metrics_s3_call(op_info[op->kind].metric, metric_outcome(op), res.seconds);
    if (op->status == S3_UNREACHABLE ||
        (op->status == S3_ERROR && op->http_status >= 500))
        log_failure(op);
    if (op->cb)
        op->cb(&res, op->arg);
    op_free(op);
}

/* Deliver OP's outcome from the loop, never from inside the call that
 * started it (callers rely on callbacks running later). */
static void finish_later(struct s3_op *op, enum s3_status st, const char *code,
                         const char *message)
{
    struct timeval zero = { 0, 0 };

    op_release_transfer(op);
    set_outcome(op, st, code, message);
    op->state = OPS_FINISH;
    event_del(&op->tev);
    evtimer_add(&op->tev, &zero);
}

static void client_destroy(struct s3_client *c);

static void enter(struct s3_client *c)
{
    c->depth++;
}

static void leave(struct s3_client *c)
{
    if (--c->depth == 0 && c->free_pending)
        client_destroy(c);
}

static void op_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_op *op = arg;
    struct s3_client *c = op->c;

    (void)fd;
    (void)what;
    enter(c);
    switch (op->state) {
    case OPS_WAIT_CREDS:
        set_outcome(op, S3_NO_CREDENTIALS, "NoCredentials",
                    "timed out waiting for AWS credentials");
        op_complete(op);
        break;
    case OPS_BACKOFF:
        start_attempt(op);
        break;
    case OPS_FINISH:
        op_complete(op);
        break;
    default:
        break;
    }
    leave(c);
}

/* ------------------------------------------------------------ curl glue */

static void check_multi_info(struct s3_client *c);

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct s3_client *c = arg;
    int running = 0;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) |
                 (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

    enter(c);
    curl_multi_socket_action(c->multi, fd, action, &running);
    /* No "running == 0: delete the timer" as in hiperfifo: a completion
     * callback may just have added a transfer, and curl asked for that
     * timer. curl cancels its timer itself (TIMERFUNCTION with -1). */
    check_multi_info(c);
    leave(c);
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
    struct s3_client *c = arg;
    int running = 0;

    (void)fd;
    (void)what;
    enter(c);
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
    leave(c);
}

/* CURLMOPT_SOCKETFUNCTION: watch S for WHAT (hiperfifo's setsock/remsock). */
static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp,
                          void *socketp)
{
    struct s3_client *c = userp;
    struct s3_sock *sk = socketp;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            event_del(&sk->ev);
            if (sk->prev)
                sk->prev->next = sk->next;
            else
                c->socks = sk->next;
            if (sk->next)
                sk->next->prev = sk->prev;
            free(sk);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    if (!sk) {
        sk = calloc(1, sizeof(*sk));
        if (!sk)
            return -1;
        sk->c = c;
        sk->next = c->socks;
        if (c->socks)
            c->socks->prev = sk;
        c->socks = sk;
        curl_multi_assign(c->multi, s, sk);
    } else {
        event_del(&sk->ev);
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
    event_assign(&sk->ev, c->base, s, kind, on_sock_event, c);
    event_add(&sk->ev, NULL);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed as curl asks. */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct s3_client *c = userp;

    (void)m;
    if (timeout_ms < 0) {
        evtimer_del(&c->timer);
    } else {
        struct timeval tv = tv_of(timeout_ms / 1000.0);
        evtimer_add(&c->timer, &tv);
    }
    return 0;
}

static char *dup_trimmed(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
                 p[n - 1] == '\n'))
        n--;
    return strndup(p, n);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct s3_op *op = ud;
    size_t len = size * nmemb;

    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a retry): start over. */
        replace_str(&op->etag, NULL);
        replace_str(&op->last_modified, NULL);
        replace_str(&op->content_type, NULL);
        op->content_length = -1;
        const char *sp = memchr(data, ' ', len);
        const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - data)) : NULL;
        replace_str(&op->reason, sp2 ? dup_trimmed(sp2 + 1, len - (size_t)(sp2 + 1 - data))
                                     : NULL);
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;

    if (nlen == 4 && strncasecmp(data, "etag", 4) == 0) {
        char *s = dup_trimmed(v, vlen);
        size_t sl = s ? strlen(s) : 0;
        if (s && sl >= 2 && s[0] == '"' && s[sl - 1] == '"') {
            memmove(s, s + 1, sl - 2);
            s[sl - 2] = '\0';
        }
        replace_str(&op->etag, s);
    } else if (nlen == 13 && strncasecmp(data, "last-modified", 13) == 0) {
        replace_str(&op->last_modified, dup_trimmed(v, vlen));
    } else if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
        replace_str(&op->content_type, dup_trimmed(v, vlen));
    } else if (nlen == 14 && strncasecmp(data, "content-length", 14) == 0) {
        char *s = dup_trimmed(v, vlen), *end;
        if (s) {
            errno = 0;
            long long n = strtoll(s, &end, 10);
            if (!errno && end != s && !*end && n >= 0)
                op->content_length = n;
            free(s);
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct s3_op *op = ud;
    size_t len = size * nmemb;

    /* Returning less than LEN aborts the transfer (CURLE_WRITE_ERROR). */
    return buf_append(&op->body, data, len) ? len : 0;
}

/* ------------------------------------------------------------ requests */

static char *build_query_string(const struct s3_op *op)
{
    size_t idx[4];
    char *out = strdup("");

    for (size_t i = 0; i < op->n_query; i++)
        idx[i] = i;
    /* A handful of parameters: insertion sort by name (as signed). */
    for (size_t i = 1; i < op->n_query; i++)
        for (size_t j = i; j > 0 &&
             strcmp(op->query[idx[j - 1]].name, op->query[idx[j]].name) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (size_t i = 0; out && i < op->n_query; i++) {
        char *n = sigv4_uri_encode(op->query[idx[i]].name, false);
        char *v = sigv4_uri_encode(op->query[idx[i]].value, false);
        char *joined = NULL;
        if (n && v && asprintf(&joined, "%s%s%s=%s", out, i ? "&" : "", n, v) < 0)
            joined = NULL;
        free(n);
        free(v);
        free(out);
        out = joined;
    }
    return out;
}

static struct curl_slist *add_header(struct curl_slist *l, bool *ok,
                                     const char *name, const char *value)
{
    char *line;
    struct curl_slist *n;

    if (!*ok)
        return l;
    if (asprintf(&line, "%s: %s", name, value) < 0) {
        *ok = false;
        return l;
    }
    n = curl_slist_append(l, line);
    OPENSSL_cleanse(line, strlen(line));
    free(line);
    if (!n) {
        *ok = false;
        return l;
    }
    return n;
}

/* URL and headers of an S3 call, signed now. */
static bool prepare_s3(struct s3_op *op, char **url, char *err, size_t errlen)
{
    struct s3_client *c = op->c;
    struct sigv4_kv out[SIGV4_MAX_OUT_HEADERS];
    struct sigv4_creds sc = {
        .access_key_id = c->creds.access_key_id,
        .secret_access_key = c->creds.secret_access_key,
        .session_token = c->creds.session_token,
    };
    struct sigv4_request req = {
        .method = op_info[op->kind].method,
        .host = c->api.host,
        .path = op->raw_path,
        .query = op->query,
        .n_query = op->n_query,
        .region = c->cfg->region ? c->cfg->region : "us-east-1",
        .service = "s3",
        .now = time(NULL),
    };
    bool ok = true;

    int n = sigv4_sign_headers(&req, NULL, &sc, &c->sigcache, out, err, errlen);
    if (n < 0)
        return false;
    /* The Host curl would derive is the one we signed, but say it
     * explicitly so the two can never drift apart. */
    op->hdrs = add_header(op->hdrs, &ok, "Host", c->api.host);
    for (int i = 0; i < n; i++)
        op->hdrs = add_header(op->hdrs, &ok, out[i].name, out[i].value);
    op->hdrs = add_header(op->hdrs, &ok, "Accept", "application/xml");
    sigv4_headers_free(out, n);

    char *path = sigv4_uri_encode(op->raw_path, true);
    char *qs = build_query_string(op);
    *url = NULL;
    if (ok && path && qs &&
        asprintf(url, "%s://%s%s%s%s", c->api.scheme, c->api.host, path,
                 *qs ? "?" : "", qs) < 0)
        *url = NULL;
    free(path);
    free(qs);
    if (!ok || !*url) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    return true;
}

static bool prepare_imds(struct s3_op *op, char **url, char *err, size_t errlen)
{
    struct s3_client *c = op->c;
    bool ok = true;
    char ttl[16];

    if (op->kind == OP_IMDS_TOKEN) {
        snprintf(ttl, sizeof(ttl), "%d", IMDS_TOKEN_TTL);
        op->hdrs = add_header(op->hdrs, &ok, "X-aws-ec2-metadata-token-ttl-seconds", ttl);
    } else {
        op->hdrs = add_header(op->hdrs, &ok, "X-aws-ec2-metadata-token",
                              c->imds.token ? c->imds.token : "");
    }
    *url = strdup(op->url);
    if (!ok || !*url) {
        errbuf_set(err, errlen, "out of memory");
        free(*url);
        *url = NULL;
        return false;
    }
    return true;
}

static void start_attempt(struct s3_op *op)
{
    struct s3_client *c = op->c;
    char err[256] = "";
    char *url = NULL;
    bool imds = !op->public;

    op->state = OPS_IDLE;
    event_del(&op->tev);
    if (!imds) {
        drop_expired_creds(c);
        if (!creds_usable(c)) {
            if (c->imds.enabled && imds_kick(c)) {
                double left = op->wait_deadline - mono_now();
                if (op->wait_deadline == 0) {
                    op->wait_deadline = mono_now() + c->request_timeout_ms / 1000.0;
                    left = c->request_timeout_ms / 1000.0;
                }
                struct timeval tv = tv_of(left);
                op->state = OPS_WAIT_CREDS;
                evtimer_add(&op->tev, &tv);
            } else {
                finish_later(op, S3_NO_CREDENTIALS, "NoCredentials",
                             "no AWS credentials available");
            }
            return;
        }
    }

    response_reset(op);
    if (!(imds ? prepare_imds(op, &url, err, sizeof(err))
               : prepare_s3(op, &url, err, sizeof(err)))) {
        finish_later(op, S3_ERROR, "InternalError", err);
        return;
    }

    CURL *e = curl_easy_init();
    if (!e) {
        free(url);
        finish_later(op, S3_ERROR, "InternalError", "out of memory");
        return;
    }
    long connect_ms = c->connect_timeout_ms;
    long total_ms = op->timeout_ms;
    if (connect_ms > total_ms)
        connect_ms = total_ms;
    if (imds) {
        if (total_ms > IMDS_MAX_TIMEOUT_MS)
            total_ms = IMDS_MAX_TIMEOUT_MS;
        if (connect_ms > total_ms)
            connect_ms = total_ms;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)op);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, op->hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, op);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, op);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, op->errbuf);
    /* Keys are sent exactly as signed: no "/../" squashing. */
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    /* Wait for a connection being set up rather than open another. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (imds)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");   /* link-local, never proxied */
    const char *method = op_info[op->kind].method;
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    }
    free(url);   /* curl copies CURLOPT_URL */

    op->easy = e;
    op->attempts++;
    op->state = OPS_RUNNING;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        op->easy = NULL;
        finish_later(op, S3_ERROR, "InternalError", "curl_multi_add_handle failed");
    }
}

static bool retryable_code(const char *code)
{
    static const char *const codes[] = {
        "SlowDown", "Throttling", "ThrottlingException", "ThrottledException",
        "RequestThrottled", "RequestLimitExceeded", "TooManyRequestsException",
        "RequestTimeout", "InternalError", "ServiceUnavailable",
    };
    if (!code)
        return false;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static void schedule_retry(struct s3_op *op)
{
    double ceiling = S3_BACKOFF_BASE_MS * pow(2.0, op->attempts - 1);
    if (ceiling > S3_BACKOFF_CAP_MS)
        ceiling = S3_BACKOFF_CAP_MS;
    double delay_ms = rng_uniform() * ceiling;
    struct timeval tv = tv_of(delay_ms / 1000.0);

    metrics_s3_retry(op_info[op->kind].metric);
    log_debug("S3 %s attempt %d failed (%s), retrying in %.0f ms",
              op_info[op->kind].name, op->attempts,
              op->code ? op->code : "error", delay_ms);
    op->state = OPS_BACKOFF;
    evtimer_add(&op->tev, &tv);
}

/* One transfer of OP ended with RC: classify, retry or complete. */
static void transfer_done(struct s3_op *op, CURLcode rc)
{
    long status = 0;
    bool retry = false;

    curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &status);
    op_release_transfer(op);
    op->state = OPS_IDLE;
    op->http_status = status;
    s3xml_list_free(&op->list);

    if (rc != CURLE_OK) {
        if (rc == CURLE_WRITE_ERROR && op->body.overflow) {
            set_outcome(op, S3_ERROR, "ResponseTooLarge",
                        "the S3 response body exceeded the client's limit");
        } else {
            /* code: curl's short text; message: the detail (address, errno) */
            set_outcome(op, S3_UNREACHABLE, curl_easy_strerror(rc),
                        op->errbuf[0] ? op->errbuf : NULL);
            op->http_status = 0;
            retry = true;
        }
    } else if (status >= 200 && status < 300) {
        set_outcome(op, S3_OK, NULL, NULL);
        if (op->kind == OP_LIST_OBJECTS) {
            char err[256];
            if (s3xml_parse_list(op->body.p, op->body.len, &op->list,
                                 err, sizeof(err)) < 0)
                set_outcome(op, S3_ERROR, "MalformedResponse", err);
        }
    } else {
        struct s3xml_error xe = { 0 };
        char scode[16];

        if (op->body.len > 0 && op->public)
            s3xml_parse_error(op->body.p, op->body.len, &xe);
        /* Body-less answers (HEAD) are named after their status, as
         * botocore does: code "403", message "Forbidden". */
        snprintf(scode, sizeof(scode), "%ld", status);
        set_outcome(op, status == 404 ? S3_NOT_FOUND : S3_ERROR,
                    xe.code ? xe.code : scode,
                    xe.message ? xe.message : op->reason);
        s3xml_error_free(&xe);
        if (status == 500 || status == 502 || status == 503 || status == 504 ||
            status == 429 || retryable_code(op->code))
            retry = true;
    }

    if (retry && op->attempts < op->max_attempts) {
        schedule_retry(op);
        return;
    }
    op_complete(op);
}

static void check_multi_info(struct s3_client *c)
{
    CURLMsg *msg;
    int left;

    /* Read one message at a time: a completion callback may cancel other
     * operations, which removes their messages from curl's queue. */
    while (!c->free_pending && (msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            transfer_done((struct s3_op *)priv, rc);
    }
}

/* ------------------------------------------------------------------ IMDS */

static void imds_schedule(struct s3_client *c, double delay)
{
    struct timeval tv = tv_of(delay);
    evtimer_del(&c->imds.timer);
    evtimer_add(&c->imds.timer, &tv);
}

static bool imds_step(struct s3_client *c, enum op_kind kind)
{
    struct s3_op *op = op_new(c, kind, NULL, NULL);
    int n;

    if (!op)
        return false;
    switch (kind) {
    case OP_IMDS_TOKEN:
        n = asprintf(&op->url, "%s/latest/api/token", c->imds.base);
        break;
    case OP_IMDS_ROLE:
        n = asprintf(&op->url, "%s/latest/meta-data/iam/security-credentials/",
                     c->imds.base);
        break;
    default: {
        char *role = sigv4_uri_encode(c->imds.role, false);
        n = role ? asprintf(&op->url, "%s/latest/meta-data/iam/security-credentials/%s",
                            c->imds.base, role) : -1;
        free(role);
        break;
    }
    }
    if (n < 0) {
        op->url = NULL;
        op_unlink(op);
        op_free(op);
        return false;
    }
    c->imds.op = op;
    start_attempt(op);
    return true;
}

/* Fail every operation waiting for credentials (from the loop). */
static void fail_waiting(struct s3_client *c, const char *why)
{
    for (struct s3_op *op = c->ops; op; op = op->next)
        if (op->state == OPS_WAIT_CREDS)
            finish_later(op, S3_NO_CREDENTIALS, "NoCredentials", why);
}

static void start_waiting(struct s3_client *c)
{
    /* start_attempt never runs a callback, so the list stays intact. */
    for (struct s3_op *op = c->ops; op; op = op->next)
        if (op->state == OPS_WAIT_CREDS)
            start_attempt(op);
}

static void imds_fetch_failed(struct s3_client *c, const struct s3_op *op,
                              const char *why)
{
    char msg[300];

    c->imds.fetching = false;
    c->imds.failures++;
    c->imds.last_failure = mono_now();
    metrics_s3_call(METRICS_S3_IMDS, op ? metric_outcome(op) : METRICS_S3_CLIENT_ERROR,
                    mono_now() - c->imds.fetch_start);
    drop_expired_creds(c);

    double delay = IMDS_RETRY_MIN * pow(2.0, c->imds.failures - 1);
    if (delay > IMDS_RETRY_MAX)
        delay = IMDS_RETRY_MAX;
    /* Retry sooner than the back-off if the old credentials expire first. */
    if (c->creds.source != CREDS_NONE) {
        double left = c->creds.expiration - wall_now();
        if (left > 0 && left / 2 < delay)
            delay = fmax(left / 2, IMDS_RETRY_MIN);
    }
    snprintf(msg, sizeof(msg), "no AWS credentials available: instance metadata: %s", why);
    log_warn("could not fetch AWS credentials from instance metadata at %s: %s "
             "(%s; next try in %.0f s)", c->imds.base, why,
             c->creds.source != CREDS_NONE ? "keeping the current ones until they expire"
                                           : "none held", delay);
    imds_schedule(c, delay);
    if (!creds_usable(c))
        fail_waiting(c, msg);
}

static void imds_got_creds(struct s3_client *c, struct creds *nc)
{
    double now = wall_now();
    double at = creds_refresh_at(now, nc->expiration);
    bool first = c->creds.source == CREDS_NONE;

    c->imds.fetching = false;
    c->imds.failures = 0;
    c->imds.last_failure = 0;
    metrics_s3_call(METRICS_S3_IMDS, METRICS_S3_OK, mono_now() - c->imds.fetch_start);
    creds_replace(&c->creds, nc);
    publish_expiry(c);
    log_info("AWS credentials %s from instance metadata (role %s), valid for %.0f s, "
             "refresh in %.0f s", first ? "obtained" : "refreshed",
             c->imds.role ? c->imds.role : "?", c->creds.expiration - now, at - now);
    imds_schedule(c, at - now);
    start_waiting(c);
}

/* An IMDS step completed (after its own retries). */
static void imds_step_done(struct s3_op *op)
{
    struct s3_client *c = op->c;
    char err[256];

    if (c->imds.op == op)
        c->imds.op = NULL;
    if (op->status != S3_OK) {
        if (op->http_status == 401 && op->kind != OP_IMDS_TOKEN &&
            c->imds.token_restarts++ == 0) {
            /* The session token expired or was revoked: get a new one. */
            replace_str(&c->imds.token, NULL);
            if (imds_step(c, OP_IMDS_TOKEN))
                return;
        }
        if (op->http_status)
            snprintf(err, sizeof(err), "%s: HTTP %ld", op_info[op->kind].name,
                     op->http_status);
        else
            snprintf(err, sizeof(err), "%s: %s", op_info[op->kind].name,
                     op->code ? op->code : "error");
        imds_fetch_failed(c, op, err);
        return;
    }

    const char *body = op->body.p ? op->body.p : "";
    switch (op->kind) {
    case OP_IMDS_TOKEN: {
        char *t = dup_trimmed(body, op->body.len);
        if (!t || !*t || strpbrk(t, "\r\n")) {
            free(t);
            imds_fetch_failed(c, op, "empty or invalid session token");
            return;
        }
        replace_str(&c->imds.token, t);
        c->imds.token_expiry = mono_now() + IMDS_TOKEN_TTL - 60;
        if (!imds_step(c, OP_IMDS_ROLE))
            imds_fetch_failed(c, NULL, "out of memory");
        return;
    }
    case OP_IMDS_ROLE: {
        size_t n = strcspn(body, "\r\n");
        char *role = dup_trimmed(body, n);
        if (!role || !*role || strchr(role, '/')) {
            free(role);
            imds_fetch_failed(c, op, "no IAM role attached to this instance");
            return;
        }
        replace_str(&c->imds.role, role);
        if (!imds_step(c, OP_IMDS_CREDS))
            imds_fetch_failed(c, NULL, "out of memory");
        return;
    }
    case OP_IMDS_CREDS: {
        struct creds nc;
        if (creds_parse_imds(body, op->body.len, &nc, err, sizeof(err)) < 0) {
            imds_fetch_failed(c, op, err);
            return;
        }
        if (nc.expiration <= wall_now() + 1) {
            creds_clear(&nc);
            imds_fetch_failed(c, op, "credentials already expired");
            return;
        }
        imds_got_creds(c, &nc);
        return;
    }
    default:
        return;
    }
}

/* Start a credential fetch unless one is running. False when none can start. */
static bool imds_begin(struct s3_client *c)
{
    if (c->imds.fetching)
        return true;
    c->imds.fetching = true;
    c->imds.token_restarts = 0;
    c->imds.fetch_start = mono_now();
    evtimer_del(&c->imds.timer);
    bool have_token = c->imds.token && mono_now() < c->imds.token_expiry;
    if (!imds_step(c, have_token ? OP_IMDS_ROLE : OP_IMDS_TOKEN)) {
        c->imds.fetching = false;
        return false;
    }
    return true;
}

/*
 * An operation needs credentials and has none: true if a fetch is (now) in
 * progress and the operation should wait for it. After a failed fetch,
 * requests do not start fetches of their own: each would wait for IMDS
 * timeouts (seconds) only to fail again. They fail at once with
 * S3_NO_CREDENTIALS while the back-off timer keeps trying.
 */
static bool imds_kick(struct s3_client *c)
{
    if (c->imds.fetching)
        return true;
    if (c->imds.last_failure > 0)
        return false;
    return imds_begin(c);
}

static void imds_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_client *c = arg;

    (void)fd;
    (void)what;
    enter(c);
    drop_expired_creds(c);
    imds_begin(c);
    leave(c);
}

/* ------------------------------------------------------------ public API */

int s3_global_init(char *err, size_t errlen)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        errbuf_set(err, errlen, "curl_global_init: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

struct s3_client *s3_client_new(struct event_base *base, const struct cfg *cfg,
                                char *err, size_t errlen)
{
    struct s3_client *c = calloc(1, sizeof(*c));
    char cerr[256] = "";

    if (!c) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->cfg = cfg;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
    c->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 10000;
    c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 3;
    evtimer_assign(&c->timer, base, on_timer_event, c);
    evtimer_assign(&c->imds.timer, base, imds_timer_cb, c);

    if (!cfg->bucket || !*cfg->bucket) {
        errbuf_set(err, errlen, "s3.bucket is not set");
        goto fail;
    }
    const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
    if (endpoint_init(&c->api, cfg->endpoint, cfg->bucket, region, cfg->path_style,
                      err, errlen) < 0)
        goto fail;
    if (endpoint_init(&c->pub, cfg->public_endpoint && *cfg->public_endpoint
                                   ? cfg->public_endpoint : cfg->endpoint,
                      cfg->bucket, region, cfg->path_style, err, errlen) < 0)
        goto fail;

    c->multi = curl_multi_init();
    if (!c->multi) {
        errbuf_set(err, errlen, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)S3_MAX_HOST_CONNECTIONS);
    /* Keep that many idle connections for reuse instead of curl's default
     * of four per added handle, which shrinks as handles finish. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)S3_MAX_HOST_CONNECTIONS);

    int src = creds_resolve_static(cfg, &c->creds, cerr, sizeof(cerr));
    if (src < 0) {
        errbuf_set(err, errlen, "AWS credentials: %s", cerr);
        goto fail;
    }
    if (src != CREDS_NONE) {
        c->static_creds = true;
        c->creds.expiration = 0;
        log_info("using AWS credentials from the %s", creds_source_name(c->creds.source));
    } else {
        const char *ep = cfg->imds_endpoint && *cfg->imds_endpoint
                         ? cfg->imds_endpoint : "http://169.254.169.254";
        c->imds.enabled = true;
        c->imds.base = strdup(ep);
        if (!c->imds.base) {
            errbuf_set(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t n = strlen(c->imds.base); n > 0 && c->imds.base[n - 1] == '/'; n--)
            c->imds.base[n - 1] = '\0';
        /* Fetch now so that credentials are usually there before the first
         * request; that request waits if not. */
        imds_begin(c);
    }
    publish_expiry(c);
    return c;

fail:
    client_destroy(c);
    return NULL;
}

static void client_destroy(struct s3_client *c)
{
    while (c->ops) {
        struct s3_op *op = c->ops;
        op_unlink(op);
        op_free(op);
    }
    event_del(&c->imds.timer);
    if (c->multi) {
        curl_multi_cleanup(c->multi);
        c->multi = NULL;
    }
    event_del(&c->timer);
    while (c->socks) {
        struct s3_sock *sk = c->socks;
        c->socks = sk->next;
        event_del(&sk->ev);
        free(sk);
    }
    endpoint_free(&c->api);
    endpoint_free(&c->pub);
    sigv4_cache_wipe(&c->sigcache);
    creds_clear(&c->creds);
    free(c->imds.base);
    if (c->imds.token)
        OPENSSL_cleanse(c->imds.token, strlen(c->imds.token));
    free(c->imds.token);
    free(c->imds.role);
    free(c);
}

void s3_client_free(struct s3_client *c)
{
    if (!c)
        return;
    if (c->depth > 0) {
        /* Inside one of our callbacks: cancel now, free on the way out. */
        while (c->ops) {
            struct s3_op *op = c->ops;
            op_unlink(op);
            op_free(op);
        }
        c->imds.op = NULL;
        event_del(&c->imds.timer);
        c->free_pending = true;
        return;
    }
    client_destroy(c);
}

static struct s3_op *start_public(struct s3_client *c, enum op_kind kind,
                                  const char *key, s3_done_cb cb, void *arg)
{
    if (!c || c->free_pending || (kind != OP_HEAD_BUCKET && kind != OP_LIST_OBJECTS &&
                                  (!key || !*key)))
        return NULL;
    struct s3_op *op = op_new(c, kind, cb, arg);
    if (!op)
        return NULL;
    op->raw_path = object_path(&c->api, kind == OP_HEAD_BUCKET || kind == OP_LIST_OBJECTS
                                        ? NULL : key);
    if (!op->raw_path) {
        op_unlink(op);
        op_free(op);
        return NULL;
    }
    return op;
}

struct s3_op *s3_head_object(struct s3_client *c, const char *key,
                             s3_done_cb cb, void *arg)
{
    struct s3_op *op = start_public(c, OP_HEAD_OBJECT, key, cb, arg);
    if (op)
        start_attempt(op);
    return op;
}

struct s3_op *s3_head_bucket(struct s3_client *c, s3_done_cb cb, void *arg)
{
    struct s3_op *op = start_public(c, OP_HEAD_BUCKET, NULL, cb, arg);
    if (op)
        start_attempt(op);
    return op;
}

struct s3_op *s3_probe_bucket(struct s3_client *c, s3_done_cb cb, void *arg)
{
    struct s3_op *op = start_public(c, OP_HEAD_BUCKET, NULL, cb, arg);
    if (op) {
        op->max_attempts = 1;
        if (op->timeout_ms > S3_PROBE_TIMEOUT_MS)
            op->timeout_ms = S3_PROBE_TIMEOUT_MS;
        start_attempt(op);
    }
    return op;
}

static bool add_query(struct s3_op *op, const char *name, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return false;
    op->query[op->n_query].name = name;
    op->query[op->n_query++].value = v;
    return true;
}

struct s3_op *s3_list_objects(struct s3_client *c, const char *prefix,
                              int max_keys, const char *token,
                              s3_done_cb cb, void *arg)
{
    struct s3_op *op = start_public(c, OP_LIST_OBJECTS, NULL, cb, arg);
    char mk[16];
    bool ok;

    if (!op)
        return NULL;
    if (max_keys < 1)
        max_keys = 1;
    if (max_keys > 1000)
        max_keys = 1000;
    snprintf(mk, sizeof(mk), "%d", max_keys);
    ok = add_query(op, "list-type", "2") && add_query(op, "max-keys", mk);
    if (ok && prefix && *prefix)
        ok = add_query(op, "prefix", prefix);
    if (ok && token && *token)
        ok = add_query(op, "continuation-token", token);
    if (!ok) {
        op_unlink(op);
        op_free(op);
        return NULL;
    }
    start_attempt(op);
    return op;
}

struct s3_op *s3_delete_object(struct s3_client *c, const char *key,
                               s3_done_cb cb, void *arg)
{
    struct s3_op *op = start_public(c, OP_DELETE_OBJECT, key, cb, arg);
    if (op)
        start_attempt(op);
    return op;
}

void s3_cancel(struct s3_op *op)
{
    if (!op || !op->public)
        return;
    op_unlink(op);
    op_free(op);
}

size_t s3_inflight(const struct s3_client *c)
{
    return c ? c->inflight : 0;
}

enum s3_status s3_presign(struct s3_client *c, const char *method, const char *key,
                          const char *content_type, int64_t content_length,
                          long expires, struct s3_presigned *out,
                          char *err, size_t errlen)
{
    struct sigv4_kv hdrs[2];
    size_t n_hdrs = 0;
    char clen[24];

    memset(out, 0, sizeof(*out));
    if (!c || !method || !key || !*key) {
        errbuf_set(err, errlen, "no object key to presign");
        return S3_ERROR;
    }
    if (strcmp(method, "PUT") == 0) {
        out->method = "PUT";
    } else if (strcmp(method, "GET") == 0) {
        out->method = "GET";
    } else {
        errbuf_set(err, errlen, "cannot presign method %s", method);
        return S3_ERROR;
    }
    if (expires < 1) {
        errbuf_set(err, errlen, "expiry must be at least one second");
        return S3_ERROR;
    }
    if (expires > S3_MAX_EXPIRES)
        expires = S3_MAX_EXPIRES;

    drop_expired_creds(c);
    if (!creds_usable(c)) {
        errbuf_set(err, errlen, "no AWS credentials available");
        return S3_NO_CREDENTIALS;
    }
    double now = wall_now();
    if (c->creds.expiration > 0) {
        /* A URL must not outlive the credentials that signed it: S3 would
         * refuse it with a confusing 403 once they expire. */
        double left = floor(c->creds.expiration - now - S3_PRESIGN_MARGIN);
        if (left < 1) {
            errbuf_set(err, errlen, "no AWS credentials available: the current ones "
                    "expire in %.0f s and have not been refreshed yet",
                    c->creds.expiration - now);
            return S3_NO_CREDENTIALS;
        }
        if (left < (double)expires)
            expires = (long)left;
    }

    if (out->method[0] == 'P') {
        if (content_type && *content_type)
            hdrs[n_hdrs++] = (struct sigv4_kv){ "content-type", content_type };
        if (content_length >= 0) {
            snprintf(clen, sizeof(clen), "%lld", (long long)content_length);
            hdrs[n_hdrs++] = (struct sigv4_kv){ "content-length", clen };
        }
    }
    char *path = object_path(&c->pub, key);
    if (!path) {
        errbuf_set(err, errlen, "out of memory");
        return S3_ERROR;
    }
    struct sigv4_creds sc = {
        .access_key_id = c->creds.access_key_id,
        .secret_access_key = c->creds.secret_access_key,
        .session_token = c->creds.session_token,
    };
    struct sigv4_request req = {
        .method = out->method,
        .host = c->pub.host,
        .path = path,
        .headers = hdrs,
        .n_headers = n_hdrs,
        .region = c->cfg->region && *c->cfg->region ? c->cfg->region : "us-east-1",
        .service = "s3",
        .now = (time_t)now,
    };
    out->url = sigv4_presign_url(&req, c->pub.scheme, expires, &sc, &c->sigcache,
                                 err, errlen);
    free(path);
    if (!out->url)
        return S3_ERROR;
    out->expires_in = expires;
    return S3_OK;
}

void s3_presigned_free(struct s3_presigned *p)
{
    if (!p)
        return;
    free(p->url);
    p->url = NULL;
}

double s3_credentials_expiry(const struct s3_client *c)
{
    if (!c || !creds_usable(c))
        return -1;
    return c->creds.expiration;
}

bool s3_credentials_pending(const struct s3_client *c)
{
    return c && !creds_usable(c) && c->imds.enabled && c->imds.fetching;
}
