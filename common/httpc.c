/*
 * httpc.c - asynchronous HTTP calls on libcurl multi + libevent (see
 * httpc.h).
 *
 * Event plumbing follows curl's hiperfifo.c: curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to wake it (TIMERFUNCTION); we
 * keep one libevent event per socket plus one timer and hand readiness back
 * with curl_multi_socket_action(). Completed transfers are collected from
 * curl_multi_info_read() after each action, outside any curl callback,
 * which is what makes it safe for a done callback to start, cancel or free.
 *
 * A call is in one of three states: a transfer running, backing off before
 * the next attempt, or finishing on a zero timer (an outcome that must not
 * be delivered inside the call that produced it).
 */
#include "httpc.h"
#include "wipealloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "rnd.h"
#include "str.h"

/* Connections kept per host. HTTP/1.1 carries one request at a time, so
 * this bounds the calls a worker overlaps with one host; beyond it curl
 * queues. */
#define HTTPC_MAX_HOST_CONNECTIONS 256
#define HTTPC_SPARE_HANDLES 64
#define HTTPC_BACKOFF_BASE_MS 50.0
#define HTTPC_BACKOFF_CAP_MS  1000.0

enum call_state {
    CALL_IDLE,
    CALL_RUNNING,       /* easy handle in the multi */
    CALL_BACKOFF,       /* tev = start of the next attempt */
    CALL_FINISH,        /* tev (zero) = deliver the stored outcome */
};

struct httpc_sock {
    struct event ev;
    struct httpc *h;
    TAILQ_ENTRY(httpc_sock) link;
};

struct httpc_call {
    struct httpc *h;
    TAILQ_ENTRY(httpc_call) link;
    struct httpc_spec spec;
    httpc_prepare_cb prepare;
    httpc_retry_cb retry;
    httpc_done_cb done;
    void *arg;
    char *req_body;
    size_t req_len;

    enum call_state state;
    CURL *easy;
    char *url;
    struct curl_slist *hdrs;
    struct event tev;
    int attempts;
    int spent;                  /* budget tokens this call's retries took */
    double t_start;
    int64_t deadline_ms;        /* monotonic: the call ends by then; 0: never */

    /* the last attempt's response */
    struct buf body;
    long status;
    int curl_code;
    char *reason, *etag, *last_modified, *content_type, *cache_control;
    int64_t content_length;
    char errbuf[CURL_ERROR_SIZE];
    char prepare_err[256];
    bool prepare_failed;
};

TAILQ_HEAD(call_list, httpc_call);
TAILQ_HEAD(sock_list, httpc_sock);

struct httpc {
    struct event_base *base;
    CURLM *multi;
    struct event timer;         /* curl's timeout */
    struct sock_list socks;
    struct call_list calls;
    size_t inflight;
    int depth;                  /* nesting of our event callbacks */
    bool free_pending;          /* httpc_free ran inside a callback */
    /* Easy handles of finished transfers, reset, for the next ones: making
     * one allocates (and our allocator wipes) its buffers every time. */
    CURL *spare[HTTPC_SPARE_HANDLES];
    int n_spare;
};

/* ------------------------------------------------------------------ life */

static void replace_str(char **slot, char *s)
{
    free(*slot);
    *slot = s;
}

static void response_reset(struct httpc_call *c)
{
    buf_clear(&c->body);
    replace_str(&c->reason, NULL);
    replace_str(&c->etag, NULL);
    replace_str(&c->last_modified, NULL);
    replace_str(&c->content_type, NULL);
    replace_str(&c->cache_control, NULL);
    c->content_length = -1;
    c->status = 0;
    c->curl_code = 0;
    c->errbuf[0] = '\0';
}

/* A transfer's handle back to the spares (reset: no option, header list
 * or buffer pointer of the call survives), or freed when there are enough
 * or when it received secrets (its receive buffer still holds them; freed,
 * our allocator wipes it). */
static void put_handle(struct httpc *h, CURL *e, bool secret)
{
    if (h->n_spare < HTTPC_SPARE_HANDLES && !h->free_pending && !secret) {
        curl_easy_reset(e);
        h->spare[h->n_spare++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static void release_transfer(struct httpc_call *c)
{
    if (c->easy) {
        curl_multi_remove_handle(c->h->multi, c->easy);
        put_handle(c->h, c->easy, c->spec.secret);
        c->easy = NULL;
    }
    /* Headers carry session tokens and signatures. */
    for (struct curl_slist *l = c->hdrs; l; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    replace_str(&c->url, NULL);
}

static void call_unlink(struct httpc_call *c)
{
    TAILQ_REMOVE(&c->h->calls, c, link);
    c->h->inflight--;
}

/* Free C, already unlinked. */
static void call_release(struct httpc_call *c)
{
    release_transfer(c);
    event_del(&c->tev);
    response_reset(c);
    buf_free(&c->body);
    if (c->req_body) {
        if (c->spec.secret)
            OPENSSL_cleanse(c->req_body, c->req_len);
        free(c->req_body);
    }
    free(c);
}

static void call_free(struct httpc_call *c)
{
    call_unlink(c);
    call_release(c);
}

static void destroy(struct httpc *h)
{
    while (!TAILQ_EMPTY(&h->calls))
        call_free(TAILQ_FIRST(&h->calls));
    while (h->n_spare > 0)
        curl_easy_cleanup(h->spare[--h->n_spare]);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    event_del(&h->timer);
    while (!TAILQ_EMPTY(&h->socks)) {
        struct httpc_sock *sk = TAILQ_FIRST(&h->socks);
        TAILQ_REMOVE(&h->socks, sk, link);
        event_del(&sk->ev);
        free(sk);
    }
    free(h);
}

static void enter(struct httpc *h)
{
    h->depth++;
}

static void leave(struct httpc *h)
{
    if (--h->depth == 0 && h->free_pending)
        destroy(h);
}

/* -------------------------------------------------------------- outcome */

static void complete(struct httpc_call *c)
{
    struct httpc_response res;

    c->state = CALL_IDLE;
    event_del(&c->tev);
    memset(&res, 0, sizeof res);
    res.status = c->status;
    res.curl_code = c->curl_code;
    res.prepare_failed = c->prepare_failed;
    if (c->prepare_failed)
        res.error = c->prepare_err;
    else if (c->curl_code)
        res.error = curl_easy_strerror((CURLcode)c->curl_code);
    res.error_detail = c->errbuf;
    res.reason = c->reason;
    res.etag = c->etag;
    res.last_modified = c->last_modified;
    res.content_type = c->content_type;
    res.cache_control = c->cache_control;
    res.content_length = c->content_length;
    res.body = c->body.p ? c->body.p : "";
    res.body_len = c->body.len;
    res.body_too_large = c->body.overflow;
    res.attempts = c->attempts;
    res.seconds = clock_mono() - c->t_start;
    httpc_done_cb done = c->done;
    void *arg = c->arg;
    /* Off the list before its callback runs, so that a callback that frees
     * the engine does not free C under our feet; RES points into C, which
     * goes right after. */
    call_unlink(c);
    if (done)
        done(&res, arg);
    call_release(c);
}

static void finish_later(struct httpc_call *c)
{
    struct timeval zero = { 0, 0 };

    release_transfer(c);
    c->state = CALL_FINISH;
    event_del(&c->tev);
    evtimer_add(&c->tev, &zero);
}

/* ------------------------------------------------------------ attempts */

static void start_attempt(struct httpc_call *c);

static void on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    struct httpc_call *c = arg;
    struct httpc *h = c->h;

    (void)fd;
    (void)what;
    enter(h);
    if (c->state == CALL_BACKOFF)
        start_attempt(c);
    else if (c->state == CALL_FINISH)
        complete(c);
    leave(h);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct httpc_call *c = ud;
    size_t len = size * nmemb;

    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): start over. */
        replace_str(&c->etag, NULL);
        replace_str(&c->last_modified, NULL);
        replace_str(&c->content_type, NULL);
        replace_str(&c->cache_control, NULL);
        c->content_length = -1;
        const char *sp = memchr(data, ' ', len);
        const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - data)) : NULL;
        replace_str(&c->reason, sp2 ? str_ndup_trim(sp2 + 1, len - (size_t)(sp2 + 1 - data))
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
        char *s = str_ndup_trim(v, vlen);
        size_t sl = s ? strlen(s) : 0;
        if (s && sl >= 2 && s[0] == '"' && s[sl - 1] == '"') {
            memmove(s, s + 1, sl - 2);
            s[sl - 2] = '\0';
        }
        replace_str(&c->etag, s);
    } else if (nlen == 13 && strncasecmp(data, "last-modified", 13) == 0) {
        replace_str(&c->last_modified, str_ndup_trim(v, vlen));
    } else if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
        replace_str(&c->content_type, str_ndup_trim(v, vlen));
    } else if (nlen == 13 && strncasecmp(data, "cache-control", 13) == 0) {
        replace_str(&c->cache_control, str_ndup_trim(v, vlen));
    } else if (nlen == 14 && strncasecmp(data, "content-length", 14) == 0) {
        char *s = str_ndup_trim(v, vlen), *end;
        if (s) {
            errno = 0;
            long long n = strtoll(s, &end, 10);
            if (!errno && end != s && !*end && n >= 0)
                c->content_length = n;
            free(s);
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct httpc_call *c = ud;
    size_t len = size * nmemb;

    /* Returning less than LEN aborts the transfer (CURLE_WRITE_ERROR). */
    buf_addn(&c->body, data, len);
    return buf_failed(&c->body) ? 0 : len;
}

static void start_attempt(struct httpc_call *c)
{
    struct httpc *h = c->h;

    c->state = CALL_IDLE;
    event_del(&c->tev);
    response_reset(c);
    release_transfer(c);
    c->attempts++;
    if (!c->prepare(c, c->arg, c->prepare_err, sizeof c->prepare_err) || !c->url) {
        if (!c->prepare_err[0])
            snprintf(c->prepare_err, sizeof c->prepare_err, "no URL to call");
        c->prepare_failed = true;
        finish_later(c);
        return;
    }
    CURL *e = h->n_spare ? h->spare[--h->n_spare] : curl_easy_init();
    if (!e) {
        snprintf(c->prepare_err, sizeof c->prepare_err, "out of memory");
        c->prepare_failed = true;
        finish_later(c);
        return;
    }
    long connect_ms = c->spec.connect_timeout_ms;
    long total_ms = c->spec.attempt_timeout_ms;
    if (c->deadline_ms) {
        /* The last attempt gets what is left of the call, no more. */
        int64_t left = c->deadline_ms - clock_mono_ms();
        if (left < 1)
            left = 1;
        if (left < total_ms)
            total_ms = (long)left;
    }
    if (connect_ms > total_ms)
        connect_ms = total_ms;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    /* Paths are sent exactly as signed: no "/../" squashing. */
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    /* No CURLOPT_PIPEWAIT: over HTTP/1.1 it would hold every call back
     * behind the first one on a new connection. */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->spec.no_proxy)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    const char *m = c->spec.method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->req_body ? c->req_body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req_len);
        if (strcmp(m, "PUT") == 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
    c->easy = e;
    c->state = CALL_RUNNING;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        put_handle(h, e, c->spec.secret);
        c->easy = NULL;
        snprintf(c->prepare_err, sizeof c->prepare_err, "curl_multi_add_handle failed");
        c->prepare_failed = true;
        finish_later(c);
    }
}

void httpc_budget_init(struct httpc_budget *b)
{
    b->tokens = HTTPC_BUDGET_MAX;
    b->denied = 0;
}

/* May C try again after a failure (TIMEOUT: a timeout or a broken
 * connection, the costlier kind)? Takes the tokens when it may. */
static bool budget_allows(struct httpc_call *c, bool timeout)
{
    struct httpc_budget *b = c->spec.budget;
    int cost = timeout ? HTTPC_BUDGET_TIMEOUT_COST : HTTPC_BUDGET_RETRY_COST;

    if (!b)
        return true;
    if (b->tokens < cost) {
        b->denied++;
        return false;
    }
    b->tokens -= cost;
    c->spent += cost;
    return true;
}

static void budget_success(struct httpc_call *c)
{
    struct httpc_budget *b = c->spec.budget;

    if (!b)
        return;
    b->tokens += c->spent + 1;
    if (b->tokens > HTTPC_BUDGET_MAX)
        b->tokens = HTTPC_BUDGET_MAX;
    c->spent = 0;
}

static void schedule_retry(struct httpc_call *c)
{
    double ceiling = HTTPC_BACKOFF_BASE_MS * pow(2.0, c->attempts - 1);
    if (ceiling > HTTPC_BACKOFF_CAP_MS)
        ceiling = HTTPC_BACKOFF_CAP_MS;
    double delay_ms = rnd_uniform() * ceiling;
    if (c->deadline_ms) {
        /* Leave the attempt most of what remains of the call. */
        double left = (double)(c->deadline_ms - clock_mono_ms());
        if (delay_ms > left / 4)
            delay_ms = left > 0 ? left / 4 : 0;
    }
    struct timeval tv = clock_tv(delay_ms / 1000.0);

    log_debug("%s attempt %d failed (%s), retrying in %.0f ms", c->spec.name, c->attempts,
              c->curl_code ? curl_easy_strerror((CURLcode)c->curl_code) : "HTTP error",
              delay_ms);
    c->state = CALL_BACKOFF;
    evtimer_add(&c->tev, &tv);
}

static bool status_retryable(long status)
{
    return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

/* One transfer of C ended with RC: retry or complete. */
static void transfer_done(struct httpc_call *c, CURLcode rc)
{
    long status = 0;
    bool retry;

    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    release_transfer(c);
    c->state = CALL_IDLE;
    c->curl_code = (int)rc;
    c->status = rc == CURLE_OK ? status : 0;
    if (rc == CURLE_WRITE_ERROR && c->body.overflow)
        retry = false;      /* a body over the limit is an answer, not a fault */
    else if (rc != CURLE_OK)
        retry = true;
    else if (status >= 200 && status < 400)
        retry = false;
    else
        retry = status_retryable(status);
    if (!retry && rc == CURLE_OK && status >= 400 && c->retry) {
        struct httpc_response res;
        memset(&res, 0, sizeof res);
        res.status = status;
        res.body = c->body.p ? c->body.p : "";
        res.body_len = c->body.len;
        retry = c->retry(&res, c->arg);
    }
    if (rc == CURLE_OK && status >= 200 && status < 400)
        budget_success(c);
    /* Another attempt needs time left (one back-off and a little more)
     * and, with a budget, tokens. */
    bool time_left = !c->deadline_ms ||
                     c->deadline_ms - clock_mono_ms() > (int64_t)HTTPC_BACKOFF_CAP_MS / 10;
    bool timeout = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
                   rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING;
    if (retry && c->attempts < c->spec.max_attempts && time_left &&
        budget_allows(c, timeout)) {
        schedule_retry(c);
        return;
    }
    complete(c);
}

/* ------------------------------------------------------------ curl glue */

static void check_multi_info(struct httpc *h)
{
    CURLMsg *msg;
    int left;

    /* One message at a time: a done callback may cancel other calls,
     * which removes their messages from curl's queue. */
    while (!h->free_pending && (msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            transfer_done((struct httpc_call *)priv, rc);
    }
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *h = arg;
    int running = 0;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) |
                 (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

    enter(h);
    curl_multi_socket_action(h->multi, fd, action, &running);
    /* No "running == 0: delete the timer" as in hiperfifo: a done callback
     * may just have added a transfer, and curl asked for that timer. curl
     * cancels its timer itself (TIMERFUNCTION with -1). */
    check_multi_info(h);
    leave(h);
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *h = arg;
    int running = 0;

    (void)fd;
    (void)what;
    enter(h);
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(h);
    leave(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch S for WHAT (hiperfifo's setsock/remsock). */
static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct httpc_sock *sk = socketp;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            event_del(&sk->ev);
            TAILQ_REMOVE(&h->socks, sk, link);
            free(sk);
            curl_multi_assign(h->multi, s, NULL);
        }
        return 0;
    }
    if (!sk) {
        sk = calloc(1, sizeof *sk);
        if (!sk)
            return -1;
        sk->h = h;
        TAILQ_INSERT_HEAD(&h->socks, sk, link);
        curl_multi_assign(h->multi, s, sk);
    } else {
        event_del(&sk->ev);
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
    event_assign(&sk->ev, h->base, s, kind, on_sock_event, h);
    event_add(&sk->ev, NULL);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed as curl asks. */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct httpc *h = userp;

    (void)m;
    if (timeout_ms < 0) {
        evtimer_del(&h->timer);
    } else {
        struct timeval tv = clock_tv(timeout_ms / 1000.0);
        evtimer_add(&h->timer, &tv);
    }
    return 0;
}

/* ------------------------------------------------------------ public API */

int httpc_global_init(char *err, size_t errlen)
{
    /* curl's receive buffers hold the credentials IMDS sends. */
    CURLcode rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipealloc_malloc, wipealloc_free,
                                       wipealloc_realloc, wipealloc_strdup, wipealloc_calloc);

    if (rc != CURLE_OK) {
        errbuf_set(err, errlen, "curl_global_init: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

struct httpc *httpc_new(struct event_base *base, char *err, size_t errlen)
{
    struct httpc *h = calloc(1, sizeof *h);

    if (!h) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    h->base = base;
    TAILQ_INIT(&h->calls);
    TAILQ_INIT(&h->socks);
    evtimer_assign(&h->timer, base, on_timer_event, h);
    h->multi = curl_multi_init();
    if (!h->multi) {
        errbuf_set(err, errlen, "curl_multi_init failed");
        destroy(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)HTTPC_MAX_HOST_CONNECTIONS);
    /* Keep that many idle connections for reuse instead of curl's default
     * of four per added handle, which shrinks as handles finish. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTPC_MAX_HOST_CONNECTIONS);
    return h;
}

void httpc_free(struct httpc *h)
{
    if (!h)
        return;
    if (h->depth > 0) {
        /* Inside one of our callbacks: cancel now, free on the way out. */
        while (!TAILQ_EMPTY(&h->calls))
            call_free(TAILQ_FIRST(&h->calls));
        h->free_pending = true;
        return;
    }
    destroy(h);
}

struct httpc_call *httpc_start(struct httpc *h, const struct httpc_spec *spec,
                               const void *body, size_t len,
                               httpc_prepare_cb prepare, httpc_retry_cb retry,
                               httpc_done_cb done, void *arg)
{
    if (!h || h->free_pending || !prepare)
        return NULL;
    struct httpc_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = h;
    c->spec = *spec;
    if (c->spec.max_attempts < 1)
        c->spec.max_attempts = 1;
    c->prepare = prepare;
    c->retry = retry;
    c->done = done;
    c->arg = arg;
    c->t_start = clock_mono();
    if (spec->call_timeout_ms > 0)
        c->deadline_ms = clock_mono_ms() + spec->call_timeout_ms;
    c->content_length = -1;
    buf_init(&c->body, NULL, 0);
    c->body.limit = spec->max_body;
    c->body.secret = spec->secret;
    if (body) {
        c->req_body = malloc(len ? len : 1);
        if (!c->req_body) {
            free(c);
            return NULL;
        }
        memcpy(c->req_body, body, len);
        c->req_len = len;
    }
    event_assign(&c->tev, h->base, -1, 0, on_call_timer, c);
    TAILQ_INSERT_TAIL(&h->calls, c, link);
    h->inflight++;
    start_attempt(c);
    return c;
}

void httpc_set_url(struct httpc_call *c, const char *url)
{
    replace_str(&c->url, strdup(url));
}

void httpc_add_header(struct httpc_call *c, const char *name, const char *value)
{
    struct buf line;
    char small[512];

    buf_init(&line, small, sizeof small);
    line.secret = true;
    buf_add(&line, name);
    buf_add(&line, ": ");
    buf_add(&line, value);
    struct curl_slist *n = buf_failed(&line) ? NULL : curl_slist_append(c->hdrs, line.p);
    buf_free(&line);
    if (n)
        c->hdrs = n;
    else
        snprintf(c->prepare_err, sizeof c->prepare_err, "out of memory");
}

void httpc_cancel(struct httpc_call *c)
{
    if (c)
        call_free(c);
}

size_t httpc_inflight(const struct httpc *h)
{
    return h ? h->inflight : 0;
}
