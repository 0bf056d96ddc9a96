/*
 * cors.h - cross-origin requests from browsers (cors.* of the config): the
 * origin a request's answer allows, the headers every answer carries, and
 * the answer to a preflight (OPTIONS with Access-Control-Request-Method).
 */
#ifndef PRESIGND_CORS_H
#define PRESIGND_CORS_H

#include <stdbool.h>

struct req;

/* Decide R's Access-Control-Allow-Origin from its Origin header ("*" when
 * any origin is allowed, the origin itself when it is listed, none else).
 * METRICS_ONLY: the metrics socket, which no browser page calls. */
void cors_decide(struct req *r, bool metrics_only);

/* Add the CORS headers of an ordinary answer (Vary: Origin always). */
void cors_add_response_headers(struct req *r);

/* Answer R, an OPTIONS request for its route: a preflight (204 with the
 * route's methods and the allowed headers, or 403 for another origin), or
 * a plain OPTIONS (204 with Allow). */
void cors_preflight(struct req *r);

#endif
