/*
 * conns.h - what a worker adds to evhttp's client connections: a count (for
 * server.max_connections) and a deadline for each request's line and
 * headers (server.header_timeout).
 *
 * libevent 2.1's evhttp re-arms its one timeout on every byte read, so a
 * client trickling its headers a byte at a time keeps a connection (and a
 * descriptor) forever, and it has no connection limit. Its one hook into a
 * new connection is evhttp_set_bevcb(), through which presignd makes each
 * connection's bufferevent and watches it (conns.c says how).
 *
 * A request's headers must be complete within header_timeout from the
 * connection's accept (the first request) or from the first byte after
 * the previous response (the next ones: an idle kept-alive connection is
 * evhttp's timeout's, as before). The API says when a request reaches it
 * and when its response is done (conns_request_started/done).
 */
#ifndef PRESIGND_CONNS_H
#define PRESIGND_CONNS_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct cfg;
struct event_base;
struct evhttp;
struct evhttp_connection;
struct conns;
struct ssl_ctx_st;

/* Called when the count reaches max_connections (AT_LIMIT true: stop
 * accepting) and when it falls below again (false). */
typedef void (*conns_limit_cb)(bool at_limit, void *arg);

struct conns *conns_new(struct event_base *base, const struct cfg *cfg, conns_limit_cb cb,
                        void *arg);
/* After every connection is gone (evhttp_free first). */
void conns_free(struct conns *c);

/* Make HTTP's connections through C (evhttp_set_bevcb); with TLS, as
 * server ends of TLS sessions of CTX (an SSL_CTX, tls.h). */
void conns_attach(struct conns *c, struct evhttp *http);
void conns_attach_tls(struct conns *c, struct evhttp *http, struct ssl_ctx_st *ctx);

/* A request of EVCON reached the API / its response was handed over. */
void conns_request_started(struct conns *c, struct evhttp_connection *evcon);
void conns_request_done(struct conns *c, struct evhttp_connection *evcon);

/*
 * evhttp's close callback for a connection between requests (the owner of
 * its close callback sets this one when it lets go): a TLS connection ends
 * with a close_notify alert (RFC 8446 6.1), once its last answer is written
 * out, so that clients that read to the end see a clean end and keep their
 * session for resumption. Nothing for plain connections.
 */
void conns_closed(struct evhttp_connection *evcon, void *unused);

/* Drop the connections evhttp has closed since the last sweep (the count
 * lags by up to one sweep): call about once a second. */
void conns_sweep(struct conns *c);

/* Client connections open now. */
size_t conns_count(const struct conns *c);

/* Connections receiving a request that has not reached the API yet, or
 * whose request is under way. */
size_t conns_busy(const struct conns *c);

#endif
