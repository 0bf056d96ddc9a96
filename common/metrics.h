/*
 * metrics.h - Prometheus counters and histograms shared by every process.
 *
 * The master calls metrics_init() before it forks anything: the counters live
 * in one anonymous MAP_SHARED mapping that every worker inherits and that
 * outlives reloads, so /metrics shows the same totals whichever worker
 * answers. Updates are lock-free atomic adds; label sets are fixed enums or
 * small interned tables, so no worker ever allocates in the shared region.
 */
#ifndef PRESIGND_METRICS_H
#define PRESIGND_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* Routes as they appear in the "route" label (never a raw path). */
enum metrics_route {
    METRICS_ROUTE_ROOT,          /* "/" */
    METRICS_ROUTE_UPLOAD_URL,    /* "/upload-url" */
    METRICS_ROUTE_DOWNLOAD_URL,  /* "/download-url" */
    METRICS_ROUTE_FILES,         /* "/files" */
    METRICS_ROUTE_FILE,          /* "/files/{key}" */
    METRICS_ROUTE_HEALTH,        /* "/health" */
    METRICS_ROUTE_METRICS,       /* "/metrics" */
    METRICS_ROUTE_OPENAPI,       /* "/openapi.json" */
    METRICS_ROUTE_DOCS,          /* "/docs" */
    METRICS_ROUTE_OTHER,         /* anything else (404s) */
    METRICS_ROUTE_COUNT
};

enum metrics_s3_op {
    METRICS_S3_HEAD_OBJECT,
    METRICS_S3_HEAD_BUCKET,
    METRICS_S3_LIST_OBJECTS,
    METRICS_S3_DELETE_OBJECT,
    METRICS_S3_IMDS,             /* credential fetches from EC2 IMDS */
    METRICS_S3_OP_COUNT
};

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

/* Master, before forking: map the shared region. Returns 0 or -1 (errno). */
int metrics_init(void);

/* Labels for the HTTP request counter: METHOD is the request method string. */
void metrics_http_request(enum metrics_route route, const char *method,
                          int status, double seconds);
/* Requests being handled now: +1 when a request arrives, -1 when answered. */
void metrics_http_in_flight(int delta);
void metrics_s3_call(enum metrics_s3_op op, enum metrics_s3_outcome outcome,
                     double seconds);
void metrics_s3_retry(enum metrics_s3_op op);
void metrics_presign(enum metrics_presign_kind kind);
void metrics_reload(bool ok);
void metrics_worker_restart(void);
/* Seconds until the credentials in use expire; a negative value = never. */
/* UNIX_TIME is the unix time they expire at; 0 means no credentials (the
 * gauge shows 0), a negative value static ones (the gauge shows +Inf). */
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
