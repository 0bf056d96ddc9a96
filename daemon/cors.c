/*
 * cors.c - CORS answers (see cors.h).
 */
#include "cors.h"

#include "api.h"
#include "config.h"
#include "req.h"

void cors_decide(struct req *r, bool metrics_only)
{
    const struct cfg *cfg = r->api->cfg;
    const char *origin = req_header(r, "Origin");

    r->cors_origin = NULL;
    if (!origin || metrics_only || !cfg_origin_allowed(cfg, origin))
        return;
    /* The header value lives as long as the request, past its answer. */
    r->cors_origin = cfg_origin_any(cfg) ? "*" : origin;
}

void cors_add_response_headers(struct req *r)
{
    if (r->cors_origin) {
        req_add_header(r, "Access-Control-Allow-Origin", r->cors_origin);
        req_add_header(r, "Access-Control-Expose-Headers", "X-Request-Id");
    }
    /* Answers differ by Origin whenever CORS is configured per origin. */
    req_add_header(r, "Vary", "Origin");
}

void cors_preflight(struct req *r)
{
    struct api *api = r->api;
    const char *origin = req_header(r, "Origin");
    const char *acrm = req_header(r, "Access-Control-Request-Method");

    if (origin && acrm) {
        if (!r->cors_origin) {
            req_fail(r, 403, "cors_origin_not_allowed", "origin not allowed");
            return;
        }
        req_add_header(r, "Access-Control-Allow-Methods", r->match.route->allow);
        if (api->allow_headers && *api->allow_headers)
            req_add_header(r, "Access-Control-Allow-Headers", api->allow_headers);
        req_add_header(r, "Access-Control-Max-Age", api->max_age);
    }
    req_add_header(r, "Allow", r->match.route->allow);
    req_reply(r, 204, NULL, NULL, 0, 0);
}
