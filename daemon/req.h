/*
 * req.h - one HTTP request, from the moment evhttp hands it over until its
 * answer has been written out or its client has gone: the request context
 * every part of the pipeline and every handler works on, and the ways to
 * answer it.
 *
 * A request is answered exactly once, with req_reply() or one of the
 * functions built on it; the request must not be touched afterwards. A
 * request waiting for S3 watches its client: if the client hangs up, the S3
 * call is cancelled and the request retired (logged as 499), so an S3
 * callback never finds a request evhttp has freed.
 */
#ifndef PRESIGND_REQ_H
#define PRESIGND_REQ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "http.h"
#include "route.h"
#include "s3.h"

struct api;
struct req_list;
struct evhttp_request;
struct evhttp_connection;
struct event;
struct json_object;

enum req_state {
    REQ_ACTIVE,         /* in the pipeline or a handler */
    REQ_WAITING,        /* waiting for S3 (its client watched) */
    REQ_SENDING,        /* answered; evhttp is writing it out */
};

/* Who is asking (auth.c): the principal of a request. */
struct principal {
    const char *name;               /* NULL: nobody in particular (auth.mode none) */
    const char *auth;               /* "none", "api_key", "jwt" */
    char *prefix;                   /* its key prefix: uploads.prefix + its own part */
    unsigned perms;                 /* CFG_PERM_* */
    char *owned;                    /* storage of NAME when it came from a token */
};

/* What the audit line of a request says besides who and the outcome. */
struct req_audit {
    char *subject;                  /* the key, or the listing prefix */
    const char *action;             /* overrides the route's (POST /s3/sign); static */
    char *upload_id;                /* of a multipart upload */
    int64_t size;                   /* -1: not known */
    char *content_type;
    double expires_at;              /* of a granted URL; 0: none */
};

struct req {
    struct api *api;
    struct evhttp_request *ev;
    struct evhttp_connection *evcon;
    TAILQ_ENTRY(req) link;          /* api->reqs */
    TAILQ_ENTRY(req) wait_link;     /* on WAIT_LIST, a handler's (health) */
    struct req_list *wait_list;     /* NULL when on none */
    enum req_state state;

    struct route_match match;       /* route (NULL: none), index, path parameters */
    unsigned cmd;                   /* the method, as evhttp_cmd_type bits */
    const char *method;             /* "GET", ...; "OTHER" */
    char id[HTTP_REQUEST_ID_MAX + 1];
    char remote[64];                /* peer address */
    char client[64];                /* the client: REMOTE, or X-Forwarded-For from a
                                       trusted proxy */
    struct timespec t0;             /* monotonic, when evhttp handed it over */
    char *path;                     /* what the access log shows, never a query */
    const char *cors_origin;        /* Access-Control-Allow-Origin value, or NULL */
    struct json_object *body;       /* the parsed JSON body of a route with fields */

    struct s3_op *op;               /* the S3 call in flight, or NULL */
    double s3_seconds;
    bool s3_used;
    struct event *watch;            /* EOF watch on the client socket, or NULL */
    struct event *s3_deadline;      /* s3.call_timeout_ms from the first S3 wait */
    char *key;                      /* the object key the request is about */
    void *ctx;                      /* a handler's state across S3 calls, or NULL */
    void (*ctx_free)(void *ctx);    /* frees CTX with the request */
    struct principal who;
    struct req_audit audit;
    const char *error_code;         /* of the error answer, for the audit log */
};

/* Flags of req_reply(). */
#define REQ_NO_STORE 1u             /* Cache-Control: no-store */
#define REQ_STATIC   2u             /* BODY lives as long as the process (files built
                                       into the binary): sent from where it is, not copied */

/* A request evhttp handed over (the pipeline starts with it); NULL when
 * out of memory, after answering 500. */
struct req *req_new(struct api *api, struct evhttp_request *ev);

/* An input header of R, or NULL. */
const char *req_header(const struct req *r, const char *name);
/* Add an output header to R's answer. */
void req_add_header(struct req *r, const char *name, const char *value);

/*
 * Answer STATUS with BODY (LEN bytes) of CTYPE (NULL: none), the common
 * headers added, and retire R: it must not be used after the call.
 */
void req_reply(struct req *r, int status, const char *ctype, const char *body, size_t len,
               unsigned flags);
/* A json-c object (consumed), written PLAIN and NOSLASHESCAPE. */
void req_reply_json(struct req *r, int status, struct json_object *o, unsigned flags);
/* The error shape {"detail", "error_code"}. */
void req_fail(struct req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A failed S3 call as its API error (503 unreachable/credentials, 502...). */
void req_fail_s3(struct req *r, const struct s3_result *res);
/* A presigning that failed with ST (ERR from s3_presign). */
void req_fail_presign(struct req *r, enum s3_status st, const char *err);

/* R is about to wait for S3: notice if the client goes away meanwhile, and
 * answer 503 if S3 takes more than s3.call_timeout_ms in all. */
void req_wait(struct req *r);
/* R is about to wait for something else (a shared health probe, the
 * identity provider's keys), whose own limit answers it: only notice if
 * the client goes away. */
void req_wait_other(struct req *r);
/* Count an S3 call's time into R (the access log's s3_ms). */
void req_s3_account(struct req *r, const struct s3_result *res);

/* What R's audit line reports about its subject (copied). */
void req_audit_subject(struct req *r, const char *subject);

/* Retire R without answering: its S3 call is cancelled, never its
 * evhttp request touched (the api is being freed). */
void req_forget(struct req *r);

#endif
