/*
 * auth.h - who is asking: the principal of a request (req.h) from its
 * "Authorization: Bearer ..." header, by auth.mode:
 *   none     everyone is the anonymous principal with every permission
 *            on all of uploads.prefix;
 *   api_key  the SHA-256 of the key is compared, in constant time, with
 *            every configured key's;
 *   jwt      the token is verified (jwt.h) against the identity provider's
 *            JWKS, fetched on the worker's HTTP client and cached for its
 *            Cache-Control max-age (bounded to 1 min .. 24 h), fetched
 *            again early when a token names an unknown kid (at most once
 *            per 30 s). While no JWKS has ever been loaded, requests get
 *            503 auth_unavailable: never a pass.
 * The principal's key prefix is made by the key rules (keys.h).
 */
#ifndef PRESIGND_AUTH_H
#define PRESIGND_AUTH_H

#include <stddef.h>

struct event_base;
struct httpc;
struct cfg;
struct req;
struct auth;

struct auth *auth_new(struct event_base *base, struct httpc *http, const struct cfg *cfg,
                      char *err, size_t errlen);
void auth_free(struct auth *a);

enum auth_result {
    AUTH_OK,            /* r->who is set: go on */
    AUTH_ANSWERED,      /* refused: R was answered (401, 503) */
    AUTH_WAIT,          /* a JWKS fetch decides: RESUME(R) runs later, or R is answered */
};

enum auth_result auth_request(struct auth *a, struct req *r, void (*resume)(struct req *r));

/* The principal of a request on a route that needs none (public routes,
 * preflights): anonymous. */
void auth_anonymous(struct req *r);

/* Free what R's principal holds. */
void auth_forget(struct req *r);

#endif
