/*
 * s3.c - the S3 client of a worker (see s3.h): the table of operations,
 * addressing (virtual-hosted or path-style), signing every attempt, turning
 * HTTP answers into S3 outcomes, and waiting for credentials. Presigning,
 * with the same client, is s3presign.c's.
 *
 * The transport (sockets, timers, retries, back-off) is httpc.c's; the
 * credentials are credprov.c's. An operation here is what the caller holds:
 * it exists from s3_call() until its callback has run or it is cancelled,
 * and is in one of three states: waiting for credentials (timer = how long
 * it may wait), running (an httpc call), or finishing (a zero timer, for an
 * outcome that must not be delivered inside the call that started it).
 */
#include "s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "creds.h"
#include "credprov.h"
#include "errbuf.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "s3_internal.h"
#include "s3addr.h"
#include "s3xml.h"
#include "sigv4.h"

#define S3_MAX_LIST_BODY    (8 * 1024 * 1024)   /* 1000 keys of 1 KiB fit easily */
#define S3_MAX_OTHER_BODY   (256 * 1024)        /* error documents */
#define S3_PROBE_TIMEOUT_MS 3000     /* answer before a load balancer's 5 s probe timeout */

/* The "operation" label of presignd_s3_* metrics, by index. */
enum {
    M_HEAD_OBJECT, M_HEAD_BUCKET, M_LIST_OBJECTS, M_DELETE_OBJECT, M_IMDS,
    M_CREATE_MULTIPART, M_LIST_PARTS, M_COMPLETE_MULTIPART, M_ABORT_MULTIPART, M_COUNT
};
static const char *const metric_labels[M_COUNT] = {
    [M_HEAD_OBJECT] = "head_object", [M_HEAD_BUCKET] = "head_bucket",
    [M_LIST_OBJECTS] = "list_objects", [M_DELETE_OBJECT] = "delete_object",
    [M_IMDS] = "imds", [M_CREATE_MULTIPART] = "create_multipart_upload",
    [M_LIST_PARTS] = "list_parts", [M_COMPLETE_MULTIPART] = "complete_multipart_upload",
    [M_ABORT_MULTIPART] = "abort_multipart_upload",
};

#define OPF_KEY    1u       /* about an object: a key is required */
#define OPF_PROBE  2u       /* one attempt, a short timeout */
#define OPF_ONCE   4u       /* not idempotent: never retried */

#define S3_MAX_HEADERS 16   /* content-type and x-amz-meta-* of a call */

struct s3_op;
typedef int (*parse_fn)(struct s3_op *op, const char *body, size_t len, char *err, size_t errlen);
static int parse_list(struct s3_op *op, const char *body, size_t len, char *err, size_t errlen);
static int parse_initiate(struct s3_op *op, const char *body, size_t len, char *err,
                          size_t errlen);
static int parse_parts(struct s3_op *op, const char *body, size_t len, char *err, size_t errlen);
static int parse_complete(struct s3_op *op, const char *body, size_t len, char *err,
                          size_t errlen);

static const struct opdef {
    const char *method;
    const char *name;       /* S3's name, in logs */
    unsigned metric;
    unsigned flags;
    size_t max_body;
    parse_fn parse;         /* a 2xx body into the result, or NULL */
} ops[] = {
    [S3_HEAD_OBJECT]   = { "HEAD", "HeadObject", M_HEAD_OBJECT, OPF_KEY, S3_MAX_OTHER_BODY, NULL },
    [S3_HEAD_BUCKET]   = { "HEAD", "HeadBucket", M_HEAD_BUCKET, 0, S3_MAX_OTHER_BODY, NULL },
    [S3_PROBE_BUCKET]  = { "HEAD", "HeadBucket", M_HEAD_BUCKET, OPF_PROBE, S3_MAX_OTHER_BODY,
                           NULL },
    [S3_LIST_OBJECTS]  = { "GET", "ListObjectsV2", M_LIST_OBJECTS, 0, S3_MAX_LIST_BODY,
                           parse_list },
    [S3_DELETE_OBJECT] = { "DELETE", "DeleteObject", M_DELETE_OBJECT, OPF_KEY,
                           S3_MAX_OTHER_BODY, NULL },
    [S3_CREATE_MULTIPART] = { "POST", "CreateMultipartUpload", M_CREATE_MULTIPART,
                              OPF_KEY | OPF_ONCE, S3_MAX_OTHER_BODY, parse_initiate },
    /* 1000 parts of about 150 bytes each. */
    [S3_LIST_PARTS] = { "GET", "ListParts", M_LIST_PARTS, OPF_KEY, S3_MAX_LIST_BODY,
                        parse_parts },
    [S3_COMPLETE_MULTIPART] = { "POST", "CompleteMultipartUpload", M_COMPLETE_MULTIPART,
                                OPF_KEY | OPF_ONCE, S3_MAX_OTHER_BODY, parse_complete },
    [S3_ABORT_MULTIPART] = { "DELETE", "AbortMultipartUpload", M_ABORT_MULTIPART, OPF_KEY,
                             S3_MAX_OTHER_BODY, NULL },
};

enum op_state { OPS_WAIT_CREDS, OPS_RUNNING, OPS_FINISH };

struct s3_op {
    struct s3_client *c;
    TAILQ_ENTRY(s3_op) link;
    const struct opdef *def;
    enum op_state state;
    s3_done_cb cb;
    void *arg;
    char *raw_path;              /* unencoded, signed as is */
    struct sigv4_kv *query;      /* unencoded, owned */
    size_t n_query;
    char *body;
    size_t body_len;
    char *content_type;
    struct sigv4_kv *headers;    /* more signed headers, owned */
    size_t n_headers;
    char payload_sha256[65];
    struct httpc_call *call;
    struct event tev;
    bool no_creds;               /* the last prepare found none */

    /* a delivered-later outcome (OPS_FINISH) */
    enum s3_status status;
    char *code, *message;
    struct s3xml_list list;
    struct s3xml_parts parts;
    struct s3xml_upload upload;
};

/* ------------------------------------------------------------ op life */

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

static void op_unlink(struct s3_op *op)
{
    TAILQ_REMOVE(&op->c->ops, op, link);
    op->c->inflight--;
}

static void op_release(struct s3_op *op)
{
    httpc_cancel(op->call);
    event_del(&op->tev);
    free(op->raw_path);
    for (size_t i = 0; i < op->n_query; i++)
        free((char *)op->query[i].value);
    free(op->query);
    free(op->body);
    free(op->content_type);
    for (size_t i = 0; i < op->n_headers; i++) {
        free((char *)op->headers[i].name);
        free((char *)op->headers[i].value);
    }
    free(op->headers);
    free(op->code);
    free(op->message);
    s3xml_list_free(&op->list);
    s3xml_parts_free(&op->parts);
    s3xml_upload_free(&op->upload);
    free(op);
}

static enum metrics_s3_outcome metric_outcome(enum s3_status st, long http_status)
{
    switch (st) {
    case S3_OK:          return METRICS_S3_OK;
    case S3_NOT_FOUND:   return METRICS_S3_NOT_FOUND;
    case S3_UNREACHABLE: return METRICS_S3_UNREACHABLE;
    default:
        return http_status >= 500 ? METRICS_S3_SERVER_ERROR : METRICS_S3_CLIENT_ERROR;
    }
}

/*
 * One warning per failed call would flood the log during an S3 outage (every
 * API request fails the same way): at most one a second, with a count of
 * those left out.
 */
static void log_failure(struct s3_client *c, const struct s3_op *op, const struct s3_result *r)
{
    double now = clock_mono();

    if (c->last_fail_log > 0 && now - c->last_fail_log < 1.0) {
        c->fail_suppressed++;
        return;
    }
    char more[64] = "";
    if (c->fail_suppressed)
        snprintf(more, sizeof more, " (%lu similar failures since the last warning)",
                 c->fail_suppressed);
    log_warn("S3 %s failed after %d attempt%s: %s%s%s%s", op->def->name, r->attempts,
             r->attempts == 1 ? "" : "s", r->code ? r->code : "error",
             r->message ? ": " : "", r->message ? r->message : "", more);
    c->last_fail_log = now;
    c->fail_suppressed = 0;
}

/* Hand R to OP's caller and free OP. */
static void deliver(struct s3_op *op, struct s3_result *r)
{
    struct s3_client *c = op->c;

    r->objects = op->list.objects;
    r->n_objects = op->list.n_objects;
    r->truncated = op->list.truncated || op->parts.truncated;
    r->next_token = op->list.next_token;
    r->upload_id = op->upload.upload_id;
    r->location = op->upload.location;
    if (op->upload.etag)
        r->etag = op->upload.etag;
    r->parts = op->parts.parts;
    r->n_parts = op->parts.n_parts;
    r->next_part_marker = op->parts.next_marker;
    /* Without credentials no S3 request was made: nothing to count. */
    if (r->status != S3_NO_CREDENTIALS) {
        metrics_s3_call(op->def->metric, metric_outcome(r->status, r->http_status), r->seconds);
        for (int i = 1; i < r->attempts; i++)
            metrics_s3_retry(op->def->metric);
    }
    if (r->status == S3_UNREACHABLE || (r->status == S3_ERROR && r->http_status >= 500))
        log_failure(c, op, r);
    op_unlink(op);
    op->call = NULL;
    if (op->cb)
        op->cb(r, op->arg);
    op_release(op);
}

static void finish_later(struct s3_op *op, enum s3_status st, const char *code,
                         const char *message)
{
    struct timeval zero = { 0, 0 };

    op->status = st;
    free(op->code);
    free(op->message);
    op->code = code ? strdup(code) : NULL;
    op->message = message ? strdup(message) : NULL;
    op->state = OPS_FINISH;
    event_del(&op->tev);
    evtimer_add(&op->tev, &zero);
}

static void on_op_timer(evutil_socket_t fd, short what, void *arg)
{
    struct s3_op *op = arg;
    struct s3_client *c = op->c;
    struct s3_result r;

    (void)fd;
    (void)what;
    enter(c);
    memset(&r, 0, sizeof r);
    r.content_length = -1;
    if (op->state == OPS_WAIT_CREDS) {
        r.status = S3_NO_CREDENTIALS;
        r.code = "NoCredentials";
        r.message = "timed out waiting for AWS credentials";
    } else {
        r.status = op->status;
        r.code = op->code;
        r.message = op->message;
    }
    deliver(op, &r);
    leave(c);
}

/* -------------------------------------------------------------- running */

static char *query_string(const struct s3_op *op)
{
    struct buf b;
    size_t *idx = op->n_query ? calloc(op->n_query, sizeof *idx) : NULL;

    if (op->n_query && !idx)
        return NULL;
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
    buf_init(&b, NULL, 0);
    buf_add(&b, "");
    for (size_t i = 0; i < op->n_query; i++) {
        char *n = sigv4_uri_encode(op->query[idx[i]].name, false);
        char *v = sigv4_uri_encode(op->query[idx[i]].value, false);
        if (!n || !v)
            b.oom = true;
        else
            buf_printf(&b, "%s%s=%s", i ? "&" : "", n, v);
        free(n);
        free(v);
    }
    free(idx);
    return buf_take(&b);
}

/* httpc asks before every attempt: the URL and headers, signed now. */
static bool prepare(struct httpc_call *call, void *arg, char *err, size_t errlen)
{
    struct s3_op *op = arg;
    struct s3_client *c = op->c;
    const struct creds *cr = credprov_get(c->creds);
    struct sigv4_kv hdrs[1 + S3_MAX_HEADERS], out[SIGV4_MAX_OUT_HEADERS];
    size_t n_hdrs = 0;

    if (!cr) {
        op->no_creds = true;
        errbuf_set(err, errlen, "no AWS credentials available");
        return false;
    }
    if (op->content_type)
        hdrs[n_hdrs++] = (struct sigv4_kv){ "content-type", op->content_type };
    for (size_t i = 0; i < op->n_headers; i++)
        hdrs[n_hdrs++] = op->headers[i];
    struct sigv4_creds sc = s3_signing_creds(cr);
    struct sigv4_request req = {
        .method = op->def->method,
        .host = c->api.host,
        .path = op->raw_path,
        .query = op->query,
        .n_query = op->n_query,
        .headers = hdrs,
        .n_headers = n_hdrs,
        .region = c->cfg->s3.region,
        .service = "s3",
        .now = time(NULL),
    };
    int n = sigv4_sign_headers(&req, op->body ? op->payload_sha256 : NULL, &sc, &c->sigcache,
                               out, err, errlen);
    if (n < 0)
        return false;
    /* The Host curl would derive is the one we signed, but say it
     * explicitly so the two can never drift apart. */
    httpc_add_header(call, "Host", c->api.host);
    for (int i = 0; i < n; i++)
        httpc_add_header(call, out[i].name, out[i].value);
    sigv4_headers_free(out, n);
    if (op->content_type)
        httpc_add_header(call, "Content-Type", op->content_type);
    for (size_t i = 0; i < op->n_headers; i++)
        httpc_add_header(call, op->headers[i].name, op->headers[i].value);
    httpc_add_header(call, "Accept", "application/xml");
    /* curl would add "Expect: 100-continue" to a large body: not signed. */
    if (op->body)
        httpc_add_header(call, "Expect", "");

    char *path = sigv4_uri_encode(op->raw_path, true);
    char *qs = query_string(op);
    char *url = NULL;
    if (path && qs && asprintf(&url, "%s://%s%s%s%s", c->api.scheme, c->api.host, path,
                               *qs ? "?" : "", qs) < 0)
        url = NULL;
    free(path);
    free(qs);
    if (!url) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    httpc_set_url(call, url);
    free(url);
    return true;
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
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static bool retry_answer(const struct httpc_response *res, void *arg)
{
    struct s3xml_error xe = { 0 };

    (void)arg;
    if (res->body_len == 0 || s3xml_parse_error(res->body, res->body_len, &xe) < 0)
        return false;
    bool again = retryable_code(xe.code);
    s3xml_error_free(&xe);
    return again;
}

static int parse_list(struct s3_op *op, const char *body, size_t len, char *err, size_t errlen)
{
    return s3xml_parse_list(body, len, &op->list, err, errlen);
}

static int parse_initiate(struct s3_op *op, const char *body, size_t len, char *err,
                          size_t errlen)
{
    if (s3xml_parse_upload(body, len, "InitiateMultipartUploadResult", &op->upload, err,
                           errlen) < 0)
        return -1;
    if (!op->upload.upload_id || !*op->upload.upload_id) {
        errbuf_set(err, errlen, "CreateMultipartUpload answered without an UploadId");
        return -1;
    }
    return 0;
}

static int parse_parts(struct s3_op *op, const char *body, size_t len, char *err, size_t errlen)
{
    return s3xml_parse_parts(body, len, &op->parts, err, errlen);
}

static int parse_complete(struct s3_op *op, const char *body, size_t len, char *err,
                          size_t errlen)
{
    return s3xml_parse_upload(body, len, "CompleteMultipartUploadResult", &op->upload, err,
                              errlen);
}

/* The call of OP ended: its S3 outcome. */
static void call_done(const struct httpc_response *res, void *arg)
{
    struct s3_op *op = arg;
    struct s3_client *c = op->c;
    struct s3xml_error xe = { 0 };
    struct s3_result r;
    char scode[16], perr[256];

    enter(c);
    op->call = NULL;
    memset(&r, 0, sizeof r);
    r.http_status = res->status;
    r.attempts = res->attempts;
    r.seconds = res->seconds;
    r.content_length = res->content_length;
    r.etag = res->etag;
    r.last_modified = res->last_modified;
    r.content_type = res->content_type;
    if (res->prepare_failed) {
        r.status = op->no_creds ? S3_NO_CREDENTIALS : S3_ERROR;
        r.code = op->no_creds ? "NoCredentials" : "InternalError";
        r.message = res->error;
    } else if (res->body_too_large) {
        r.status = S3_ERROR;
        r.code = "ResponseTooLarge";
        r.message = "the S3 response body exceeded the client's limit";
    } else if (res->curl_code) {
        /* code: curl's short text; message: the detail (address, errno) */
        r.status = S3_UNREACHABLE;
        r.code = res->error;
        r.message = res->error_detail && *res->error_detail ? res->error_detail : NULL;
        r.http_status = 0;
    } else if (res->status >= 200 && res->status < 300 && op->def->parse &&
               res->body_len > 0 && s3xml_parse_error(res->body, res->body_len, &xe) == 0) {
        /* CompleteMultipartUpload can fail after its 200 has been sent:
         * the error document then comes as the body of that 200. */
        r.status = S3_ERROR;
        r.code = xe.code ? xe.code : "InternalError";
        r.message = xe.message;
    } else if (res->status >= 200 && res->status < 300) {
        r.status = S3_OK;
        if (op->def->parse && op->def->parse(op, res->body, res->body_len, perr,
                                             sizeof perr) < 0) {
            r.status = S3_ERROR;
            r.code = "MalformedResponse";
            r.message = perr;
        }
    } else {
        if (res->body_len > 0)
            s3xml_parse_error(res->body, res->body_len, &xe);
        /* Body-less answers (HEAD) are named after their status, as
         * botocore does: code "403", message "Forbidden". */
        snprintf(scode, sizeof scode, "%ld", res->status);
        r.status = res->status == 404 ? S3_NOT_FOUND : S3_ERROR;
        r.code = xe.code ? xe.code : scode;
        r.message = xe.message ? xe.message : res->reason;
    }
    deliver(op, &r);
    s3xml_error_free(&xe);
    leave(c);
}

static void run(struct s3_op *op)
{
    struct s3_client *c = op->c;
    struct httpc_spec spec = {
        .method = op->def->method,
        .name = op->def->name,
        .max_attempts = (op->def->flags & OPF_ONCE) ? 1 : c->cfg->s3.max_attempts,
        .attempt_timeout_ms = c->cfg->s3.request_timeout_ms,
        .call_timeout_ms = c->cfg->s3.call_timeout_ms,
        .connect_timeout_ms = c->cfg->s3.connect_timeout_ms,
        .max_body = op->def->max_body,
        .budget = &c->budget,
    };

    if (op->def->flags & OPF_PROBE) {
        /* A probe must say how S3 is now, and before the prober gives up;
         * the load balancer retries on its own. */
        spec.max_attempts = 1;
        if (spec.attempt_timeout_ms > S3_PROBE_TIMEOUT_MS)
            spec.attempt_timeout_ms = S3_PROBE_TIMEOUT_MS;
    }
    event_del(&op->tev);
    op->state = OPS_RUNNING;
    op->call = httpc_start(c->http, &spec, op->body, op->body_len, prepare, retry_answer,
                           call_done, op);
    if (!op->call)
        finish_later(op, S3_ERROR, "InternalError", "cannot start the HTTP call");
}

static void waiting_ended(struct s3_client *c, const char *why)
{
    char msg[400];
    bool have = credprov_get(c->creds) != NULL;
    struct s3_op *op, *next;

    snprintf(msg, sizeof msg, "no AWS credentials available: %s", why);
    /* run() never calls back, so the list stays intact while we walk it. */
    for (op = TAILQ_FIRST(&c->ops); op; op = next) {
        next = TAILQ_NEXT(op, link);
        if (op->state != OPS_WAIT_CREDS)
            continue;
        if (have)
            run(op);
        else
            finish_later(op, S3_NO_CREDENTIALS, "NoCredentials", msg);
    }
}

static void on_credentials(void *arg)
{
    struct s3_client *c = arg;

    waiting_ended(c, credprov_why(c->creds));
}

/* ------------------------------------------------------------ public API */

struct s3_client *s3_client_new(struct event_base *base, struct httpc *http,
                                const struct cfg *cfg, char *err, size_t errlen)
{
    struct s3_client *c = calloc(1, sizeof *c);

    if (!c) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->http = http;
    c->cfg = cfg;
    TAILQ_INIT(&c->ops);
    httpc_budget_init(&c->budget);
    metrics_label_s3_ops(metric_labels, M_COUNT);
    if (!cfg->s3.bucket || !*cfg->s3.bucket) {
        errbuf_set(err, errlen, "s3.bucket is not set");
        goto fail;
    }
    if (s3addr_init(&c->api, cfg->s3.endpoint, &cfg->s3, err, errlen) < 0 ||
        s3addr_init(&c->pub, cfg->s3.public_endpoint ? cfg->s3.public_endpoint
                                                   : cfg->s3.endpoint,
                  &cfg->s3, err, errlen) < 0)
        goto fail;
    if (!(c->creds = credprov_new(base, c->http, cfg, M_IMDS, err, errlen)))
        goto fail;
    credprov_set_listener(c->creds, on_credentials, c);
    return c;
fail:
    client_destroy(c);
    return NULL;
}

static void client_destroy(struct s3_client *c)
{
    while (!TAILQ_EMPTY(&c->ops)) {
        struct s3_op *op = TAILQ_FIRST(&c->ops);
        op_unlink(op);
        op_release(op);
    }
    credprov_free(c->creds);
    s3addr_free(&c->api);
    s3addr_free(&c->pub);
    sigv4_cache_wipe(&c->sigcache);
    free(c);
}

void s3_client_free(struct s3_client *c)
{
    if (!c)
        return;
    if (c->depth > 0) {
        /* Inside one of our callbacks: cancel now, free on the way out. */
        while (!TAILQ_EMPTY(&c->ops)) {
            struct s3_op *op = TAILQ_FIRST(&c->ops);
            op_unlink(op);
            op_release(op);
        }
        c->free_pending = true;
        return;
    }
    client_destroy(c);
}

/* ARGS into OP; KEY is ARGS's key, or NULL for an operation on the bucket. */
static bool copy_args(struct s3_op *op, const struct s3_call_args *a, const char *key)
{
    if (!(op->raw_path = s3addr_path(&op->c->api, key)))
        return false;
    if (a->n_query) {
        if (!(op->query = calloc(a->n_query, sizeof *op->query)))
            return false;
        for (size_t i = 0; i < a->n_query; i++) {
            op->query[i].name = a->query[i].name;   /* names are literals */
            if (!(op->query[i].value = strdup(a->query[i].value)))
                return false;
            op->n_query++;
        }
    }
    if (a->body) {
        if (!(op->body = malloc(a->body_len ? a->body_len : 1)))
            return false;
        memcpy(op->body, a->body, a->body_len);
        op->body_len = a->body_len;
        sigv4_sha256_hex(a->body, a->body_len, op->payload_sha256);
    }
    if (a->content_type && !(op->content_type = strdup(a->content_type)))
        return false;
    if (a->n_headers > S3_MAX_HEADERS)
        return false;
    if (a->n_headers && !(op->headers = calloc(a->n_headers, sizeof *op->headers)))
        return false;
    for (size_t i = 0; i < a->n_headers; i++) {
        char *n = strdup(a->headers[i].name), *v = strdup(a->headers[i].value);
        op->headers[op->n_headers++] = (struct sigv4_kv){ n, v };
        if (!n || !v)
            return false;
    }
    return true;
}

struct s3_op *s3_call(struct s3_client *c, enum s3_opcode code, const struct s3_call_args *a,
                      s3_done_cb cb, void *arg)
{
    static const struct s3_call_args none;

    if (!c || c->free_pending || (unsigned)code >= sizeof ops / sizeof ops[0])
        return NULL;
    if (!a)
        a = &none;
    const struct opdef *def = &ops[code];
    if ((def->flags & OPF_KEY) && (!a->key || !*a->key))
        return NULL;
    struct s3_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->c = c;
    op->def = def;
    op->cb = cb;
    op->arg = arg;
    event_assign(&op->tev, c->base, -1, 0, on_op_timer, op);
    TAILQ_INSERT_TAIL(&c->ops, op, link);
    c->inflight++;
    if (!copy_args(op, a, (def->flags & OPF_KEY) ? a->key : NULL)) {
        op_unlink(op);
        op_release(op);
        return NULL;
    }
    if (credprov_get(c->creds)) {
        run(op);
    } else if (credprov_kick(c->creds)) {
        int wait_ms = c->cfg->s3.request_timeout_ms < c->cfg->s3.call_timeout_ms
                      ? c->cfg->s3.request_timeout_ms : c->cfg->s3.call_timeout_ms;
        struct timeval tv = clock_tv(wait_ms / 1000.0);
        op->state = OPS_WAIT_CREDS;
        evtimer_add(&op->tev, &tv);
    } else {
        char msg[400];
        snprintf(msg, sizeof msg, "no AWS credentials available: %s", credprov_why(c->creds));
        finish_later(op, S3_NO_CREDENTIALS, "NoCredentials", msg);
    }
    return op;
}

struct s3_op *s3_head_object(struct s3_client *c, const char *key, s3_done_cb cb, void *arg)
{
    return s3_call(c, S3_HEAD_OBJECT, &(struct s3_call_args){ .key = key }, cb, arg);
}

struct s3_op *s3_probe_bucket(struct s3_client *c, s3_done_cb cb, void *arg)
{
    return s3_call(c, S3_PROBE_BUCKET, NULL, cb, arg);
}

struct s3_op *s3_list_objects(struct s3_client *c, const char *prefix, int max_keys,
                              const char *token, s3_done_cb cb, void *arg)
{
    struct s3_param q[4];
    size_t n = 0;
    char mk[16];

    if (max_keys < 1)
        max_keys = 1;
    if (max_keys > 1000)
        max_keys = 1000;
    snprintf(mk, sizeof mk, "%d", max_keys);
    q[n++] = (struct s3_param){ "list-type", "2" };
    q[n++] = (struct s3_param){ "max-keys", mk };
    if (prefix && *prefix)
        q[n++] = (struct s3_param){ "prefix", prefix };
    if (token && *token)
        q[n++] = (struct s3_param){ "continuation-token", token };
    return s3_call(c, S3_LIST_OBJECTS, &(struct s3_call_args){ .query = q, .n_query = n },
                   cb, arg);
}

struct s3_op *s3_delete_object(struct s3_client *c, const char *key, s3_done_cb cb, void *arg)
{
    return s3_call(c, S3_DELETE_OBJECT, &(struct s3_call_args){ .key = key }, cb, arg);
}

struct s3_op *s3_create_multipart(struct s3_client *c, const char *key,
                                  const char *content_type, const struct s3_param *meta,
                                  size_t n_meta, s3_done_cb cb, void *arg)
{
    struct s3_param q[1] = { { "uploads", "" } };

    return s3_call(c, S3_CREATE_MULTIPART, &(struct s3_call_args){
                       .key = key, .query = q, .n_query = 1, .headers = meta,
                       .n_headers = n_meta, .content_type = content_type },
                   cb, arg);
}

struct s3_op *s3_list_parts(struct s3_client *c, const char *key, const char *upload_id,
                            int marker, s3_done_cb cb, void *arg)
{
    char m[16];
    struct s3_param q[3] = { { "uploadId", upload_id }, { "max-parts", "1000" } };
    size_t n = 2;

    if (marker > 0) {
        snprintf(m, sizeof m, "%d", marker);
        q[n++] = (struct s3_param){ "part-number-marker", m };
    }
    return s3_call(c, S3_LIST_PARTS, &(struct s3_call_args){
                       .key = key, .query = q, .n_query = n }, cb, arg);
}

struct s3_op *s3_complete_multipart(struct s3_client *c, const char *key,
                                    const char *upload_id, const struct s3_part *parts,
                                    size_t n_parts, s3_done_cb cb, void *arg)
{
    struct s3_param q[1] = { { "uploadId", upload_id } };
    struct buf body;
    char err[128];

    buf_init(&body, NULL, 0);
    if (!s3xml_complete_body(&body, parts, n_parts, err, sizeof err)) {
        buf_free(&body);
        return NULL;
    }
    struct s3_op *op = s3_call(c, S3_COMPLETE_MULTIPART, &(struct s3_call_args){
                                   .key = key, .query = q, .n_query = 1, .body = body.p,
                                   .body_len = body.len, .content_type = "application/xml" },
                               cb, arg);
    buf_free(&body);
    return op;
}

struct s3_op *s3_abort_multipart(struct s3_client *c, const char *key, const char *upload_id,
                                 s3_done_cb cb, void *arg)
{
    struct s3_param q[1] = { { "uploadId", upload_id } };

    return s3_call(c, S3_ABORT_MULTIPART, &(struct s3_call_args){
                       .key = key, .query = q, .n_query = 1 }, cb, arg);
}

void s3_cancel(struct s3_op *op)
{
    if (!op)
        return;
    op_unlink(op);
    op_release(op);
}

size_t s3_inflight(const struct s3_client *c)
{
    return c ? c->inflight : 0;
}

struct credprov *s3_credentials(struct s3_client *c)
{
    return c->creds;
}
