/*
 * s3.h - the asynchronous S3 client: one per worker, a libcurl multi handle
 * driven by the worker's libevent loop, plus presigning with the credentials
 * that client holds.
 *
 * Calls return at once; the callback runs later from the event loop, exactly
 * once, unless the operation was cancelled first. Nothing here blocks.
 */
#ifndef PRESIGND_S3_H
#define PRESIGND_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cfg;
struct s3_client;
struct s3_op;

enum s3_status {
    S3_OK = 0,
    S3_NOT_FOUND,        /* 404 / NoSuchKey */
    S3_ERROR,            /* S3 answered with another error (see http_status, code) */
    S3_UNREACHABLE,      /* connection refused, timeout, DNS... after retries */
    S3_NO_CREDENTIALS,   /* no credentials could be had (yet) */
};

struct s3_object {
    char *key;
    int64_t size;
    char *last_modified;   /* as S3 gives it: "2026-11-28T06:15:55.000Z" */
    char *etag;            /* with its quotes removed */
};

struct s3_result {
    enum s3_status status;
    long http_status;      /* last HTTP status, 0 when none */
    const char *code;      /* S3 error <Code> or curl error text; may be NULL */
    const char *message;   /* S3 error <Message>; may be NULL */
    int attempts;
    double seconds;        /* wall time of the whole call, retries included */

    /* HeadObject */
    int64_t content_length;
    const char *etag;
    const char *last_modified;
    const char *content_type;

    /* ListObjectsV2 */
    const struct s3_object *objects;
    size_t n_objects;
    bool truncated;
    const char *next_token;  /* NextContinuationToken, NULL when none */
};

/* Called once per operation; RES and everything it points to live only
 * during the call. */
typedef void (*s3_done_cb)(const struct s3_result *res, void *arg);

/* New client on BASE for CFG (the config must outlive the client). */
struct s3_client *s3_client_new(struct event_base *base, const struct cfg *cfg,
                                char *err, size_t errlen);
/* Cancels everything in flight (no callbacks) and frees. */
void s3_client_free(struct s3_client *c);

struct s3_op *s3_head_object(struct s3_client *c, const char *key,
                             s3_done_cb cb, void *arg);
struct s3_op *s3_head_bucket(struct s3_client *c, s3_done_cb cb, void *arg);
/*
 * HeadBucket as a health probe: one attempt, at most 3 s (less when
 * s3.request_timeout_ms is lower). A probe must say how S3 is now, and before
 * the prober gives up; the load balancer retries on its own.
 */
struct s3_op *s3_probe_bucket(struct s3_client *c, s3_done_cb cb, void *arg);
/* TOKEN may be NULL; MAX_KEYS 1..1000. */
struct s3_op *s3_list_objects(struct s3_client *c, const char *prefix,
                              int max_keys, const char *token,
                              s3_done_cb cb, void *arg);
struct s3_op *s3_delete_object(struct s3_client *c, const char *key,
                               s3_done_cb cb, void *arg);
/* The callback of OP will not run; safe to call from any callback except
 * OP's own. A NULL OP is ignored. */
void s3_cancel(struct s3_op *op);

/* Operations started and not yet completed or cancelled. */
size_t s3_inflight(const struct s3_client *c);

struct s3_presigned {
    char *url;            /* malloc'd */
    long expires_in;      /* the real lifetime: capped by the credentials' expiry */
    const char *method;   /* "PUT", "GET" */
};

/*
 * Presign METHOD ("PUT" or "GET") for KEY. For PUT, CONTENT_TYPE is signed
 * (the client must send exactly it) and CONTENT_LENGTH too when >= 0.
 * Returns S3_OK, or S3_NO_CREDENTIALS / S3_ERROR with ERR filled (e.g.
 * credentials too close to expiry to give a useful URL).
 */
enum s3_status s3_presign(struct s3_client *c, const char *method, const char *key,
                          const char *content_type, int64_t content_length,
                          long expires, struct s3_presigned *out,
                          char *err, size_t errlen);
void s3_presigned_free(struct s3_presigned *p);

/* Unix time at which the current credentials expire; 0 = never, -1 = none yet. */
double s3_credentials_expiry(const struct s3_client *c);

/*
 * Process-wide libcurl initialisation: call once, before any client exists
 * and before forking workers (curl_global_init is not thread- or fork-safe
 * to repeat). Returns 0, or -1 with ERR filled.
 */
int s3_global_init(char *err, size_t errlen);

/* True while no usable credentials are held and a fetch from instance
 * metadata is in progress (operations started now wait for it). */
bool s3_credentials_pending(const struct s3_client *c);

#endif
