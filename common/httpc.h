/*
 * httpc.h - the asynchronous HTTP client of a worker: libcurl's multi
 * interface driven by the worker's libevent loop (as curl's hiperfifo.c),
 * with retries (full-jitter exponential back-off), a time limit per attempt
 * and per call, and cancellation. S3 calls and instance-metadata fetches go
 * through it; nothing in it knows about either.
 *
 * A call is described once (struct httpc_spec); before each attempt the
 * engine asks the caller's prepare callback for the URL and headers, so
 * that a signature is made afresh for every attempt. The done callback runs
 * exactly once per call that was not cancelled, always from the event
 * loop, never from inside httpc_start() or httpc_cancel(); it may start,
 * cancel or free anything, the engine included.
 */
#ifndef PRESIGND_HTTPC_H
#define PRESIGND_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct httpc;
struct httpc_call;

struct httpc_response {
    long status;                /* HTTP status of the last attempt; 0 when none */
    int curl_code;              /* 0, or curl's error of the last attempt */
    const char *error;          /* curl's short text for curl_code; NULL when 0 */
    const char *error_detail;   /* curl's error buffer (address, errno); may be "" */
    bool prepare_failed;        /* the prepare callback ended the call; error says why */
    const char *reason;         /* reason phrase of the status line, or NULL */
    const char *etag;           /* without quotes */
    const char *last_modified, *content_type, *cache_control;
    int64_t content_length;     /* -1 when absent */
    const char *body;           /* NUL-terminated; "" when none */
    size_t body_len;
    bool body_too_large;        /* above spec.max_body: the transfer was cut */
    int attempts;
    double seconds;             /* the whole call, retries included */
};

/* Set the URL and headers of the attempt about to start; false with ERR
 * filled ends the call (prepare_failed) without another attempt. */
typedef bool (*httpc_prepare_cb)(struct httpc_call *call, void *arg, char *err, size_t errlen);
/* Besides connection errors and 500/502/503/504/429, which are always
 * retried: is this answer worth another attempt? NULL: no more. */
typedef bool (*httpc_retry_cb)(const struct httpc_response *res, void *arg);
typedef void (*httpc_done_cb)(const struct httpc_response *res, void *arg);

/*
 * A retry budget (the AWS SDKs' "standard" retry mode): a token bucket,
 * shared by the calls that point at it. A retry takes RETRY_COST tokens
 * (TIMEOUT_COST after a timeout or a broken connection); a call that
 * succeeds puts back what its retries took, and one more. With the bucket
 * empty a failing call is not tried again: a dependency that fails every
 * time then sees one attempt per call, not max_attempts.
 */
#define HTTPC_BUDGET_MAX          500
#define HTTPC_BUDGET_RETRY_COST   5
#define HTTPC_BUDGET_TIMEOUT_COST 10

struct httpc_budget {
    int tokens;                 /* start at HTTPC_BUDGET_MAX */
    uint64_t denied;            /* retries refused for want of tokens */
};

void httpc_budget_init(struct httpc_budget *b);

struct httpc_spec {
    const char *method;         /* "GET", "HEAD", "PUT", "POST", "DELETE" */
    const char *name;           /* what the logs call it: "HeadObject" */
    int max_attempts;           /* >= 1 */
    long attempt_timeout_ms;    /* each attempt */
    long call_timeout_ms;       /* the whole call, back-offs included; 0: none */
    struct httpc_budget *budget; /* retries draw on it; NULL: no budget */
    long connect_timeout_ms;
    size_t max_body;            /* response bytes kept; more ends the attempt */
    bool no_proxy;              /* link-local services: never through a proxy */
    bool secret;                /* body and headers hold secrets: wipe them */
};

/* Process-wide libcurl set-up: once, before any client and before forking
 * workers (curl_global_init is not safe to repeat). 0, or -1 with ERR. */
int httpc_global_init(char *err, size_t errlen);
void httpc_global_cleanup(void);

struct httpc *httpc_new(struct event_base *base, char *err, size_t errlen);
/* Cancels every call (no callbacks) and frees; safe inside a callback. */
void httpc_free(struct httpc *h);

/*
 * Start a call. BODY (LEN bytes, copied) is the request body of a PUT or
 * POST, NULL for none. Returns the call, or NULL when it cannot even be
 * set up (out of memory, or H is being freed).
 */
struct httpc_call *httpc_start(struct httpc *h, const struct httpc_spec *spec,
                               const void *body, size_t len,
                               httpc_prepare_cb prepare, httpc_retry_cb retry,
                               httpc_done_cb done, void *arg);

/* From a prepare callback: the attempt's URL (copied) and headers. */
void httpc_set_url(struct httpc_call *call, const char *url);
void httpc_add_header(struct httpc_call *call, const char *name, const char *value);

/* The done callback of CALL will not run; safe from any callback but
 * CALL's own. NULL is ignored. */
void httpc_cancel(struct httpc_call *call);

/* Calls started and neither completed nor cancelled. */
size_t httpc_inflight(const struct httpc *h);

#endif
