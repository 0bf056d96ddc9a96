/*
 * api.c - the HTTP API of a worker (see api.h): set-up on evhttp, and the
 * one pipeline every request runs through:
 *
 *   guards   HTTP/0.9, CONNECT, conflicting Content-Length: refused at once
 *   match    the route table (route.c); none: 404
 *   CORS     the origin the answer allows (cors.c)
 *   method   OPTIONS answers the preflight; a method the route lacks: 405
 *   auth     who is asking (auth.c): 401, or 503 without the IdP's keys;
 *            public routes need nobody
 *   perm     may the principal do what the route does: 403
 *   rate     how often (ratelimit.c, shared by all workers): 429
 *   body     a declared body too large: 413; the JSON body of a route
 *            that takes one is parsed and checked (body.c)
 *   handler  the route's (handlers.h), which answers now or after S3
 *
 * The answer of every request, whatever step gave it, is accounted in
 * req.c (metrics, access log).
 */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/http_struct.h>   /* the request's HTTP version */
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "auth.h"
#include "body.h"
#include "config.h"
#include "errbuf.h"
#include "conns.h"
#include "cors.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "req.h"
#include "route.h"
#include "str.h"

/* evhttp's own body limit sits this far above server.max_body_size so that
 * a body a little too large still reaches us and gets our JSON 413. */
#define API_BODY_SLACK 65536
/* Longest raw path written to the access log for unknown routes. */
#define API_LOG_PATH_MAX 256

static bool guards(struct req *r)
{
    /* evhttp parses a CONNECT target as an authority, so it has no path to
     * route by; nothing here tunnels: an unimplemented method (RFC 9110
     * 15.6.2), not a 405 that would need an Allow for a route. */
    if (r->cmd == EVHTTP_REQ_CONNECT) {
        req_add_header(r, "Connection", "close");
        req_fail(r, 501, "not_implemented", "CONNECT is not supported");
        return false;
    }
    /* Two Content-Length headers that disagree: a proxy in front may have
     * framed the body by the other one (request smuggling, RFC 9112 6.3). */
    const char *first_cl = NULL;
    struct evkeyval *hv;
    TAILQ_FOREACH(hv, evhttp_request_get_input_headers(r->ev), next) {
        if (strcasecmp(hv->key, "Content-Length") != 0)
            continue;
        if (first_cl && strcmp(first_cl, hv->value) != 0) {
            req_add_header(r, "Connection", "close");
            req_fail(r, 400, "invalid_request", "conflicting Content-Length headers");
            return false;
        }
        first_cl = hv->value;
    }
    return true;
}

/* A declared body too large is refused before anything looks at it. */
static bool declared_size_ok(struct req *r)
{
    size_t max = r->api->cfg->server.max_body_size;
    const char *cl = req_header(r, "Content-Length");

    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && v > max) {
            req_fail(r, 413, "payload_too_large", "request body larger than %zu bytes", max);
            return false;
        }
    }
    return true;
}

/* Rate limits count principals, or client addresses without auth. */
static bool rate_ok(struct req *r)
{
    const struct cfg_rate_limit *rl = &r->api->cfg->rate_limit;
    char key[RATELIMIT_KEY_MAX];

    if (rl->requests_per_second <= 0)
        return true;
    if (r->who.name)
        snprintf(key, sizeof key, "p:%s", r->who.name);
    else
        snprintf(key, sizeof key, "a:%s", r->client);
    int wait = ratelimit_take(key, rl->requests_per_second, rl->burst);
    if (wait == 0)
        return true;
    char ra[16];
    snprintf(ra, sizeof ra, "%d", wait);
    req_add_header(r, "Retry-After", ra);
    metrics_rate_limited();
    req_fail(r, 429, "rate_limited", "too many requests; retry in %d s", wait);
    return false;
}

/* The rest of the pipeline, once the principal is known. */
static void after_auth(struct req *r)
{
    const struct route *rt = r->match.route;

    if (rt->perm && !(r->who.perms & rt->perm)) {
        req_fail(r, 403, "forbidden", "%s%s may not %s", r->who.name ? "principal " : "",
                 r->who.name ? r->who.name : "this client", cfg_perm_name(rt->perm));
        return;
    }
    if (!(rt->flags & ROUTE_PUBLIC) && !rate_ok(r))
        return;
    if (!declared_size_ok(r))
        return;
    if (rt->fields && !body_parse(r, rt->fields))
        return;
    rt->handler(r);
}

static void pipeline(struct api *api, struct evhttp_request *ev, bool metrics_only)
{
    /* Complete (evhttp read it whole): no header deadline any more. */
    conns_request_started(api->conns, evhttp_request_get_connection(ev));
    struct req *r = req_new(api, ev);

    if (!r)
        return;
    /* evhttp takes "HTTP/0.9" as a version and would answer in kind, with
     * no framing: answer 505 in HTTP/1.0 instead. */
    if (ev->major < 1) {
        ev->major = 1;
        ev->minor = 0;
        r->path = strdup("/");
        req_add_header(r, "Connection", "close");
        req_fail(r, 505, "http_version_not_supported", "HTTP/1.0 or HTTP/1.1 is required");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    route_match(path, metrics_only, api->cfg->server.metrics_listen != NULL,
                api->cfg->server.docs, &r->match);
    /* The log shows the label of a route with parameters (keys may be
     * personal data) and a bounded raw path otherwise; the query never. */
    if (r->match.n_params)
        r->path = strdup(r->match.route->label);
    else
        r->path = strndup(path, API_LOG_PATH_MAX);
    cors_decide(r, metrics_only);

    if (!guards(r))
        return;
    const struct route *rt = r->match.route;
    if (!rt) {
        req_fail(r, 404, "not_found", "no such route");
        return;
    }
    if (r->cmd == EVHTTP_REQ_OPTIONS) {
        cors_preflight(r);
        return;
    }
    if (!(rt->methods & r->cmd)) {
        req_add_header(r, "Allow", rt->allow);
        req_fail(r, 405, "method_not_allowed", "method %s not allowed on %s", r->method,
                 rt->label);
        return;
    }
    if (rt->flags & ROUTE_PUBLIC) {
        after_auth(r);
        return;
    }
    /* AUTH_WAIT: a JWKS fetch decides, then after_auth() or an answer. */
    if (auth_request(r->api->auth, r, after_auth) == AUTH_OK)
        after_auth(r);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    pipeline(arg, ev, false);
}

static void on_metrics_request(struct evhttp_request *ev, void *arg)
{
    pipeline(arg, ev, true);
}

/* What the API needs of an evhttp; transport limits (headers, timeouts)
 * are the worker's. */
static void configure_evhttp(struct api *api, struct evhttp *http)
{
    /* Every method reaches us so that 405 and OPTIONS answer in JSON. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                               EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    size_t limit = api->cfg->server.max_body_size + API_BODY_SLACK;
    evhttp_set_max_body_size(http, (ev_ssize_t)limit);
    evhttp_set_default_content_type(http, NULL);
}

/* cors.allow_headers joined; Authorization is always there when auth is
 * on, since a browser cannot send credentials without it. */
static char *allow_headers(const struct cfg *cfg)
{
    bool have = false;

    for (size_t i = 0; i < cfg->cors.n_allow_headers; i++)
        have |= strcasecmp(cfg->cors.allow_headers[i], "Authorization") == 0;
    char *list = str_join(cfg->cors.allow_headers, cfg->cors.n_allow_headers, ", ");
    if (have || cfg->auth.mode == CFG_AUTH_NONE || !list)
        return list;
    char *more = NULL;
    if (asprintf(&more, "%s%sAuthorization", list, *list ? ", " : "") < 0)
        more = NULL;
    free(list);
    return more;
}

struct api *api_new(struct event_base *base, struct evhttp *http,
                    const struct cfg *cfg, struct s3_client *s3, struct httpc *httpc,
                    char *err, size_t errlen)
{
    struct api *api = calloc(1, sizeof *api);

    if (!api) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    route_init();
    metrics_label_routes(route_labels(), route_count() + 1);
    api->base = base;
    api->cfg = cfg;
    api->s3 = s3;
    TAILQ_INIT(&api->reqs);
    snprintf(api->max_age, sizeof api->max_age, "%d", cfg->cors.max_age);
    snprintf(api->pid, sizeof api->pid, "%ld", (long)getpid());
    api->allow_headers = allow_headers(cfg);
    api->tok = body_tokener_new();
    api->auth = auth_new(base, httpc, cfg, err, errlen);
    if (!api->auth) {
        api_free(api);
        return NULL;
    }
    if (!api->allow_headers || !api->tok) {
        errbuf_set(err, errlen, "out of memory");
        api_free(api);
        return NULL;
    }
    if (handle_meta_init(api, err, errlen) < 0 || handle_health_init(api, err, errlen) < 0) {
        api_free(api);
        return NULL;
    }
    configure_evhttp(api, http);
    evhttp_set_gencb(http, on_request, api);
    /* Access lines go out once per event-loop round, not once per request. */
    if (log_access_attach(base) < 0)
        log_warn("access log lines are written one by one: out of memory");
    return api;
}

void api_attach(struct api *api, struct evhttp *http)
{
    configure_evhttp(api, http);
    evhttp_set_gencb(http, on_request, api);
}

void api_attach_metrics(struct api *api, struct evhttp *http)
{
    configure_evhttp(api, http);
    evhttp_set_gencb(http, on_metrics_request, api);
}

void api_drain(struct api *api)
{
    api->draining = true;
}

size_t api_inflight(const struct api *api)
{
    return api->inflight;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    log_access_attach(NULL);    /* flush: the loop goes away after us */
    /* Requests still waiting for S3 or being written out: their connections
     * must no longer call back into us; evhttp_free() frees the requests. */
    while (!TAILQ_EMPTY(&api->reqs))
        req_forget(TAILQ_FIRST(&api->reqs));
    handle_health_free(api);
    handle_meta_free(api);
    auth_free(api->auth);
    free(api->allow_headers);
    if (api->tok)
        json_tokener_free(api->tok);
    free(api);
}
