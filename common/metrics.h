/*
 * metrics.h - Prometheus counters, histograms and gauges shared by every
 * process.
 *
 * The master calls metrics_init() before it forks anything: the counters
 * live in a shared-memory zone (shm.h) that every worker inherits and that
 * outlives reloads, so /metrics shows the same totals whichever worker
 * answers. Updates are lock-free atomic adds; label values are indexes into
 * fixed tables, so nothing is ever allocated in the shared zone.
 *
 * Label tables come from their owners, once per process before the first
 * render: the HTTP routes from the route table (daemon/route.c), the S3
 * operations from the S3 client's operation table (s3.c). An index without
 * a label is counted and not rendered.
 */
#ifndef PRESIGND_METRICS_H
#define PRESIGND_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#define METRICS_MAX_ROUTES  32
#define METRICS_MAX_S3_OPS  16
/* Worker slots of the in-flight gauge: two generations of the largest
 * worker count, which is what a reload runs at its peak. */
#define METRICS_MAX_SLOTS   2048

enum metrics_s3_outcome {
    METRICS_S3_OK,               /* 2xx */
    METRICS_S3_NOT_FOUND,        /* 404 (an answer, not a failure) */
    METRICS_S3_CLIENT_ERROR,     /* other 4xx */
    METRICS_S3_SERVER_ERROR,     /* 5xx after retries */
    METRICS_S3_UNREACHABLE,      /* connection error / timeout */
    METRICS_S3_OUTCOME_COUNT
};

enum metrics_presign_kind {
    METRICS_PRESIGN_UPLOAD,
    METRICS_PRESIGN_DOWNLOAD,
    METRICS_PRESIGN_KIND_COUNT
};

/* Master, before forking: map the shared zone (again after a reload: the
 * same memory). Returns 0, or -1 with ERR filled. */
int metrics_init(char *err, size_t errlen);

/* The "route" label of each route index (LABELS[i] for route i), and the
 * "operation" label of each S3 operation index. The arrays must live as
 * long as the process. */
void metrics_label_routes(const char *const *labels, size_t n);
void metrics_label_s3_ops(const char *const *labels, size_t n);

/* One answered request of ROUTE (an index of the route table); METHOD is the
 * request method string (unknown ones count as "OTHER"). */
void metrics_http_request(unsigned route, const char *method, int status, double seconds);

/*
 * The in-flight gauge: a worker owns slot SLOT (given by the master, unique
 * among live workers) and adds DELTA as requests arrive and are answered;
 * the master clears the slot of a worker that died, so requests of a
 * killed worker do not stay counted. Rendered as the sum of all slots. A
 * process without a slot (-1) counts nothing.
 */
void metrics_set_slot(int slot);
void metrics_http_in_flight(int delta);
void metrics_clear_slot(int slot);

void metrics_s3_call(unsigned op, enum metrics_s3_outcome outcome, double seconds);
void metrics_s3_retry(unsigned op);
void metrics_presign(enum metrics_presign_kind kind);
void metrics_reload(bool ok);
/* A request refused with 429 by the rate limit. */
void metrics_rate_limited(void);
void metrics_worker_restart(void);
/* When the credentials in use expire, as a unix time; 0 means there are
 * none (the gauge shows 0), a negative value that they are static and never
 * expire (the gauge shows +Inf). */
void metrics_set_credentials_expiry(double unix_time);
/* Workers of the current generation, as the master counts them. */
void metrics_set_workers(int n);
void metrics_set_generation(unsigned long generation);

/*
 * The whole exposition (text format 0.0.4) as a malloc'd NUL-terminated
 * string; *LEN gets its length. NULL on out-of-memory.
 */
char *metrics_render(size_t *len);

#endif
