/*
 * api.c - the HTTP API of presignd on one worker's evhttp (see api.h):
 * routing, request validation, the handler of every route, CORS, request
 * ids, and the access log line and request metrics of every response.
 *
 * Each request gets a struct api_req when evhttp hands it over and loses it
 * when its answer goes back to evhttp, or when the client goes away while an
 * S3 call is in flight. That makes api_inflight() exact (the worker drains on
 * it) and guarantees that an S3 callback never touches a request evhttp has
 * freed: a request whose connection closes has its S3 operation cancelled.
 *
 * Presigning is local (no S3 call); /download-url, /files, DELETE and
 * /health each make one asynchronous S3 call, so a worker overlaps as many of
 * them as clients send.
 */
#include "api.h"

#include "config.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "s3.h"

#include <sys/queue.h>          /* TAILQ_FOREACH over the request headers */

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>   /* the request's HTTP version */
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PRESIGND_VERSION
#define PRESIGND_VERSION "0.0.0"
#endif

/* JSON bodies are flat objects: anything nested deeper is refused early. */
#define API_JSON_DEPTH 8
/* evhttp's own body limit sits this far above server.max_body_size so that
 * a body a little too large still reaches us and gets our JSON 413. */
#define API_BODY_SLACK 65536
/* Longest raw path written to the access log for unknown routes. */
#define API_LOG_PATH_MAX 256
#define API_MAX_TOKEN_BYTES 1024
#define API_MAX_FILENAME_INPUT 4096

enum route {
    R_ROOT,
    R_UPLOAD,
    R_DOWNLOAD,
    R_FILES,
    R_FILE,
    R_HEALTH,
    R_METRICS,
    R_OPENAPI,
    R_DOCS,
    R_NONE,
};

#define M_GET (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

static const struct route_def {
    const char *label;              /* route label in the log and metrics */
    unsigned methods;               /* evhttp_cmd_type bits, OPTIONS implied */
    const char *allow;              /* Allow header / preflight methods */
    enum metrics_route metric;
} routes[] = {
    [R_ROOT]     = { "/", M_GET, "GET, HEAD, OPTIONS", METRICS_ROUTE_ROOT },
    [R_UPLOAD]   = { "/upload-url", EVHTTP_REQ_POST, "POST, OPTIONS", METRICS_ROUTE_UPLOAD_URL },
    [R_DOWNLOAD] = { "/download-url", EVHTTP_REQ_POST, "POST, OPTIONS", METRICS_ROUTE_DOWNLOAD_URL },
    [R_FILES]    = { "/files", M_GET, "GET, HEAD, OPTIONS", METRICS_ROUTE_FILES },
    [R_FILE]     = { "/files/{key}", EVHTTP_REQ_DELETE, "DELETE, OPTIONS", METRICS_ROUTE_FILE },
    [R_HEALTH]   = { "/health", M_GET, "GET, HEAD, OPTIONS", METRICS_ROUTE_HEALTH },
    [R_METRICS]  = { "/metrics", M_GET, "GET, HEAD, OPTIONS", METRICS_ROUTE_METRICS },
    [R_OPENAPI]  = { "/openapi.json", M_GET, "GET, HEAD, OPTIONS", METRICS_ROUTE_OPENAPI },
    [R_DOCS]     = { "/docs", M_GET, "GET, HEAD, OPTIONS", METRICS_ROUTE_DOCS },
    [R_NONE]     = { "other", 0, "", METRICS_ROUTE_OTHER },
};

/* Flags of reply(). */
#define REPLY_NO_STORE 1u   /* Cache-Control: no-store */

struct api;

/* One evhttp the API is attached to; METRICS_ONLY for server.metrics_listen. */
struct api_listener {
    struct api *api;
    int metrics_only;
};

struct api_req {
    struct api *api;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    enum route route;
    const char *method;
    char id[HTTP_REQUEST_ID_MAX + 1];
    char *path;                 /* what the access log shows, never a query */
    char remote[64];
    struct timespec t0;         /* monotonic, when evhttp handed it over */
    double s3_seconds;
    int s3_used;
    char *cors_origin;          /* value of Access-Control-Allow-Origin, or NULL */
    struct s3_op *op;           /* the S3 call in flight, or NULL */
    int async;                  /* closecb installed on evcon (waiting for S3) */
    int sending;                /* answered; evhttp is writing it out */
    struct event *watch;        /* EOF watch on the client socket, or NULL */
    int health_waiting;
    char *key;                  /* key of /download-url and DELETE */
    struct api_req *prev, *next;        /* api->reqs */
    struct api_req *hprev, *hnext;      /* api->health_waiters */
};

struct health_result {
    int ok;
    char error_code[32];
    char detail[256];
};

struct api {
    struct event_base *base;
    const struct cfg *cfg;
    struct s3_client *s3;
    struct evhttp *http;
    struct api_listener main_l;
    struct api_listener metrics_l;
    int draining;
    size_t inflight;
    struct api_req *reqs;

    char *openapi;
    size_t openapi_len;
    char *root_json;
    size_t root_len;
    char *allow_headers;        /* cors.allow_headers joined with ", " */
    struct json_tokener *tok;   /* reused for every body (one thread) */
    char max_age[24];
    char pid[16];

    /* /health: one HeadBucket at a time, its answer shared and cached. */
    struct s3_op *health_op;
    struct api_req *health_waiters;
    int health_have;
    struct timespec health_at;
    struct health_result health;
};

/* ---- small helpers ---------------------------------------------------- */

static double elapsed(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:     return "GET";
    case EVHTTP_REQ_POST:    return "POST";
    case EVHTTP_REQ_HEAD:    return "HEAD";
    case EVHTTP_REQ_PUT:     return "PUT";
    case EVHTTP_REQ_DELETE:  return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE:   return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH:   return "PATCH";
    default:                 return "OTHER";
    }
}

static char *join(char **items, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 2;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", items[i]);
    return s;
}

static void add_string(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* ---- request lifecycle ------------------------------------------------ */

static void health_unlink(struct api_req *r)
{
    struct api *api = r->api;

    if (!r->health_waiting)
        return;
    if (r->hprev)
        r->hprev->hnext = r->hnext;
    else
        api->health_waiters = r->hnext;
    if (r->hnext)
        r->hnext->hprev = r->hprev;
    r->hprev = r->hnext = NULL;
    r->health_waiting = 0;
}

static void req_free(struct api_req *r)
{
    struct api *api = r->api;

    health_unlink(r);
    if (r->watch)
        event_free(r->watch);
    if (r->prev)
        r->prev->next = r->next;
    else
        api->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    api->inflight--;
    free(r->path);
    free(r->cors_origin);
    free(r->key);
    free(r);
}

/* A bounded line buffer; once something does not fit, the line is dropped
 * rather than cut (a cut line would not parse). */
struct line {
    char buf[2048];
    size_t pos;
    int full;
};

static void line_raw(struct line *l, const char *s)
{
    size_t n = strlen(s);

    if (l->full || l->pos + n >= sizeof l->buf) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->pos, s, n);
    l->pos += n;
}

static void line_str(struct line *l, const char *s)
{
    line_raw(l, "\"");
    if (!l->full) {
        l->pos = http_json_escape(l->buf, l->pos, sizeof l->buf, s, strlen(s));
        l->full = l->pos >= sizeof l->buf;
    }
    line_raw(l, "\"");
}

/* Decimal digits of V written backwards so that they end at END; returns
 * where they start. Numbers of the hot path skip printf. */
static char *u64_digits(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void line_u64(struct line *l, uint64_t v)
{
    char num[24];

    num[sizeof num - 1] = '\0';
    line_raw(l, u64_digits(num + sizeof num - 1, v));
}

/* MS with three decimals, as "%.3f" writes it (rounded to the microsecond). */
static void line_ms(struct line *l, double ms)
{
    char num[48], *end = num + sizeof num - 1, *p;

    if (!(ms >= 0.0) || ms >= 1e15) {   /* NaN, negative, absurd: printf */
        snprintf(num, sizeof num, "%.3f", ms);
        line_raw(l, num);
        return;
    }
    uint64_t us = (uint64_t)(ms * 1000.0 + 0.5);
    *end = '\0';
    p = u64_digits(end, us % 1000 + 1000);      /* "1ddd": zero-padded */
    *p = '.';
    line_raw(l, u64_digits(p, us / 1000));
}

/* One JSON line per request; never a query string, URL or credential. */
static void access_log(struct api_req *r, int status, size_t bytes)
{
    struct line l;
    char ts[40];
    struct timespec now;
    double ms = elapsed(&r->t0) * 1000.0;

    clock_gettime(CLOCK_REALTIME, &now);
    http_time_iso_ms(&now, ts, sizeof ts);
    l.pos = 0;
    l.full = 0;
    line_raw(&l, "{\"time\":");
    line_str(&l, ts);
    line_raw(&l, ",\"request_id\":");
    line_str(&l, r->id);
    line_raw(&l, ",\"remote_addr\":");
    line_str(&l, r->remote);
    line_raw(&l, ",\"method\":");
    line_str(&l, r->method);
    line_raw(&l, ",\"route\":");
    line_str(&l, routes[r->route].label);
    line_raw(&l, ",\"path\":");
    line_str(&l, r->path ? r->path : "");
    line_raw(&l, ",\"status\":");
    if (status < 0)
        line_raw(&l, "-");
    line_u64(&l, status < 0 ? -(uint64_t)status : (uint64_t)status);
    line_raw(&l, ",\"bytes\":");
    line_u64(&l, bytes);
    line_raw(&l, ",\"duration_ms\":");
    line_ms(&l, ms);
    line_raw(&l, ",\"worker_pid\":");
    line_raw(&l, r->api->pid);
    line_raw(&l, ",\"s3_ms\":");
    if (r->s3_used)
        line_ms(&l, r->s3_seconds * 1000.0);
    else
        line_raw(&l, "null");
    line_raw(&l, "}");
    if (!l.full)
        log_access(l.buf, l.pos);
}

static void account(struct api_req *r, int status, size_t bytes)
{
    metrics_http_request(routes[r->route].metric, r->method, status, elapsed(&r->t0));
    access_log(r, status, bytes);
}

/* The answer of R is written out; evhttp frees the request after this. */
static void on_sent(struct evhttp_request *req, void *arg)
{
    struct api_req *r = arg;

    (void)req;
    evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    req_free(r);
}

/* The connection died before the answer of R was written out. */
static void on_sent_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct api_req *r = arg;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    req_free(r);
}

/*
 * Send STATUS with BODY (LEN bytes) of CTYPE, every common header added, and
 * retire the request: R must not be used after the call.
 */
static void reply(struct api_req *r, int status, const char *ctype,
                  const char *body, size_t len, unsigned flags)
{
    struct api *api = r->api;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    evhttp_add_header(h, "Server", "presignd");
    evhttp_add_header(h, "X-Request-Id", r->id);
    if (ctype)
        evhttp_add_header(h, "Content-Type", ctype);
    if (flags & REPLY_NO_STORE)
        evhttp_add_header(h, "Cache-Control", "no-store");
    if (r->cors_origin) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", r->cors_origin);
        evhttp_add_header(h, "Access-Control-Expose-Headers", "X-Request-Id");
    }
    /* Answers differ by Origin whenever CORS is configured per origin. */
    evhttp_add_header(h, "Vary", "Origin");
    if (api->draining)
        evhttp_add_header(h, "Connection", "close");
    int head = evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD;
    if (head) {
        /* libevent 2.1 would send the body of a HEAD answer and no length,
         * which desynchronizes a kept-alive connection: give the length the
         * GET would have and no body. */
        char n[24];
        snprintf(n, sizeof n, "%zu", len);
        evhttp_add_header(h, "Content-Length", n);
    } else if (len) {
        evbuffer_add(evhttp_request_get_output_buffer(r->req), body, len);
    }

    if (r->watch) {
        event_free(r->watch);
        r->watch = NULL;
    }
    account(r, status, head ? 0 : len);

    /*
     * R stays counted in api_inflight() until evhttp has written the whole
     * answer: a draining worker that exited as soon as we handed the answer
     * over would close the connection with the answer still in its buffer.
     * A request already detached from its connection has nobody to write to.
     */
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    if (!evcon) {
        evhttp_send_reply(r->req, status, http_reason(status), NULL);
        req_free(r);
        return;
    }
    r->sending = 1;
    r->evcon = evcon;
    evhttp_connection_set_closecb(evcon, on_sent_conn_close, r);
    evhttp_request_set_on_complete_cb(r->req, on_sent, r);
    evhttp_send_reply(r->req, status, http_reason(status), NULL);
    /* R may be gone from here on. */
}

static void reply_json(struct api_req *r, int status, struct json_object *o,
                       unsigned flags)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

    if (!s) {
        static const char oom[] =
            "{\"detail\":\"out of memory\",\"error_code\":\"internal_error\"}";
        reply(r, 500, "application/json", oom, sizeof oom - 1, REPLY_NO_STORE);
    } else {
        reply(r, status, "application/json", s, len, flags);
    }
    json_object_put(o);
}

static void fail(struct api_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct api_req *r, int status, const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    struct json_object *o = json_object_new_object();
    add_string(o, "detail", detail);
    add_string(o, "error_code", code);
    reply_json(r, status, o, REPLY_NO_STORE);
}

/* Retire R without answering: the client is gone. Cancels its S3 call and
 * never touches R->req. */
static void abandon(struct api_req *r)
{
    if (r->op) {
        s3_cancel(r->op);
        r->op = NULL;
    }
    if (r->async && r->evcon)
        evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    /* 499: nginx's "client closed request"; no answer was sent. */
    account(r, 499, 0);
    req_free(r);
}

/*
 * evhttp freed the connection of R while R waited for S3 (worker exit, or
 * an error it noticed itself). If evhttp detached the request from the dying
 * connection, which it does for a request not answered yet, the request is
 * ours to free; if not, the connection frees it right after this callback.
 */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct api_req *r = arg;
    struct evhttp_request *req = r->req;

    (void)evcon;
    abandon(r);
    if (evhttp_request_get_connection(req) == NULL)
        evhttp_request_free(req);
}

/*
 * The client socket of R became readable while R waits for S3. libevent 2.1
 * stops reading a connection while its request is being handled, so it
 * would only notice a client that hung up when the answer fails to go out;
 * this watch notices at once, so the S3 call is cancelled and the slot is
 * free again (nginx does the same and logs 499).
 */
static void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
    struct api_req *r = arg;
    char c;

    (void)what;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0) {
        /* A pipelined next request: the client is still there, and this
         * level-triggered watch would spin; evhttp reads it after our answer. */
        event_free(r->watch);
        r->watch = NULL;
        return;
    }
    /* EOF or a reset: nobody is left to read an answer. Freeing the
     * connection also frees the request (it is still queued on it). */
    struct evhttp_connection *evcon = r->evcon;
    abandon(r);
    evhttp_connection_free(evcon);
}

/* R is about to wait for S3: notice if the client goes away meanwhile. */
static void go_async(struct api_req *r)
{
    if (!r->evcon || r->async)
        return;
    evhttp_connection_set_closecb(r->evcon, on_conn_close, r);
    r->async = 1;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
        r->watch = event_new(r->api->base, fd, EV_READ | EV_PERSIST, on_client_readable, r);
        if (r->watch && event_add(r->watch, NULL) < 0) {
            event_free(r->watch);
            r->watch = NULL;
        }
    }
}

static void s3_account(struct api_req *r, const struct s3_result *res)
{
    r->s3_used = 1;
    r->s3_seconds += res->seconds;
}

/* Map a failed S3 call to the API's error answer. */
static void fail_s3(struct api_req *r, const struct s3_result *res)
{
    const char *code = res->code ? res->code : "unknown";

    switch (res->status) {
    case S3_UNREACHABLE:
        fail(r, 503, "s3_unavailable", "S3 cannot be reached (%s)", code);
        break;
    case S3_NO_CREDENTIALS:
        fail(r, 503, "no_credentials", "no AWS credentials are available");
        break;
    case S3_NOT_FOUND:
        fail(r, 404, "file_not_found", "not found in S3");
        break;
    default:
        fail(r, 502, "s3_error", "S3 answered HTTP %ld (%s)", res->http_status, code);
        break;
    }
}

static void fail_presign(struct api_req *r, enum s3_status st, const char *err)
{
    if (st == S3_NO_CREDENTIALS)
        fail(r, 503, "no_credentials", "no AWS credentials are available: %s", err);
    else
        fail(r, 503, "presign_failed", "cannot presign: %s", err);
}

/* ---- JSON bodies ------------------------------------------------------ */

/* Keys of the top-level object as written, duplicates included. json-c
 * keeps only the last of duplicate keys, so a count above its own means the
 * body repeated a key. TEXT is already known to be valid JSON. */
static size_t count_top_keys(const char *s, size_t n)
{
    int depth = 0, in_str = 0, expect_key = 0;
    size_t keys = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            if (depth == 1 && expect_key) {
                keys++;
                expect_key = 0;
            }
            in_str = 1;
            break;
        case '{':
            if (++depth == 1)
                expect_key = 1;
            break;
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            depth--;
            break;
        case ',':
            if (depth == 1)
                expect_key = 1;
            break;
        default:
            break;
        }
    }
    return keys;
}

/* json-c accepts NaN and Infinity even in strict mode; JSON has neither. */
static int has_non_finite(struct json_object *o, int depth)
{
    if (depth > API_JSON_DEPTH)
        return 1;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return !isfinite(json_object_get_double(o));
    case json_type_object: {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (v && has_non_finite(v, depth + 1))
                return 1;
        }
        return 0;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            struct json_object *v = json_object_array_get_idx(o, i);
            if (v && has_non_finite(v, depth + 1))
                return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/*
 * Check the body of a POST and parse it as a JSON object whose keys are all
 * in ALLOWED (NULL-terminated). Returns the object, or NULL after answering
 * with the error.
 */
static struct json_object *parse_body(struct api_req *r, const char *const *allowed)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                        "Content-Type");

    if (len > r->api->cfg->max_body_size) {
        fail(r, 413, "payload_too_large", "request body larger than %zu bytes",
             r->api->cfg->max_body_size);
        return NULL;
    }
    /* A missing Content-Type is accepted, as the previous service did. */
    if (ct && !http_is_json_media_type(ct)) {
        fail(r, 415, "unsupported_media_type", "Content-Type must be application/json");
        return NULL;
    }
    if (len == 0) {
        fail(r, 400, "invalid_json", "request body is empty; a JSON object is expected");
        return NULL;
    }
    const char *text = (const char *)evbuffer_pullup(in, -1);
    if (!text) {
        fail(r, 500, "internal_error", "out of memory");
        return NULL;
    }

    /* JSON is UTF-8 (RFC 8259); json-c's own check lets encoded surrogates
     * and overlong forms through. */
    if (!keys_utf8_valid(text, len)) {
        fail(r, 400, "invalid_json", "malformed JSON: the body is not valid UTF-8");
        return NULL;
    }

    struct json_tokener *tok = r->api->tok;
    json_tokener_reset(tok);
    struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (!obj && jerr == json_tokener_continue) {
        /* A bare number or literal waits for more input: the body is all
         * there is, so give json-c its end (the terminating NUL). */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }

    if (!obj && jerr == json_tokener_success) {
        /* json-c's value for a JSON null is NULL */
        fail(r, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    if (!obj || jerr != json_tokener_success) {
        json_object_put(obj);
        fail(r, 400, "invalid_json", "malformed JSON: %s",
             jerr == json_tokener_continue ? "unexpected end of input"
                                           : json_tokener_error_desc(jerr));
        return NULL;
    }
    for (size_t i = end; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            json_object_put(obj);
            fail(r, 400, "invalid_json", "malformed JSON: data after the object");
            return NULL;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        fail(r, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    if (has_non_finite(obj, 0)) {
        json_object_put(obj);
        fail(r, 400, "invalid_json", "malformed JSON: NaN and Infinity are not JSON");
        return NULL;
    }
    if (count_top_keys(text, end) != (size_t)json_object_object_length(obj)) {
        json_object_put(obj);
        fail(r, 400, "invalid_json", "malformed JSON: a key appears twice");
        return NULL;
    }
    json_object_object_foreach(obj, k, v) {
        (void)v;
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(k, *a) == 0;
        if (!known) {
            char shown[80];
            size_t n = http_json_escape(shown, 0, sizeof shown, k, strlen(k));
            shown[n < sizeof shown ? n : 0] = '\0';
            json_object_put(obj);
            fail(r, 400, "unknown_field", "unknown field '%s'", shown);
            return NULL;
        }
    }
    return obj;
}

/*
 * A string field: returns it (owned by OBJ), NULL when absent or null (if
 * not REQUIRED), or NULL after answering with the error (*FAILED set).
 */
static const char *string_field(struct api_req *r, struct json_object *obj,
                                const char *name, int required, int *failed)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, name, &v) || v == NULL) {
        if (required) {
            fail(r, 400, "missing_field", "field '%s' is required", name);
            *failed = 1;
        }
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string)) {
        fail(r, 400, "invalid_field", "field '%s' must be a string", name);
        *failed = 1;
        return NULL;
    }
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n == 0) {
        fail(r, 400, "invalid_field", "field '%s' must not be empty", name);
        *failed = 1;
        return NULL;
    }
    if (strlen(s) != n) {
        fail(r, 400, "invalid_field", "field '%s' must not contain NUL", name);
        *failed = 1;
        return NULL;
    }
    return s;
}

/* ---- handlers --------------------------------------------------------- */

static size_t put_str(char *buf, size_t n, const char *s)
{
    size_t len = strlen(s);

    memcpy(buf + n, s, len);
    return n + len;
}

static size_t put_i64(char *buf, size_t n, int64_t v)
{
    char num[24], *end = num + sizeof num;
    char *p = u64_digits(end, v < 0 ? -(uint64_t)v : (uint64_t)v);

    if (v < 0)
        *--p = '-';
    memcpy(buf + n, p, (size_t)(end - p));
    return n + (size_t)(end - p);
}

/*
 * The 200 answer of /upload-url, formatted straight into one buffer: a json-c
 * object tree cost about as much as the signing. Same keys, order and bytes
 * as json_object_to_json_string() (PLAIN, NOSLASHESCAPE) would give.
 */
static void reply_upload(struct api_req *r, const struct s3_presigned *p,
                         const char *key, const char *type, int64_t size)
{
    size_t ulen = strlen(p->url), klen = strlen(key), tlen = strlen(type);
    size_t need = 6 * (ulen + klen + 2 * tlen) + 512;   /* escapes, numbers, keys */
    char stack[4096], *buf = need <= sizeof stack ? stack : malloc(need);
    size_t n = 0;

    if (!buf) {
        fail(r, 500, "internal_error", "out of memory");
        return;
    }
    n = put_str(buf, n, "{\"presigned_url\":");
    n = http_json_quote(buf, n, p->url, ulen);
    n = put_str(buf, n, ",\"expires_in\":");
    n = put_i64(buf, n, p->expires_in);
    n = put_str(buf, n, ",\"file_key\":");
    n = http_json_quote(buf, n, key, klen);
    n = put_str(buf, n, ",\"method\":\"PUT\",\"headers\":{\"Content-Type\":");
    n = http_json_quote(buf, n, type, tlen);
    if (size >= 0) {
        n = put_str(buf, n, ",\"Content-Length\":\"");
        n = put_i64(buf, n, size);
        n = put_str(buf, n, "\"");
    }
    n = put_str(buf, n, "},\"content_type\":");
    n = http_json_quote(buf, n, type, tlen);
    n = put_str(buf, n, ",\"max_file_size\":");
    n = put_i64(buf, n, r->api->cfg->max_file_size);
    n = put_str(buf, n, "}");
    reply(r, 200, "application/json", buf, n, REPLY_NO_STORE);
    if (buf != stack)
        free(buf);
}

static void handle_upload(struct api_req *r)
{
    static const char *const allowed[] = { "filename", "content_type", "size", NULL };
    const struct cfg *cfg = r->api->cfg;
    char err[256];
    int failed = 0;
    int64_t size = -1;

    struct json_object *body = parse_body(r, allowed);
    if (!body)
        return;
    const char *filename = string_field(r, body, "filename", 1, &failed);
    const char *ctype = failed ? NULL : string_field(r, body, "content_type", 0, &failed);
    if (failed)
        goto out;
    if (strlen(filename) > API_MAX_FILENAME_INPUT) {
        fail(r, 400, "invalid_filename", "filename longer than %d bytes", API_MAX_FILENAME_INPUT);
        goto out;
    }

    struct json_object *sz = NULL;
    if (json_object_object_get_ex(body, "size", &sz) && sz) {
        if (!json_object_is_type(sz, json_type_int)) {
            fail(r, 400, "invalid_field", "field 'size' must be an integer");
            goto out;
        }
        size = json_object_get_int64(sz);
        if (size < 1) {
            fail(r, 400, "invalid_field", "field 'size' must be at least 1");
            goto out;
        }
        if (size > cfg->max_file_size) {
            fail(r, 413, "file_too_large", "file size %" PRId64 " exceeds the maximum of %"
                 PRId64 " bytes", size, cfg->max_file_size);
            goto out;
        }
    }

    /* The type is decided on the name the key will end with. */
    char *clean = keys_sanitize_filename(filename, cfg->max_filename_bytes, err, sizeof err);
    if (!clean) {
        fail(r, 400, "invalid_filename", "invalid filename: %s", err);
        goto out;
    }
    const char *type = cfg_type_for_filename(cfg, clean);
    if (!type) {
        const char *dot = strrchr(clean, '.');
        char shown[64];
        size_t n = dot ? http_json_escape(shown, 0, sizeof shown, dot, strlen(dot)) : 0;
        shown[n < sizeof shown ? n : 0] = '\0';
        free(clean);
        fail(r, 400, "file_type_not_allowed", "file type '%s' is not allowed", shown);
        goto out;
    }
    if (ctype && strcasecmp(ctype, type) != 0) {
        free(clean);
        fail(r, 400, "content_type_mismatch",
             "content_type does not match the file extension (expected %s)", type);
        goto out;
    }
    char *key = keys_new_upload_key(cfg->prefix, clean, cfg->max_filename_bytes, err, sizeof err);
    free(clean);
    if (!key) {
        fail(r, 400, "invalid_filename", "invalid filename: %s", err);
        goto out;
    }

    struct s3_presigned p = { 0 };
    enum s3_status st = s3_presign(r->api->s3, "PUT", key, type, size, cfg->expires,
                                   &p, err, sizeof err);
    if (st != S3_OK) {
        free(key);
        fail_presign(r, st, err);
        goto out;
    }
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    reply_upload(r, &p, key, type, size);
    s3_presigned_free(&p);
    free(key);
out:
    json_object_put(body);
}

static void download_head_done(const struct s3_result *res, void *arg)
{
    struct api_req *r = arg;
    char err[256];

    r->op = NULL;
    s3_account(r, res);
    if (res->status == S3_NOT_FOUND) {
        fail(r, 404, "file_not_found", "file %s not found", r->key);
        return;
    }
    if (res->status != S3_OK) {
        fail_s3(r, res);
        return;
    }

    struct s3_presigned p = { 0 };
    enum s3_status st = s3_presign(r->api->s3, "GET", r->key, NULL, -1,
                                   r->api->cfg->expires, &p, err, sizeof err);
    if (st != S3_OK) {
        fail_presign(r, st, err);
        return;
    }
    metrics_presign(METRICS_PRESIGN_DOWNLOAD);

    char lm[40];
    struct json_object *o = json_object_new_object();
    add_string(o, "presigned_url", p.url);
    json_object_object_add(o, "expires_in", json_object_new_int64(p.expires_in));
    add_string(o, "file_key", r->key);
    add_string(o, "method", "GET");
    json_object_object_add(o, "headers", json_object_new_object());
    json_object_object_add(o, "size", json_object_new_int64(res->content_length));
    add_string(o, "content_type", res->content_type);
    if (res->last_modified && http_time_normalize(res->last_modified, lm, sizeof lm))
        add_string(o, "last_modified", lm);
    else
        add_string(o, "last_modified", res->last_modified);
    add_string(o, "etag", res->etag);
    s3_presigned_free(&p);
    reply_json(r, 200, o, REPLY_NO_STORE);
}

static void handle_download(struct api_req *r)
{
    static const char *const allowed[] = { "file_key", NULL };
    char err[256];
    int failed = 0;

    struct json_object *body = parse_body(r, allowed);
    if (!body)
        return;
    const char *key = string_field(r, body, "file_key", 1, &failed);
    if (failed)
        goto out;
    if (!keys_valid(key, r->api->cfg->prefix, err, sizeof err)) {
        fail(r, 400, "invalid_file_key", "invalid file_key: %s", err);
        goto out;
    }
    r->key = strdup(key);
    if (!r->key) {
        fail(r, 500, "internal_error", "out of memory");
        goto out;
    }
    go_async(r);
    r->op = s3_head_object(r->api->s3, r->key, download_head_done, r);
    if (!r->op)
        fail(r, 503, "s3_unavailable", "cannot start the S3 request");
out:
    json_object_put(body);
}

static void list_done(const struct s3_result *res, void *arg)
{
    struct api_req *r = arg;
    char lm[40];

    r->op = NULL;
    s3_account(r, res);
    if (res->status != S3_OK) {
        if (res->status == S3_NOT_FOUND)
            fail(r, 502, "s3_error", "the bucket does not exist (%s)",
                 res->code ? res->code : "NoSuchBucket");
        else
            fail_s3(r, res);
        return;
    }
    struct json_object *o = json_object_new_object(), *files = json_object_new_array();
    for (size_t i = 0; i < res->n_objects; i++) {
        const struct s3_object *ob = &res->objects[i];
        struct json_object *f = json_object_new_object();
        add_string(f, "key", ob->key);
        json_object_object_add(f, "size", json_object_new_int64(ob->size));
        if (ob->last_modified && http_time_normalize(ob->last_modified, lm, sizeof lm))
            add_string(f, "last_modified", lm);
        else
            add_string(f, "last_modified", ob->last_modified);
        add_string(f, "etag", ob->etag);
        json_object_array_add(files, f);
    }
    json_object_object_add(o, "files", files);
    json_object_object_add(o, "count", json_object_new_int64((int64_t)res->n_objects));
    json_object_object_add(o, "is_truncated", json_object_new_boolean(res->truncated));
    add_string(o, "next_continuation_token",
               res->truncated && res->next_token && *res->next_token ? res->next_token : NULL);
    reply_json(r, 200, o, REPLY_NO_STORE);
}

/* Decode one application/x-www-form-urlencoded component ('+' is a space).
 * NULL when it decodes to something with a NUL byte. */
static char *form_decode(const char *s, size_t n)
{
    char *raw = strndup(s, n);
    size_t len = 0;

    if (!raw)
        return NULL;
    char *dec = evhttp_uridecode(raw, 1, &len);
    free(raw);
    if (dec && strlen(dec) != len) {
        free(dec);
        return NULL;
    }
    return dec;
}

static int parse_max_keys(const char *s, int *out)
{
    long v = 0;

    if (!*s || strlen(s) > 4)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 1000)
        return -1;
    *out = (int)v;
    return 0;
}

static void handle_files(struct api_req *r)
{
    const struct cfg *cfg = r->api->cfg;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    char *prefix = NULL, *token = NULL, *max_keys = NULL;
    int n = 100;
    char err[256];

    /* Later repetitions of a parameter win, as in the previous service. */
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char *k = form_decode(p, klen);
        char *v = eq ? form_decode(eq + 1, plen - klen - 1) : strdup("");
        char **slot = NULL;

        if (!k || !v) {
            free(k);
            free(v);
            fail(r, 400, "invalid_field", "malformed query string");
            goto out;
        }
        if (strcmp(k, "prefix") == 0)
            slot = &prefix;
        else if (strcmp(k, "max_keys") == 0)
            slot = &max_keys;
        else if (strcmp(k, "continuation_token") == 0)
            slot = &token;
        free(k);
        if (slot) {
            free(*slot);
            *slot = v;
        } else {
            free(v);    /* unknown parameters are ignored, as FastAPI does */
        }
        p = amp ? amp + 1 : p + plen;
    }

    if (max_keys && parse_max_keys(max_keys, &n) != 0) {
        fail(r, 400, "invalid_field", "max_keys must be an integer from 1 to 1000");
        goto out;
    }
    if (!prefix && !(prefix = strdup(cfg->prefix))) {
        fail(r, 500, "internal_error", "out of memory");
        goto out;
    }
    if (!keys_valid_list_prefix(prefix, cfg->prefix, err, sizeof err)) {
        fail(r, 400, "invalid_prefix", "invalid prefix: %s", err);
        goto out;
    }
    if (token) {
        size_t tl = strlen(token);
        int bad = tl == 0 || tl > API_MAX_TOKEN_BYTES;
        for (size_t i = 0; i < tl && !bad; i++)
            bad = (unsigned char)token[i] < 0x20 || token[i] == 0x7f;
        if (bad) {
            fail(r, 400, "invalid_field", "invalid continuation_token");
            goto out;
        }
    }
    go_async(r);
    r->op = s3_list_objects(r->api->s3, prefix, n, token, list_done, r);
    if (!r->op)
        fail(r, 503, "s3_unavailable", "cannot start the S3 request");
out:
    free(prefix);
    free(token);
    free(max_keys);
}

static void delete_done(const struct s3_result *res, void *arg)
{
    struct api_req *r = arg;

    r->op = NULL;
    s3_account(r, res);
    if (res->status != S3_OK) {
        /* DeleteObject of a missing key succeeds on S3; a 404 here means
         * the bucket itself is gone, which is S3's problem, not the key's. */
        if (res->status == S3_NOT_FOUND)
            fail(r, 502, "s3_error", "S3 answered HTTP 404 (%s)",
                 res->code ? res->code : "NoSuchBucket");
        else
            fail_s3(r, res);
        return;
    }
    char msg[KEYS_MAX_KEY_BYTES + 64];
    snprintf(msg, sizeof msg, "File %s deleted successfully", r->key);
    struct json_object *o = json_object_new_object();
    add_string(o, "message", msg);
    reply_json(r, 200, o, REPLY_NO_STORE);
}

static void handle_delete(struct api_req *r, const char *raw_path)
{
    char err[256];
    size_t len = 0;
    const char *enc = raw_path + strlen("/files/");

    /* Path decoding: '+' stays '+' (it is not a space in a path). */
    char *key = evhttp_uridecode(enc, 0, &len);
    if (!key) {
        fail(r, 500, "internal_error", "out of memory");
        return;
    }
    if (strlen(key) != len) {
        free(key);
        fail(r, 400, "invalid_file_key", "invalid file_key: contains NUL");
        return;
    }
    if (!keys_valid(key, r->api->cfg->prefix, err, sizeof err)) {
        free(key);
        fail(r, 400, "invalid_file_key", "invalid file_key: %s", err);
        return;
    }
    r->key = key;
    go_async(r);
    r->op = s3_delete_object(r->api->s3, r->key, delete_done, r);
    if (!r->op)
        fail(r, 503, "s3_unavailable", "cannot start the S3 request");
}

static void reply_health(struct api_req *r)
{
    const struct health_result *h = &r->api->health;
    struct timespec now;
    char ts[40];

    clock_gettime(CLOCK_REALTIME, &now);
    http_time_iso_ms(&now, ts, sizeof ts);
    struct json_object *o = json_object_new_object();
    if (h->ok) {
        add_string(o, "status", "healthy");
        add_string(o, "s3_connection", "ok");
        add_string(o, "timestamp", ts);
        add_string(o, "version", PRESIGND_VERSION);
        reply_json(r, 200, o, REPLY_NO_STORE);
    } else {
        add_string(o, "status", "unhealthy");
        add_string(o, "s3_connection", "error");
        add_string(o, "detail", h->detail);
        add_string(o, "error_code", h->error_code);
        add_string(o, "timestamp", ts);
        add_string(o, "version", PRESIGND_VERSION);
        reply_json(r, 503, o, REPLY_NO_STORE);
    }
}

static void health_store(struct api *api, const struct s3_result *res)
{
    struct health_result *h = &api->health;
    const char *code = res && res->code ? res->code : "unknown";

    memset(h, 0, sizeof *h);
    if (!res) {
        snprintf(h->error_code, sizeof h->error_code, "s3_unavailable");
        snprintf(h->detail, sizeof h->detail, "cannot start the S3 request");
    } else if (res->status == S3_OK) {
        h->ok = 1;
    } else if (res->status == S3_UNREACHABLE) {
        snprintf(h->error_code, sizeof h->error_code, "s3_unavailable");
        snprintf(h->detail, sizeof h->detail, "S3 cannot be reached (%s)", code);
    } else if (res->status == S3_NO_CREDENTIALS) {
        snprintf(h->error_code, sizeof h->error_code, "no_credentials");
        snprintf(h->detail, sizeof h->detail, "no AWS credentials are available");
    } else if (res->status == S3_NOT_FOUND) {
        snprintf(h->error_code, sizeof h->error_code, "s3_error");
        snprintf(h->detail, sizeof h->detail, "bucket not found");
    } else {
        snprintf(h->error_code, sizeof h->error_code, "s3_error");
        snprintf(h->detail, sizeof h->detail, "S3 answered HTTP %ld (%s)",
                 res->http_status, code);
    }
    api->health_have = 1;
    clock_gettime(CLOCK_MONOTONIC, &api->health_at);
}

static void health_done(const struct s3_result *res, void *arg)
{
    struct api *api = arg;

    api->health_op = NULL;
    health_store(api, res);
    while (api->health_waiters) {
        struct api_req *r = api->health_waiters;
        health_unlink(r);
        s3_account(r, res);
        reply_health(r);
    }
}

static void handle_health(struct api_req *r)
{
    struct api *api = r->api;

    if (api->health_have && elapsed(&api->health_at) * 1000.0 < api->cfg->health_cache_ms) {
        reply_health(r);
        return;
    }
    /* Every probe that arrives while HeadBucket is in flight shares it. */
    go_async(r);
    r->health_waiting = 1;
    r->hprev = NULL;
    r->hnext = api->health_waiters;
    if (api->health_waiters)
        api->health_waiters->hprev = r;
    api->health_waiters = r;
    if (!api->health_op) {
        api->health_op = s3_probe_bucket(api->s3, health_done, api);
        if (!api->health_op) {
            health_store(api, NULL);
            api->health_have = 0;
            while (api->health_waiters) {
                struct api_req *w = api->health_waiters;
                health_unlink(w);
                reply_health(w);
            }
        }
    }
}

static void handle_metrics(struct api_req *r)
{
    size_t len = 0;
    char *text = metrics_render(&len);

    if (!text) {
        fail(r, 500, "internal_error", "cannot render metrics");
        return;
    }
    reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, REPLY_NO_STORE);
    free(text);
}

static void handle_docs(struct api_req *r)
{
    size_t len;
    const char *html = openapi_docs_html(&len);

    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; "
                      "style-src 'unsafe-inline'; connect-src 'self'");
    reply(r, 200, "text/html; charset=utf-8", html, len, 0);
}

/* ---- routing ---------------------------------------------------------- */

static enum route match_route(const char *path, int metrics_only, int metrics_elsewhere)
{
    if (metrics_only)
        return strcmp(path, "/metrics") == 0 ? R_METRICS : R_NONE;
    if (strcmp(path, "/") == 0)
        return R_ROOT;
    if (strcmp(path, "/upload-url") == 0)
        return R_UPLOAD;
    if (strcmp(path, "/download-url") == 0)
        return R_DOWNLOAD;
    if (strcmp(path, "/files") == 0)
        return R_FILES;
    if (strncmp(path, "/files/", 7) == 0 && path[7])
        return R_FILE;
    if (strcmp(path, "/health") == 0)
        return R_HEALTH;
    if (strcmp(path, "/metrics") == 0)
        return metrics_elsewhere ? R_NONE : R_METRICS;
    if (strcmp(path, "/openapi.json") == 0)
        return R_OPENAPI;
    if (strcmp(path, "/docs") == 0)
        return R_DOCS;
    return R_NONE;
}

static void handle_options(struct api_req *r)
{
    struct api *api = r->api;
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    const char *origin = evhttp_find_header(in, "Origin");
    const char *acrm = evhttp_find_header(in, "Access-Control-Request-Method");

    if (origin && acrm) {
        if (!r->cors_origin) {
            fail(r, 403, "cors_origin_not_allowed", "origin not allowed");
            return;
        }
        evhttp_add_header(out, "Access-Control-Allow-Methods", routes[r->route].allow);
        if (api->allow_headers && *api->allow_headers)
            evhttp_add_header(out, "Access-Control-Allow-Headers", api->allow_headers);
        evhttp_add_header(out, "Access-Control-Max-Age", api->max_age);
    }
    evhttp_add_header(out, "Allow", routes[r->route].allow);
    reply(r, 204, NULL, NULL, 0, 0);
}

static void dispatch(struct api_req *r, const char *path)
{
    struct api *api = r->api;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    const struct cfg *cfg = api->cfg;

    /* evhttp parses a CONNECT target as an authority, so it has no path to
     * route by; nothing here tunnels: an unimplemented method (RFC 9110
     * 15.6.2), not a 405 that would need an Allow for a route. */
    if (cmd == EVHTTP_REQ_CONNECT) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Connection", "close");
        fail(r, 501, "not_implemented", "CONNECT is not supported");
        return;
    }
    /* Two Content-Length headers that disagree: a proxy in front may have
     * framed the body by the other one (request smuggling, RFC 9112 6.3). */
    const char *first_cl = NULL;
    struct evkeyval *hv;
    TAILQ_FOREACH(hv, evhttp_request_get_input_headers(r->req), next) {
        if (strcasecmp(hv->key, "Content-Length") != 0)
            continue;
        if (first_cl && strcmp(first_cl, hv->value) != 0) {
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Connection", "close");
            fail(r, 400, "invalid_request", "conflicting Content-Length headers");
            return;
        }
        first_cl = hv->value;
    }
    if (r->route == R_NONE) {
        fail(r, 404, "not_found", "no such route");
        return;
    }
    if (cmd == EVHTTP_REQ_OPTIONS) {
        handle_options(r);
        return;
    }
    if (!(routes[r->route].methods & (unsigned)cmd)) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow",
                          routes[r->route].allow);
        fail(r, 405, "method_not_allowed", "method %s not allowed on %s", r->method,
             routes[r->route].label);
        return;
    }
    /* A declared body too large is refused before anything else looks at it. */
    const char *cl = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                        "Content-Length");
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && v > cfg->max_body_size) {
            fail(r, 413, "payload_too_large", "request body larger than %zu bytes",
                 cfg->max_body_size);
            return;
        }
    }

    switch (r->route) {
    case R_ROOT:
        reply(r, 200, "application/json", api->root_json, api->root_len, REPLY_NO_STORE);
        break;
    case R_UPLOAD:
        handle_upload(r);
        break;
    case R_DOWNLOAD:
        handle_download(r);
        break;
    case R_FILES:
        handle_files(r);
        break;
    case R_FILE:
        handle_delete(r, path);
        break;
    case R_HEALTH:
        handle_health(r);
        break;
    case R_METRICS:
        handle_metrics(r);
        break;
    case R_OPENAPI:
        reply(r, 200, "application/json", api->openapi, api->openapi_len, 0);
        break;
    case R_DOCS:
        handle_docs(r);
        break;
    case R_NONE:
        break;
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api_listener *l = arg;
    struct api *api = l->api;
    struct api_req *r = calloc(1, sizeof *r);

    if (!r) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    r->api = api;
    r->req = req;
    r->evcon = evhttp_request_get_connection(req);
    r->method = method_name(evhttp_request_get_command(req));
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->next = api->reqs;
    if (api->reqs)
        api->reqs->prev = r;
    api->reqs = r;
    api->inflight++;

    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *rid = evhttp_find_header(in, "X-Request-Id");
    if (http_request_id_sane(rid))
        snprintf(r->id, sizeof r->id, "%s", rid);
    else
        http_request_id_new(r->id);

    if (r->evcon) {
        char *addr = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(r->evcon, &addr, &port);
        size_t n = addr ? strnlen(addr, sizeof r->remote - 1) : 0;
        memcpy(r->remote, addr ? addr : "", n);     /* no printf per request */
        r->remote[n] = '\0';
    }

    /* evhttp takes "HTTP/0.9" as a version and would answer in kind, with
     * no framing: answer 505 in HTTP/1.0 instead. */
    if (req->major < 1) {
        req->major = 1;
        req->minor = 0;
        r->route = R_NONE;
        r->path = strdup("/");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        fail(r, 505, "http_version_not_supported", "HTTP/1.0 or HTTP/1.1 is required");
        return;
    }

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    r->route = match_route(path, l->metrics_only, api->cfg->metrics_listen != NULL);

    /* The log shows the route for keys (they may be personal data) and a
     * bounded raw path otherwise; the query string never. */
    if (r->route == R_FILE)
        r->path = strdup(routes[R_FILE].label);
    else
        r->path = strndup(path, API_LOG_PATH_MAX);

    const char *origin = evhttp_find_header(in, "Origin");
    if (origin && !l->metrics_only && cfg_origin_allowed(api->cfg, origin)) {
        int any = 0;
        for (size_t i = 0; i < api->cfg->n_allow_origins; i++)
            any |= strcmp(api->cfg->allow_origins[i], "*") == 0;
        r->cors_origin = strdup(any ? "*" : origin);
    }

    dispatch(r, path);
}

/* ---- public ----------------------------------------------------------- */

static char *build_root(const struct cfg *cfg, size_t *len)
{
    static const char *const endpoints[] = {
        "POST /upload-url", "POST /download-url", "GET /files",
        "DELETE /files/{file_key}", "GET /health", "GET /metrics",
        "GET /openapi.json", "GET /docs",
    };
    struct json_object *o = json_object_new_object();
    struct json_object *eps = json_object_new_array(), *types = json_object_new_object();

    add_string(o, "service", "presignd");
    add_string(o, "version", PRESIGND_VERSION);
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        if (cfg->metrics_listen && strcmp(endpoints[i], "GET /metrics") == 0)
            continue;
        json_object_array_add(eps, json_object_new_string(endpoints[i]));
    }
    json_object_object_add(o, "endpoints", eps);
    for (size_t i = 0; i < cfg->n_types; i++)
        add_string(types, cfg->types[i].ext, cfg->types[i].type);
    json_object_object_add(o, "allowed_file_types", types);
    json_object_object_add(o, "max_file_size", json_object_new_int64(cfg->max_file_size));
    json_object_object_add(o, "upload_expires", json_object_new_int(cfg->expires));

    size_t n = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = s ? malloc(n + 1) : NULL;
    if (out) {
        memcpy(out, s, n + 1);
        *len = n;
    }
    json_object_put(o);
    return out;
}

static void configure_evhttp(struct api *api, struct evhttp *http)
{
    /* Every method reaches us so that 405 and OPTIONS answer in JSON. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                               EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    size_t limit = api->cfg->max_body_size + API_BODY_SLACK;
    evhttp_set_max_body_size(http, (ev_ssize_t)limit);
    evhttp_set_default_content_type(http, NULL);
}

struct api *api_new(struct event_base *base, struct evhttp *http,
                    const struct cfg *cfg, struct s3_client *s3,
                    char *err, size_t errlen)
{
    struct api *api = calloc(1, sizeof *api);

    if (!api) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    api->base = base;
    api->cfg = cfg;
    api->s3 = s3;
    api->http = http;
    api->main_l.api = api;
    api->metrics_l.api = api;
    api->metrics_l.metrics_only = 1;
    snprintf(api->max_age, sizeof api->max_age, "%d", cfg->max_age);
    snprintf(api->pid, sizeof api->pid, "%ld", (long)getpid());
    api->allow_headers = join(cfg->allow_headers, cfg->n_allow_headers);
    api->openapi = openapi_build(cfg, PRESIGND_VERSION, &api->openapi_len);
    api->root_json = build_root(cfg, &api->root_len);
    api->tok = json_tokener_new_ex(API_JSON_DEPTH);
    if (api->tok)
        json_tokener_set_flags(api->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    if (!api->allow_headers || !api->openapi || !api->root_json || !api->tok) {
        snprintf(err, errlen, "cannot build the API documents (out of memory?)");
        api_free(api);
        return NULL;
    }
    configure_evhttp(api, http);
    evhttp_set_gencb(http, on_request, &api->main_l);
    /* Access lines go out once per event-loop round, not once per request. */
    if (log_access_attach(base) < 0)
        log_warn("access log lines are written one by one: out of memory");
    return api;
}

int api_attach_metrics(struct api *api, struct evhttp *http)
{
    configure_evhttp(api, http);
    evhttp_set_gencb(http, on_request, &api->metrics_l);
    return 0;
}

void api_drain(struct api *api)
{
    api->draining = 1;
}

size_t api_inflight(const struct api *api)
{
    return api->inflight;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    log_access_attach(NULL);    /* flush: the loop goes away after us */
    if (api->health_op)
        s3_cancel(api->health_op);
    /* Requests still waiting for S3 or being written out: their connections
     * must no longer call back into us; evhttp_free() frees the requests. */
    while (api->reqs) {
        struct api_req *r = api->reqs;
        if (r->op)
            s3_cancel(r->op);
        if ((r->async || r->sending) && r->evcon)
            evhttp_connection_set_closecb(r->evcon, NULL, NULL);
        if (r->sending)
            evhttp_request_set_on_complete_cb(r->req, NULL, NULL);
        req_free(r);
    }
    free(api->openapi);
    free(api->root_json);
    free(api->allow_headers);
    if (api->tok)
        json_tokener_free(api->tok);
    free(api);
}
