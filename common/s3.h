/*
 * s3.h - the asynchronous S3 client: one per worker, the S3 operations
 * presignd makes itself (on the worker's HTTP client, httpc.h) and the
 * presigning of URLs with the credentials that client holds (credprov.h).
 *
 * Calls return at once; the callback runs later from the event loop, exactly
 * once, unless the operation was cancelled first. Nothing here blocks. Each
 * attempt of a call is signed afresh (SigV4 header auth, the payload hash
 * of a request body signed too); only idempotent operations are retried.
 * A call without usable credentials waits for a fetch in progress (at most
 * one attempt's timeout) or ends with S3_NO_CREDENTIALS; a URL (or a POST
 * policy) is never signed with credentials that expired, nor made to
 * outlive them.
 */
#ifndef PRESIGND_S3_H
#define PRESIGND_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cfg;
struct credprov;
struct httpc;
struct s3_client;
struct s3_op;

enum s3_status {
    S3_OK = 0,
    S3_NOT_FOUND,        /* 404 / NoSuchKey */
    S3_ERROR,            /* S3 answered with another error (see http_status, code) */
    S3_UNREACHABLE,      /* connection refused, timeout, DNS... after retries */
    S3_NO_CREDENTIALS,   /* no credentials could be had (yet) */
};

/* The operations; each is a row of the table in s3.c. */
enum s3_opcode {
    S3_HEAD_OBJECT,
    S3_HEAD_BUCKET,
    S3_PROBE_BUCKET,     /* HeadBucket as a health probe: one attempt, at most 3 s */
    S3_LIST_OBJECTS,
    S3_DELETE_OBJECT,
    /* Multipart uploads: presignd makes these itself, only the part PUTs go
     * from clients to S3. Create and Complete are not retried (neither is
     * idempotent: a second Create leaves an orphan upload, a second
     * Complete answers NoSuchUpload). */
    S3_CREATE_MULTIPART,     /* POST ?uploads: result upload_id */
    S3_LIST_PARTS,           /* GET ?uploadId=: one page of parts */
    S3_COMPLETE_MULTIPART,   /* POST ?uploadId= with the part list: location */
    S3_ABORT_MULTIPART,      /* DELETE ?uploadId= */
};

struct s3_param {
    const char *name;
    const char *value;   /* unencoded */
};

/* What an operation is about. */
struct s3_call_args {
    const char *key;                    /* NULL: the bucket */
    const struct s3_param *query;       /* any number, unencoded */
    size_t n_query;
    const struct s3_param *headers;     /* more headers to send, signed (x-amz-meta-*) */
    size_t n_headers;
    const char *body;                   /* request body (POST/PUT), NULL for none */
    size_t body_len;
    const char *content_type;           /* of the body */
};

/* One part of a multipart upload. */
struct s3_part {
    int number;            /* 1..10000 */
    int64_t size;          /* -1: not known */
    char *etag;            /* with its quotes removed */
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

    /* multipart: Create (upload_id), ListParts (parts, truncated,
     * next_part_marker), Complete (location, etag) */
    const char *upload_id;
    const struct s3_part *parts;
    size_t n_parts;
    int next_part_marker;
    const char *location;
};

/* Called once per operation; RES and everything it points to live only
 * during the call. */
typedef void (*s3_done_cb)(const struct s3_result *res, void *arg);

/* New client on BASE making its calls through HTTP (the worker's), for CFG
 * (both must outlive the client). */
struct s3_client *s3_client_new(struct event_base *base, struct httpc *http,
                                const struct cfg *cfg, char *err, size_t errlen);
/* Cancels everything in flight (no callbacks) and frees; safe inside a
 * callback. */
void s3_client_free(struct s3_client *c);

/* Start OP with ARGS (copied). NULL when it cannot be started (out of
 * memory, a key missing for an operation on an object). */
struct s3_op *s3_call(struct s3_client *c, enum s3_opcode op, const struct s3_call_args *args,
                      s3_done_cb cb, void *arg);

/* The common ones. TOKEN may be NULL; MAX_KEYS 1..1000. */
struct s3_op *s3_head_object(struct s3_client *c, const char *key, s3_done_cb cb, void *arg);
struct s3_op *s3_probe_bucket(struct s3_client *c, s3_done_cb cb, void *arg);
struct s3_op *s3_list_objects(struct s3_client *c, const char *prefix, int max_keys,
                              const char *token, s3_done_cb cb, void *arg);
struct s3_op *s3_delete_object(struct s3_client *c, const char *key, s3_done_cb cb, void *arg);

/* Multipart: CONTENT_TYPE and META (x-amz-meta-* headers, N_META) go on
 * the object; MARKER is the part number after which a page starts (0 for
 * the first); PARTS are the ones to assemble, their ETags quoted or not. */
struct s3_op *s3_create_multipart(struct s3_client *c, const char *key,
                                  const char *content_type, const struct s3_param *meta,
                                  size_t n_meta, s3_done_cb cb, void *arg);
struct s3_op *s3_list_parts(struct s3_client *c, const char *key, const char *upload_id,
                            int marker, s3_done_cb cb, void *arg);
struct s3_op *s3_complete_multipart(struct s3_client *c, const char *key,
                                    const char *upload_id, const struct s3_part *parts,
                                    size_t n_parts, s3_done_cb cb, void *arg);
struct s3_op *s3_abort_multipart(struct s3_client *c, const char *key, const char *upload_id,
                                 s3_done_cb cb, void *arg);

/* The callback of OP will not run; safe to call from any callback except
 * OP's own. A NULL OP is ignored. */
void s3_cancel(struct s3_op *op);

/* Operations started and not yet completed or cancelled. */
size_t s3_inflight(const struct s3_client *c);

/* Where the client's credentials come from (for their expiry, say). */
struct credprov *s3_credentials(struct s3_client *c);

/* A URL to presign. */
struct s3_presign_req {
    const char *method;                 /* "GET", "PUT" */
    const char *key;
    const struct s3_param *headers;     /* headers the client must send, signed */
    size_t n_headers;
    const struct s3_param *query;       /* e.g. response-content-disposition, uploadId */
    size_t n_query;
    long expires;                       /* seconds; capped by SigV4 and the credentials */
};

struct s3_presigned {
    char *url;            /* malloc'd */
    long expires_in;      /* the real lifetime: capped by the credentials' expiry */
};

/*
 * Presign REQ. Returns S3_OK, or S3_NO_CREDENTIALS / S3_ERROR with ERR
 * filled (e.g. credentials too close to expiry to give a useful URL).
 */
enum s3_status s3_presign(struct s3_client *c, const struct s3_presign_req *req,
                          struct s3_presigned *out, char *err, size_t errlen);
void s3_presigned_free(struct s3_presigned *p);

/* A browser form upload (S3 POST Object): see s3post.h for what the
 * policy enforces. */
struct s3_post_req {
    const char *key;                    /* exact */
    const char *content_type;           /* exact */
    int64_t min_size, max_size;         /* content-length-range */
    const struct s3_param *meta;        /* x-amz-meta-NAME: value (NAME without the prefix) */
    size_t n_meta;
    long expires;                       /* seconds; capped like a URL's */
};

struct s3_post_field {
    char *name;
    char *value;
};

struct s3_posted {
    char *url;                          /* the bucket's URL, ending in '/' */
    struct s3_post_field *fields;       /* to send in this order, the file last */
    size_t n_fields;
    long expires_in;
};

/* Sign a POST policy for REQ; same outcomes as s3_presign(). */
enum s3_status s3_presign_post(struct s3_client *c, const struct s3_post_req *req,
                               struct s3_posted *out, char *err, size_t errlen);
void s3_posted_free(struct s3_posted *p);

#endif
