/*
 * metrics.c - Prometheus counters, histograms and gauges in shared memory.
 *
 * Owns the "metrics" shared-memory zone (shm.h) that the master maps before
 * it forks and every worker inherits, and the text exposition (format
 * 0.0.4) that GET /metrics returns. A reload asks for the same zone and gets
 * the same memory, so counters never go backwards while the daemon runs.
 *
 * Every label value is an index into a fixed table, so the zone is a plain
 * struct of integer arrays: no allocation, no locks, no pointers in shared
 * memory. Updates are relaxed atomic adds (a counter only needs its own
 * increments to be atomic; no ordering between counters is promised to a
 * scraper, as with any Prometheus client). Histogram buckets are stored per
 * bucket and made cumulative at render time, so an observation is exactly
 * three adds; sums are kept in integer microseconds so they can be added
 * atomically without a float CAS loop.
 *
 * Before metrics_init() (unit tests, tools) the same code updates a private
 * static region, so callers never need to check whether metrics are on.
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "shm.h"

#ifndef PRESIGND_VERSION
#define PRESIGND_VERSION "unknown"
#endif

/* ---- label tables ---------------------------------------------------- */

/* Filled by metrics_label_routes / metrics_label_s3_ops in each process. */
static const char *const *route_names;
static size_t n_route_names;
static const char *const *s3_op_names;
static size_t n_s3_op_names;

/* A raw method string would let any client create label values; the method
 * set of the API plus the usual extras, everything else is "OTHER". */
static const char *const method_names[] = {
    "GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "PATCH", "OTHER",
};
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))
#define METHOD_OTHER (N_METHODS - 1)

/* The statuses presignd itself emits keep their exact code; anything else
 * (libevent's own answers, future additions) falls into its class, so the
 * table stays small and fixed whatever happens. */
static const char *const status_names[] = {
    "200", "204", "400", "401", "403", "404", "405", "412", "413", "415", "429", "499",
    "500", "501", "502", "503", "504", "505",
    "1xx", "2xx", "3xx", "4xx", "5xx", "other",
};
static const int status_codes[] = {
    200, 204, 400, 401, 403, 404, 405, 412, 413, 415, 429, 499,
    500, 501, 502, 503, 504, 505,
};
#define N_STATUS (sizeof(status_names) / sizeof(status_names[0]))
#define N_STATUS_EXACT (sizeof(status_codes) / sizeof(status_codes[0]))
#define STATUS_CLASS_BASE N_STATUS_EXACT  /* index of "1xx" */
#define STATUS_OTHER (N_STATUS - 1)


static const char *const s3_outcome_names[METRICS_S3_OUTCOME_COUNT] = {
    [METRICS_S3_OK] = "ok",
    [METRICS_S3_NOT_FOUND] = "not_found",
    [METRICS_S3_CLIENT_ERROR] = "client_error",
    [METRICS_S3_SERVER_ERROR] = "server_error",
    [METRICS_S3_UNREACHABLE] = "unreachable",
};

static const char *const presign_kind_names[METRICS_PRESIGN_KIND_COUNT] = {
    [METRICS_PRESIGN_UPLOAD] = "upload",
    [METRICS_PRESIGN_DOWNLOAD] = "download",
};

/* Bucket bounds: the label text and the same bound in microseconds (compared
 * as integers, so "le" is exact and needs no float formatting). */
struct bucket {
    const char *le;
    uint64_t us;
};

static const struct bucket http_buckets[] = {
    { "0.001", 1000 }, { "0.0025", 2500 }, { "0.005", 5000 },
    { "0.01", 10000 }, { "0.025", 25000 }, { "0.05", 50000 },
    { "0.1", 100000 }, { "0.25", 250000 }, { "0.5", 500000 },
    { "1", 1000000 }, { "2.5", 2500000 }, { "5", 5000000 },
    { "10", 10000000 },
};
#define N_HTTP_BUCKETS (sizeof(http_buckets) / sizeof(http_buckets[0]))

static const struct bucket s3_buckets[] = {
    { "0.005", 5000 }, { "0.01", 10000 }, { "0.025", 25000 },
    { "0.05", 50000 }, { "0.1", 100000 }, { "0.25", 250000 },
    { "0.5", 500000 }, { "1", 1000000 }, { "2.5", 2500000 },
    { "5", 5000000 }, { "10", 10000000 }, { "30", 30000000 },
};
#define N_S3_BUCKETS (sizeof(s3_buckets) / sizeof(s3_buckets[0]))

/* ---- the shared region ---------------------------------------------- */

/* One histogram series with NB finite buckets + the +Inf slot. */
#define HIST(nb) struct { uint64_t bucket[(nb) + 1]; uint64_t sum_us; uint64_t count; }

struct metrics_region {
    uint64_t http_requests[METRICS_MAX_ROUTES][N_METHODS][N_STATUS];
    HIST(N_HTTP_BUCKETS) http_duration[METRICS_MAX_ROUTES];
    int64_t in_flight[METRICS_MAX_SLOTS];

    uint64_t s3_requests[METRICS_MAX_S3_OPS][METRICS_S3_OUTCOME_COUNT];
    HIST(N_S3_BUCKETS) s3_duration[METRICS_MAX_S3_OPS];
    uint64_t s3_retries[METRICS_MAX_S3_OPS];

    uint64_t presigned[METRICS_PRESIGN_KIND_COUNT];
    uint64_t reloads_ok;
    uint64_t reloads_failed;
    uint64_t worker_restarts;
    uint64_t rate_limited;

    /* Credentials expiry in unix milliseconds: CRED_NONE, CRED_NEVER or a time. */
    int64_t cred_expiry_ms;
    int64_t workers;
    uint64_t generation;
    int64_t start_time;
};

#define CRED_NONE  0
#define CRED_NEVER (-1)

static struct metrics_region local_region;
static struct metrics_region *M = &local_region;
static int my_slot;                 /* this process's in-flight slot */

#define ADD(p, v)  __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define LOAD(p)    __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

int metrics_init(char *err, size_t errlen)
{
    bool fresh;
    struct metrics_region *p = shm_zone("metrics", sizeof *p, &fresh, err, errlen);

    if (!p)
        return -1;
    if (fresh) {
        /* Anything counted before the zone existed (config checks, the
         * master's own start-up) is carried over rather than lost. */
        memcpy(p, M, sizeof *p);
        STORE(&p->start_time, (int64_t)clock_wall());
    }
    M = p;
    return 0;
}

void metrics_label_routes(const char *const *labels, size_t n)
{
    route_names = labels;
    n_route_names = n < METRICS_MAX_ROUTES ? n : METRICS_MAX_ROUTES;
}

void metrics_label_s3_ops(const char *const *labels, size_t n)
{
    s3_op_names = labels;
    n_s3_op_names = n < METRICS_MAX_S3_OPS ? n : METRICS_MAX_S3_OPS;
}

/* ---- updates -------------------------------------------------------- */

static size_t method_index(const char *method)
{
    if (method == NULL)
        return METHOD_OTHER;
    for (size_t i = 0; i < METHOD_OTHER; i++)
        if (strcmp(method, method_names[i]) == 0)
            return i;
    return METHOD_OTHER;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_STATUS_EXACT; i++)
        if (status_codes[i] == status)
            return i;
    if (status >= 100 && status <= 599)
        return STATUS_CLASS_BASE + (size_t)(status / 100 - 1);
    return STATUS_OTHER;
}

static uint64_t seconds_to_us(double seconds)
{
    if (!(seconds > 0))         /* also catches NaN */
        return 0;
    if (seconds > 1e9)
        seconds = 1e9;
    return (uint64_t)llround(seconds * 1e6);
}

static void observe(uint64_t *buckets, uint64_t *sum_us, uint64_t *count,
                    const struct bucket *bounds, size_t nb, double seconds)
{
    uint64_t us = seconds_to_us(seconds);
    size_t i = 0;
    while (i < nb && us > bounds[i].us)
        i++;
    ADD(&buckets[i], 1);        /* i == nb: the +Inf slot */
    ADD(sum_us, us);
    ADD(count, 1);
}

void metrics_http_request(unsigned route, const char *method, int status, double seconds)
{
    if (route >= METRICS_MAX_ROUTES)
        return;
    ADD(&M->http_requests[route][method_index(method)][status_index(status)], 1);
    observe(M->http_duration[route].bucket, &M->http_duration[route].sum_us,
            &M->http_duration[route].count, http_buckets, N_HTTP_BUCKETS, seconds);
}

void metrics_set_slot(int slot)
{
    my_slot = slot >= 0 && slot < METRICS_MAX_SLOTS ? slot : -1;
}

void metrics_http_in_flight(int delta)
{
    /* Without a slot of its own a process counts nothing rather than mix
     * its requests into another worker's slot. */
    if (my_slot >= 0)
        ADD(&M->in_flight[my_slot], (int64_t)delta);
}

void metrics_clear_slot(int slot)
{
    if (slot >= 0 && slot < METRICS_MAX_SLOTS)
        STORE(&M->in_flight[slot], 0);
}

void metrics_s3_call(unsigned op, enum metrics_s3_outcome outcome, double seconds)
{
    if (op >= METRICS_MAX_S3_OPS || (unsigned)outcome >= METRICS_S3_OUTCOME_COUNT)
        return;
    ADD(&M->s3_requests[op][outcome], 1);
    observe(M->s3_duration[op].bucket, &M->s3_duration[op].sum_us,
            &M->s3_duration[op].count, s3_buckets, N_S3_BUCKETS, seconds);
}

void metrics_s3_retry(unsigned op)
{
    if (op < METRICS_MAX_S3_OPS)
        ADD(&M->s3_retries[op], 1);
}

void metrics_presign(enum metrics_presign_kind kind)
{
    if ((unsigned)kind < METRICS_PRESIGN_KIND_COUNT)
        ADD(&M->presigned[kind], 1);
}

void metrics_reload(bool ok)
{
    ADD(ok ? &M->reloads_ok : &M->reloads_failed, 1);
}

void metrics_rate_limited(void)
{
    ADD(&M->rate_limited, 1);
}

void metrics_worker_restart(void)
{
    ADD(&M->worker_restarts, 1);
}

void metrics_set_credentials_expiry(double unix_time)
{
    int64_t v;
    if (isnan(unix_time) || unix_time < 0 || isinf(unix_time))
        v = CRED_NEVER;         /* static credentials: they never expire */
    else if (unix_time == 0)
        v = CRED_NONE;          /* no credentials at all */
    else
        v = (int64_t)llround(unix_time * 1000.0);
    STORE(&M->cred_expiry_ms, v);
}

void metrics_set_workers(int n)
{
    STORE(&M->workers, (int64_t)n);
}

void metrics_set_generation(unsigned long generation)
{
    STORE(&M->generation, (uint64_t)generation);
}

/* ---- rendering ------------------------------------------------------ */

/* Label values escaped as the text format wants: backslash, quote, newline. */
static void buf_label(struct buf *b, const char *v)
{
    for (; *v; v++) {
        switch (*v) {
        case '\\': buf_add(b, "\\\\"); break;
        case '"':  buf_add(b, "\\\""); break;
        case '\n': buf_add(b, "\\n"); break;
        default:   buf_addc(b, *v); break;
        }
    }
}

static void family(struct buf *b, const char *name, const char *type,
                   const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_hist(struct buf *b, const char *name, const char *label,
                        const char *value, const uint64_t *buckets,
                        uint64_t sum_us, const struct bucket *bounds, size_t nb)
{
    /* Load the buckets once and derive _count from them, so that a scrape
     * racing with an observation still sees +Inf == _count. */
    uint64_t cum = 0;
    for (size_t i = 0; i <= nb; i++) {
        cum += LOAD(&buckets[i]);
        buf_printf(b, "%s_bucket{%s=\"", name, label);
        buf_label(b, value);
        buf_printf(b, "\",le=\"%s\"} %llu\n", i < nb ? bounds[i].le : "+Inf",
                   (unsigned long long)cum);
    }
    buf_printf(b, "%s_sum{%s=\"", name, label);
    buf_label(b, value);
    buf_printf(b, "\"} %llu.%06llu\n", (unsigned long long)(sum_us / 1000000),
               (unsigned long long)(sum_us % 1000000));
    buf_printf(b, "%s_count{%s=\"", name, label);
    buf_label(b, value);
    buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
}

static void render_credentials(struct buf *b)
{
    int64_t v = LOAD(&M->cred_expiry_ms);
    family(b, "presignd_credentials_expiry_seconds", "gauge",
           "Seconds until the S3 credentials in use expire (+Inf: static, 0: none).");
    if (v == CRED_NEVER) {
        buf_printf(b, "presignd_credentials_expiry_seconds +Inf\n");
    } else if (v == CRED_NONE) {
        buf_printf(b, "presignd_credentials_expiry_seconds 0\n");
    } else {
        int64_t left = v - (int64_t)(clock_wall() * 1000.0);
        if (left < 0)
            left = 0;
        buf_printf(b, "presignd_credentials_expiry_seconds %lld.%03lld\n",
                   (long long)(left / 1000), (long long)(left % 1000));
    }
}

char *metrics_render(size_t *len)
{
    struct buf b;

    buf_init(&b, NULL, 0);
    if (!buf_reserve(&b, 16384))
        return NULL;

    family(&b, "presignd_http_requests_total", "counter",
           "HTTP requests answered, by route, method and status.");
    for (size_t r = 0; r < n_route_names; r++)
        for (size_t m = 0; m < N_METHODS && route_names[r]; m++)
            for (size_t s = 0; s < N_STATUS; s++) {
                uint64_t v = LOAD(&M->http_requests[r][m][s]);
                if (v == 0)
                    continue;
                buf_printf(&b, "presignd_http_requests_total{route=\"");
                buf_label(&b, route_names[r]);
                buf_printf(&b, "\",method=\"%s\",status=\"%s\"} %llu\n",
                           method_names[m], status_names[s], (unsigned long long)v);
            }

    family(&b, "presignd_http_request_duration_seconds", "histogram",
           "Time from request to response, by route.");
    for (size_t r = 0; r < n_route_names; r++) {
        if (!route_names[r] || LOAD(&M->http_duration[r].count) == 0)
            continue;
        render_hist(&b, "presignd_http_request_duration_seconds", "route",
                    route_names[r], M->http_duration[r].bucket,
                    LOAD(&M->http_duration[r].sum_us), http_buckets, N_HTTP_BUCKETS);
    }

    family(&b, "presignd_http_requests_in_flight", "gauge",
           "HTTP requests being handled now, all workers.");
    int64_t inflight = 0;
    for (size_t i = 0; i < METRICS_MAX_SLOTS; i++)
        inflight += LOAD(&M->in_flight[i]);
    buf_printf(&b, "presignd_http_requests_in_flight %lld\n",
               (long long)(inflight < 0 ? 0 : inflight));

    family(&b, "presignd_s3_requests_total", "counter",
           "S3 (and IMDS) calls, by operation and final outcome.");
    for (size_t o = 0; o < n_s3_op_names; o++)
        for (size_t k = 0; k < METRICS_S3_OUTCOME_COUNT && s3_op_names[o]; k++) {
            uint64_t v = LOAD(&M->s3_requests[o][k]);
            if (v == 0)
                continue;
            buf_printf(&b, "presignd_s3_requests_total{operation=\"%s\",outcome=\"%s\"} %llu\n",
                       s3_op_names[o], s3_outcome_names[k], (unsigned long long)v);
        }

    family(&b, "presignd_s3_request_duration_seconds", "histogram",
           "S3 call duration including retries, by operation.");
    for (size_t o = 0; o < n_s3_op_names; o++) {
        if (!s3_op_names[o] || LOAD(&M->s3_duration[o].count) == 0)
            continue;
        render_hist(&b, "presignd_s3_request_duration_seconds", "operation",
                    s3_op_names[o], M->s3_duration[o].bucket,
                    LOAD(&M->s3_duration[o].sum_us), s3_buckets, N_S3_BUCKETS);
    }

    family(&b, "presignd_s3_retries_total", "counter",
           "S3 calls retried, by operation.");
    for (size_t o = 0; o < n_s3_op_names; o++)
        if (s3_op_names[o])
            buf_printf(&b, "presignd_s3_retries_total{operation=\"%s\"} %llu\n",
                       s3_op_names[o], (unsigned long long)LOAD(&M->s3_retries[o]));

    family(&b, "presignd_presigned_urls_total", "counter",
           "Presigned URLs issued, by kind.");
    for (size_t k = 0; k < METRICS_PRESIGN_KIND_COUNT; k++)
        buf_printf(&b, "presignd_presigned_urls_total{kind=\"%s\"} %llu\n",
                   presign_kind_names[k], (unsigned long long)LOAD(&M->presigned[k]));

    family(&b, "presignd_reloads_total", "counter",
           "Configuration reloads, by result.");
    buf_printf(&b, "presignd_reloads_total{result=\"ok\"} %llu\n",
               (unsigned long long)LOAD(&M->reloads_ok));
    buf_printf(&b, "presignd_reloads_total{result=\"failed\"} %llu\n",
               (unsigned long long)LOAD(&M->reloads_failed));

    family(&b, "presignd_rate_limited_total", "counter",
           "Requests refused by the rate limit (429).");
    buf_printf(&b, "presignd_rate_limited_total %llu\n",
               (unsigned long long)LOAD(&M->rate_limited));

    family(&b, "presignd_worker_restarts_total", "counter",
           "Workers respawned after an unexpected exit.");
    buf_printf(&b, "presignd_worker_restarts_total %llu\n",
               (unsigned long long)LOAD(&M->worker_restarts));

    render_credentials(&b);

    family(&b, "presignd_workers", "gauge",
           "Live workers of the current generation.");
    buf_printf(&b, "presignd_workers %lld\n", (long long)LOAD(&M->workers));

    family(&b, "presignd_generation", "gauge",
           "Worker generation; goes up by one on every successful reload.");
    buf_printf(&b, "presignd_generation %llu\n",
               (unsigned long long)LOAD(&M->generation));

    family(&b, "presignd_build_info", "gauge",
           "Build information; always 1.");
    buf_printf(&b, "presignd_build_info{version=\"");
    buf_label(&b, PRESIGND_VERSION);
    buf_printf(&b, "\"} 1\n");

    family(&b, "presignd_start_time_seconds", "gauge",
           "Unix time the master process started.");
    buf_printf(&b, "presignd_start_time_seconds %lld\n",
               (long long)LOAD(&M->start_time));

    size_t n = b.len;
    char *text = buf_take(&b);
    if (text && len != NULL)
        *len = n;
    return text;
}
