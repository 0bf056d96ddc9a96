/*
 * handle_health.c - GET /health: is S3 reachable with our credentials?
 *
 * A load balancer probes every few seconds on every instance, often on
 * several connections at once: one HeadBucket (a probe: one attempt, at
 * most 3 s) is made at a time, every probe that arrives meanwhile shares
 * its answer, and the answer is reused for s3.health_cache_ms.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "errbuf.h"
#include "http.h"
#include "req.h"
#include "s3.h"

#ifndef PRESIGND_VERSION
#define PRESIGND_VERSION "0.0.0"
#endif

struct health_state {
    struct s3_op *op;               /* the HeadBucket in flight, or NULL */
    struct req_list waiters;        /* probes waiting for it */
    bool have;                      /* a cached answer */
    struct timespec at;             /* monotonic, when it came */
    bool ok;
    char error_code[32];
    char detail[256];
};

int handle_health_init(struct api *api, char *err, size_t errlen)
{
    api->health = calloc(1, sizeof *api->health);
    if (!api->health) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    TAILQ_INIT(&api->health->waiters);
    return 0;
}

void handle_health_free(struct api *api)
{
    if (api->health && api->health->op)
        s3_cancel(api->health->op);
    free(api->health);
    api->health = NULL;
}

static void reply_health(struct req *r)
{
    const struct health_state *h = r->api->health;
    struct timespec now;
    char ts[40];

    clock_gettime(CLOCK_REALTIME, &now);
    http_time_iso_ms(&now, ts, sizeof ts);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string(h->ok ? "healthy" : "unhealthy"));
    json_object_object_add(o, "s3_connection", json_object_new_string(h->ok ? "ok" : "error"));
    if (!h->ok) {
        json_object_object_add(o, "detail", json_object_new_string(h->detail));
        json_object_object_add(o, "error_code", json_object_new_string(h->error_code));
    }
    json_object_object_add(o, "timestamp", json_object_new_string(ts));
    json_object_object_add(o, "version", json_object_new_string(PRESIGND_VERSION));
    req_reply_json(r, h->ok ? 200 : 503, o, REQ_NO_STORE);
}

/* RES NULL: the probe could not even start. */
static void store(struct health_state *h, const struct s3_result *res)
{
    const char *code = res && res->code ? res->code : "unknown";

    h->ok = false;
    if (!res) {
        snprintf(h->error_code, sizeof h->error_code, "s3_unavailable");
        snprintf(h->detail, sizeof h->detail, "cannot start the S3 request");
    } else if (res->status == S3_OK) {
        h->ok = true;
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
    h->have = res != NULL;
    clock_mono_ts(&h->at);
}

static void answer_waiters(struct health_state *h, const struct s3_result *res)
{
    while (!TAILQ_EMPTY(&h->waiters)) {
        struct req *r = TAILQ_FIRST(&h->waiters);
        TAILQ_REMOVE(&h->waiters, r, wait_link);
        r->wait_list = NULL;
        if (res)
            req_s3_account(r, res);
        reply_health(r);
    }
}

static void probe_done(const struct s3_result *res, void *arg)
{
    struct health_state *h = arg;

    h->op = NULL;
    store(h, res);
    answer_waiters(h, res);
}

void handle_health(struct req *r)
{
    struct api *api = r->api;
    struct health_state *h = api->health;

    if (h->have && clock_since(&h->at) * 1000.0 < api->cfg->s3.health_cache_ms) {
        reply_health(r);
        return;
    }
    req_wait_other(r);      /* the probe's own 3 s limit answers it */
    TAILQ_INSERT_TAIL(&h->waiters, r, wait_link);
    r->wait_list = &h->waiters;
    if (!h->op) {
        h->op = s3_probe_bucket(api->s3, probe_done, h);
        if (!h->op) {
            store(h, NULL);
            answer_waiters(h, NULL);
        }
    }
}
