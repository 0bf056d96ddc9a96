/*
 * s3_internal.h - internal to s3*.c: the S3 client, which s3.c (its calls)
 * and s3presign.c (presigning) share, so that a worker has one set of
 * credentials and one cache of SigV4 signing keys whichever of them signs.
 * Nothing else includes this; s3.h is the client's contract.
 */
#ifndef PRESIGND_S3_INTERNAL_H
#define PRESIGND_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "creds.h"
#include "httpc.h"
#include "s3addr.h"
#include "sigv4.h"

struct cfg;
struct credprov;
struct event_base;
struct s3_op;

TAILQ_HEAD(op_list, s3_op);

struct s3_client {
    struct event_base *base;
    const struct cfg *cfg;
    struct httpc *http;          /* the worker's */
    struct credprov *creds;
    struct op_list ops;
    size_t inflight;
    int depth;                   /* nesting of our callbacks */
    bool free_pending;           /* s3_client_free ran inside a callback */
    struct s3addr api, pub;
    struct sigv4_cache sigcache;
    struct httpc_budget budget;  /* retries of every S3 call of this worker */
    double last_fail_log;        /* monotonic time of the last failure warning */
    unsigned long fail_suppressed;
};

static inline struct sigv4_creds s3_signing_creds(const struct creds *cr)
{
    return (struct sigv4_creds){ .access_key_id = cr->access_key_id,
                                 .secret_access_key = cr->secret_access_key,
                                 .session_token = cr->session_token };
}

#endif
