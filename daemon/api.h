/*
 * api.h - the HTTP API of one worker on its evhttp: what the worker sees
 * (create, attach the metrics socket, drain, count, free) and the
 * per-worker state the request pipeline and the handlers share.
 *
 * Every request runs one pipeline (api.c): guards on the request itself,
 * the route, CORS, the method, who is asking and may they, how often, the
 * body, then the route's handler; its answer is accounted once (metrics,
 * access log, audit log) in req.c.
 */
#ifndef PRESIGND_API_H
#define PRESIGND_API_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

struct evhttp;
struct event_base;
struct cfg;
struct s3_client;
struct httpc;
struct auth;
struct conns;
struct json_tokener;
struct req;
struct health_state;
struct meta_state;

TAILQ_HEAD(req_list, req);

struct api {
    struct event_base *base;
    const struct cfg *cfg;
    struct s3_client *s3;
    struct auth *auth;
    struct conns *conns;            /* the worker's connection guard (conns.h), or NULL */
    bool draining;                  /* every answer says Connection: close */
    size_t inflight;                /* requests received and not yet answered */
    struct req_list reqs;
    struct json_tokener *tok;       /* reused for every body (one thread) */
    char *allow_headers;            /* cors.allow_headers joined with ", " */
    char max_age[24];               /* cors.max_age as text */
    char pid[16];                   /* for the access log */
    struct health_state *health;    /* handle_health.c */
    struct meta_state *meta;        /* handle_meta.c */
};

/*
 * The API as HTTP's generic callback. CFG, S3 and HTTPC (the worker's HTTP
 * client, which auth's JWKS fetches use) must outlive the api. Returns NULL
 * with ERR filled on failure.
 */
struct api *api_new(struct event_base *base, struct evhttp *http,
                    const struct cfg *cfg, struct s3_client *s3, struct httpc *httpc,
                    char *err, size_t errlen);

/* Serve the API on another evhttp too (the HTTPS one). */
void api_attach(struct api *api, struct evhttp *http);

/* Serve only the metrics route on a second evhttp (server.metrics_listen). */
void api_attach_metrics(struct api *api, struct evhttp *http);

/* From now on every response carries "Connection: close". */
void api_drain(struct api *api);

/* Requests received and not yet answered (written out). */
size_t api_inflight(const struct api *api);

void api_free(struct api *api);

#endif
