/*
 * req.c - the life of one request (see req.h): creation, answers, the
 * watch on a client while S3 works, retirement, and the accounting of
 * every answer (metrics, access log) in one place.
 *
 * A request stays counted in api->inflight until evhttp has written its
 * whole answer: a draining worker that exited as soon as the answer was
 * handed over would close the connection with the answer still in its
 * buffer.
 */
#include "req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "accesslog.h"
#include "api.h"
#include "audit.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "conns.h"
#include "cors.h"
#include "metrics.h"
#include "str.h"

static const char *method_name(unsigned cmd)
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

/*
 * The client's address: the peer, unless the peer is a trusted proxy
 * (rate_limit.trusted_proxies): then the right-most address of
 * X-Forwarded-For that is not a trusted proxy itself. Addresses left of it
 * are whatever the client wrote, believed by nobody.
 */
static void find_client(struct req *r)
{
    const struct cfg *cfg = r->api->cfg;
    const char *xff;
    char one[64];

    snprintf(r->client, sizeof r->client, "%s", r->remote);
    if (!cfg->rate_limit.n_trusted_proxies || !cfg_trusted_proxy(cfg, r->remote) ||
        !(xff = req_header(r, "X-Forwarded-For")))
        return;
    for (const char *end = xff + strlen(xff); end > xff;) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t n = (size_t)(b - a);
        if (n == 0 || n >= sizeof one)
            return;
        memcpy(one, a, n);
        one[n] = '\0';
        unsigned char bin[16];
        if (inet_pton(AF_INET, one, bin) != 1 && inet_pton(AF_INET6, one, bin) != 1)
            return;     /* not an address: stop at the last good one */
        snprintf(r->client, sizeof r->client, "%s", one);
        if (!cfg_trusted_proxy(cfg, one))
            return;
        end = start > xff ? start - 1 : xff;
    }
}

struct req *req_new(struct api *api, struct evhttp_request *ev)
{
    struct req *r = calloc(1, sizeof *r);

    if (!r) {
        evhttp_send_error(ev, 500, "Internal Server Error");
        return NULL;
    }
    r->api = api;
    r->ev = ev;
    r->evcon = evhttp_request_get_connection(ev);
    r->cmd = (unsigned)evhttp_request_get_command(ev);
    r->method = method_name(r->cmd);
    r->match.index = route_count();
    clock_mono_ts(&r->t0);
    TAILQ_INSERT_TAIL(&api->reqs, r, link);
    api->inflight++;
    metrics_http_in_flight(1);

    const char *rid = req_header(r, "X-Request-Id");
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
    find_client(r);
    r->audit.size = -1;
    return r;
}

static void req_free(struct req *r)
{
    struct api *api = r->api;

    if (r->wait_list) {
        TAILQ_REMOVE(r->wait_list, r, wait_link);
        r->wait_list = NULL;
    }
    if (r->watch)
        event_free(r->watch);
    if (r->s3_deadline)
        event_free(r->s3_deadline);
    TAILQ_REMOVE(&api->reqs, r, link);
    api->inflight--;
    metrics_http_in_flight(-1);
    if (r->body)
        json_object_put(r->body);
    auth_forget(r);
    free(r->audit.subject);
    free(r->audit.content_type);
    free(r->audit.upload_id);
    free(r->path);
    free(r->key);
    if (r->ctx && r->ctx_free)
        r->ctx_free(r->ctx);
    free(r);
}

const char *req_header(const struct req *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

void req_add_header(struct req *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

static void account(struct req *r, int status, size_t bytes)
{
    metrics_http_request(r->match.index, r->method, status, clock_since(&r->t0));
    accesslog_write(r, status, bytes);
    audit_write(r, status);
}

/* The answer of R is written out; evhttp frees the request after this. */
static void on_sent(struct evhttp_request *ev, void *arg)
{
    struct req *r = arg;

    (void)ev;
    evhttp_connection_set_closecb(r->evcon, conns_closed, NULL);
    /* The next request's headers have header_timeout from now. */
    conns_request_done(r->api->conns, r->evcon);
    req_free(r);
}

/* The connection died before the answer of R was written out. */
static void on_sent_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct req *r = arg;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    req_free(r);
}

void req_reply(struct req *r, int status, const char *ctype, const char *body, size_t len,
               unsigned flags)
{
    /* Answered: off any list of waiters, so that what it waited for cannot
     * answer it a second time (a health probe ending as its deadline
     * fires). */
    if (r->wait_list) {
        TAILQ_REMOVE(r->wait_list, r, wait_link);
        r->wait_list = NULL;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);

    evhttp_add_header(h, "Server", "presignd");
    evhttp_add_header(h, "X-Request-Id", r->id);
    if (ctype)
        evhttp_add_header(h, "Content-Type", ctype);
    if (flags & REQ_NO_STORE)
        evhttp_add_header(h, "Cache-Control", "no-store");
    cors_add_response_headers(r);
    if (r->api->draining)
        evhttp_add_header(h, "Connection", "close");
    bool head = r->cmd == EVHTTP_REQ_HEAD;
    if (head) {
        /* libevent 2.1 would send the body of a HEAD answer and no length,
         * which desynchronizes a kept-alive connection: give the length the
         * GET would have and no body. */
        char n[24];
        snprintf(n, sizeof n, "%zu", len);
        evhttp_add_header(h, "Content-Length", n);
    } else if (len && (flags & REQ_STATIC)) {
        /* A reference to the read-only pages of the binary: a 2 MB script
         * costs no copy and no heap, whichever worker sends it. */
        evbuffer_add_reference(evhttp_request_get_output_buffer(r->ev), body, len, NULL, NULL);
    } else if (len) {
        evbuffer_add(evhttp_request_get_output_buffer(r->ev), body, len);
    }
    if (r->watch) {
        event_free(r->watch);
        r->watch = NULL;
    }
    if (r->s3_deadline) {
        event_free(r->s3_deadline);
        r->s3_deadline = NULL;
    }
    account(r, status, head ? 0 : len);

    /* A request already detached from its connection has nobody to write
     * to. Else it stays counted until evhttp has written the answer. */
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (!evcon) {
        evhttp_send_reply(r->ev, status, http_reason(status), NULL);
        req_free(r);
        return;
    }
    r->state = REQ_SENDING;
    r->evcon = evcon;
    evhttp_connection_set_closecb(evcon, on_sent_conn_close, r);
    evhttp_request_set_on_complete_cb(r->ev, on_sent, r);
    evhttp_send_reply(r->ev, status, http_reason(status), NULL);
    /* R may be gone from here on. */
}

void req_reply_json(struct req *r, int status, struct json_object *o, unsigned flags)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

    if (!s) {
        static const char oom[] =
            "{\"detail\":\"out of memory\",\"error_code\":\"internal_error\"}";
        req_reply(r, 500, "application/json", oom, sizeof oom - 1, REQ_NO_STORE);
    } else {
        req_reply(r, status, "application/json", s, len, flags);
    }
    json_object_put(o);
}

void req_fail(struct req *r, int status, const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    /* A detail cut short must not end in half a character: the body would
     * not be valid UTF-8 (nor valid JSON to a strict reader). */
    if (n >= (int)sizeof detail)
        str_utf8_cut(detail, sizeof detail - 1);
    r->error_code = code;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "detail", json_object_new_string(detail));
    json_object_object_add(o, "error_code", json_object_new_string(code));
    /* Uppy shows a 4xx answer's "message" to its user. */
    if (r->match.route && (r->match.route->flags & ROUTE_MESSAGE))
        json_object_object_add(o, "message", json_object_new_string(detail));
    req_reply_json(r, status, o, REQ_NO_STORE);
}

void req_fail_s3(struct req *r, const struct s3_result *res)
{
    const char *code = res->code ? res->code : "unknown";

    switch (res->status) {
    case S3_UNREACHABLE:
        req_fail(r, 503, "s3_unavailable", "S3 cannot be reached (%s)", code);
        break;
    case S3_NO_CREDENTIALS:
        req_fail(r, 503, "no_credentials", "no AWS credentials are available");
        break;
    case S3_NOT_FOUND:
        req_fail(r, 404, "file_not_found", "not found in S3");
        break;
    default:
        req_fail(r, 502, "s3_error", "S3 answered HTTP %ld (%s)", res->http_status, code);
        break;
    }
}

void req_fail_presign(struct req *r, enum s3_status st, const char *err)
{
    if (st == S3_NO_CREDENTIALS)
        req_fail(r, 503, "no_credentials", "%s", err);
    else
        req_fail(r, 503, "presign_failed", "cannot presign: %s", err);
}

void req_audit_subject(struct req *r, const char *subject)
{
    free(r->audit.subject);
    r->audit.subject = subject ? strdup(subject) : NULL;
}

void req_s3_account(struct req *r, const struct s3_result *res)
{
    r->s3_used = true;
    r->s3_seconds += res->seconds;
}

/* Retire R without answering: the client is gone. */
static void abandon(struct req *r)
{
    if (r->op) {
        s3_cancel(r->op);
        r->op = NULL;
    }
    if (r->state == REQ_WAITING && r->evcon)
        evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    /* 499: nginx's "client closed request"; no answer was sent. */
    account(r, 499, 0);
    req_free(r);
}

/*
 * evhttp freed the connection of R while R waited for S3 (worker exit, or
 * an error it noticed itself). If evhttp detached the request from the
 * dying connection, which it does for a request not answered yet, the
 * request is ours to free; if not, the connection frees it right after
 * this callback.
 */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct req *r = arg;
    struct evhttp_request *ev = r->ev;

    (void)evcon;
    abandon(r);
    if (evhttp_request_get_connection(ev) == NULL)
        evhttp_request_free(ev);
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
    struct req *r = arg;
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

/*
 * s3.call_timeout_ms bounds each S3 call, retries included; this bounds a
 * route's S3 work as a whole (a listing of many pages, a list then a
 * complete): an S3 that stalls gets the client a 503 in time, not a hang.
 */
static void on_s3_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct req *r = arg;

    (void)fd;
    (void)what;
    if (r->op) {
        s3_cancel(r->op);
        r->op = NULL;
    }
    req_fail(r, 503, "s3_unavailable", "S3 did not answer within %d ms",
             r->api->cfg->s3.call_timeout_ms);
}

void req_wait(struct req *r)
{
    if (!r->s3_deadline) {
        r->s3_deadline = evtimer_new(r->api->base, on_s3_deadline, r);
        struct timeval tv = clock_tv(r->api->cfg->s3.call_timeout_ms / 1000.0);
        if (r->s3_deadline)
            evtimer_add(r->s3_deadline, &tv);
    }
    req_wait_other(r);
}

void req_wait_other(struct req *r)
{
    if (!r->evcon || r->state == REQ_WAITING)
        return;
    evhttp_connection_set_closecb(r->evcon, on_conn_close, r);
    r->state = REQ_WAITING;
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

void req_forget(struct req *r)
{
    if (r->op)
        s3_cancel(r->op);
    r->op = NULL;
    if ((r->state == REQ_WAITING || r->state == REQ_SENDING) && r->evcon)
        evhttp_connection_set_closecb(r->evcon, conns_closed, NULL);
    if (r->state == REQ_SENDING)
        evhttp_request_set_on_complete_cb(r->ev, NULL, NULL);
    req_free(r);
}
