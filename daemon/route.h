/*
 * route.h - every route of the HTTP API, declared once in route.c: its
 * path pattern, methods, handler, the JSON body fields it takes and its
 * flags. The router, the Allow header and preflight methods, the endpoint
 * list of GET /, and the route labels of the metrics and the access log are
 * all derived from that table; a test compares it with the OpenAPI
 * document, so the two cannot drift apart.
 *
 * Patterns are literal segments and parameters: "{name}" matches one
 * non-empty segment, "{name+}" the non-empty rest of the path, slashes
 * included (a key). The label of a pattern is the pattern without the '+',
 * which is also how OpenAPI spells the path.
 */
#ifndef PRESIGND_ROUTE_H
#define PRESIGND_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct req;
typedef void (*route_handler)(struct req *r);

/* Methods, as bits (the same values as libevent's evhttp_cmd_type). */
#define ROUTE_GET     (1u << 0)
#define ROUTE_POST    (1u << 1)
#define ROUTE_HEAD    (1u << 2)
#define ROUTE_PUT     (1u << 3)
#define ROUTE_DELETE  (1u << 4)
#define ROUTE_OPTIONS (1u << 5)

/* Flags. */
#define ROUTE_PUBLIC    1u  /* never needs credentials: load balancers, browsers */
#define ROUTE_METRICS   2u  /* moves to server.metrics_listen when that is set */
#define ROUTE_UNLISTED  4u  /* not in the endpoint list of GET / */
#define ROUTE_MESSAGE   8u  /* errors carry "message" too (Uppy shows it) */
#define ROUTE_DOCS     16u  /* the API's documentation: gone with server.docs: false */

#define ROUTE_MAX_PARAMS 4

struct route {
    const char *pattern;            /* "/files/{file_key+}" */
    unsigned methods;               /* ROUTE_GET | ...; HEAD goes with GET */
    route_handler handler;
    unsigned flags;
    unsigned perm;                  /* what a principal needs (CFG_PERM_*), 0: nothing;
                                       a route with one writes audit lines */
    const char *const *fields;      /* JSON body fields it accepts; NULL: no body */
    const char *action;             /* its audit action; NULL: the permission's name */
    const char *label;              /* filled by route_init: pattern without '+' */
    const char *allow;              /* filled by route_init: "GET, HEAD, OPTIONS" */
};

struct route_param {
    const char *name;               /* points into the pattern, NAME_LEN bytes */
    size_t name_len;
    const char *value;              /* points into the path, raw (still %-encoded) */
    size_t len;
};

struct route_match {
    const struct route *route;      /* NULL: no route */
    unsigned index;                 /* of the route; route_count() when none */
    struct route_param params[ROUTE_MAX_PARAMS];
    size_t n_params;
};

/* Fill the derived fields; once per process, before anything else here. */
void route_init(void);

/* The table: ROUTES[0 .. route_count()-1]. */
const struct route *route_table(void);
unsigned route_count(void);

/*
 * Match PATH (without query). METRICS_ONLY: the server.metrics_listen
 * socket, where only the metrics route exists; METRICS_ELSEWHERE: that
 * socket exists, so the main sockets have no metrics route. DOCS: false
 * when server.docs is, and the ROUTE_DOCS routes match nothing, as if they
 * did not exist (404, not 405).
 */
void route_match(const char *path, bool metrics_only, bool metrics_elsewhere, bool docs,
                 struct route_match *out);

/* The raw value of parameter NAME of M, or NULL (LEN set). */
const char *route_param(const struct route_match *m, const char *name, size_t *len);

/* Labels for the metrics, index = route index, the last one "other"
 * (route_count() + 1 entries). */
const char *const *route_labels(void);

/* "METHOD label" of every listed route and method (HEAD left out), in
 * table order, with the route's index; *N gets their number. */
struct route_endpoint {
    const char *text;
    unsigned index;
};
const struct route_endpoint *route_endpoints(size_t *n);

#endif
