/*
 * conns.c - client connections of a worker (see conns.h).
 *
 * How it hooks into evhttp (libevent 2.1), and why this way:
 *
 * evhttp_set_bevcb() lets us make each connection's bufferevent; evhttp
 * sets its descriptor right after, owns it from then on, and frees it
 * without telling anyone (its close callback is per connection and is the
 * requests' to use, req.c). A filter bufferevent would see every byte and
 * its own end, but evhttp 2.1 writes a response before enabling writing,
 * which a filter ignores, and ends a "Connection: close" response as soon
 * as the filter has passed it on, before the socket has sent it. So the
 * bufferevent is a plain socket one, and:
 *
 *  - the bytes: a callback on its input buffer sees what each read adds;
 *  - the descriptor: an event activated in the callback that makes the
 *    bufferevent runs later in the same loop iteration, after evhttp has
 *    set it and before any I/O on it, with a reference held until then;
 *  - the end: the descriptor is remembered with its socket's inode, and
 *    conns_sweep() drops the connections whose descriptor is closed or
 *    now another socket. Nothing here touches a bufferevent outside its
 *    own callbacks, and a deadline acts on the descriptor only after
 *    checking it is still the same socket.
 *
 * A deadline that passes shuts the socket down (not close: evhttp owns
 * the descriptor): evhttp reads an end of file and frees the connection.
 */
#include "conns.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/http.h>

#include "config.h"
#include "log.h"

enum conn_state {
    C_HEADERS,      /* a request's line and headers are coming: deadline armed */
    C_BUSY,         /* headers complete: the request is evhttp's and the API's */
    C_IDLE,         /* between requests (kept alive): evhttp's timeout */
    C_GONE,         /* evhttp is done with it; freed by the next sweep */
};

struct conn {
    struct conns *owner;
    TAILQ_ENTRY(conn) link;
    struct bufferevent *bev;        /* evhttp's: used in its callbacks only */
    struct event *deadline;
    struct event *learn;            /* one-shot: learn the descriptor */
    evutil_socket_t fd;             /* -1 until learnt */
    dev_t dev;                      /* the socket behind FD, to tell a reused FD */
    ino_t ino;
    enum conn_state state;
    bool got_bytes;                 /* since the deadline was armed */
    bool nodelay;                   /* TLS: set TCP_NODELAY once the fd is known */
    uint32_t tail;                  /* the last bytes read, for the empty line */
};

TAILQ_HEAD(conn_list, conn);

struct conns {
    struct event_base *base;
    const struct cfg *cfg;
    conns_limit_cb limit_cb;
    void *limit_arg;
    struct conn_list all;
    struct conn **by_fd;            /* the current connection of each descriptor */
    size_t cap;
    size_t n;                       /* made and not yet found gone */
    bool at_limit;
};

struct conns *conns_new(struct event_base *base, const struct cfg *cfg, conns_limit_cb cb,
                        void *arg)
{
    struct conns *c = calloc(1, sizeof *c);

    if (c) {
        c->base = base;
        c->cfg = cfg;
        c->limit_cb = cb;
        c->limit_arg = arg;
        TAILQ_INIT(&c->all);
    }
    return c;
}

static void conn_free(struct conns *c, struct conn *k)
{
    TAILQ_REMOVE(&c->all, k, link);
    if (k->fd >= 0 && (size_t)k->fd < c->cap && c->by_fd[k->fd] == k)
        c->by_fd[k->fd] = NULL;
    if (k->deadline)
        event_free(k->deadline);
    if (k->learn)
        event_free(k->learn);
    free(k);
    c->n--;
    if (c->at_limit && c->n < (size_t)c->cfg->server.max_connections) {
        c->at_limit = false;
        if (c->limit_cb)
            c->limit_cb(false, c->limit_arg);
    }
}

void conns_free(struct conns *c)
{
    if (!c)
        return;
    c->limit_cb = NULL;
    while (!TAILQ_EMPTY(&c->all))
        conn_free(c, TAILQ_FIRST(&c->all));
    free(c->by_fd);
    free(c);
}

size_t conns_count(const struct conns *c)
{
    return c ? c->n : 0;
}

size_t conns_busy(const struct conns *c)
{
    size_t busy = 0;
    const struct conn *k;

    if (c)
        TAILQ_FOREACH(k, &c->all, link)
            if (k->state == C_BUSY || (k->state == C_HEADERS && k->got_bytes))
                busy++;
    return busy;
}

/* Is K's descriptor still K's socket? */
static bool same_socket(const struct conn *k)
{
    struct stat st;

    return k->fd >= 0 && fstat(k->fd, &st) == 0 && st.st_dev == k->dev && st.st_ino == k->ino;
}

void conns_sweep(struct conns *c)
{
    struct conn *k, *next;

    if (!c)
        return;
    for (k = TAILQ_FIRST(&c->all); k; k = next) {
        next = TAILQ_NEXT(k, link);
        /* Not learnt yet: the learning event is still to run. */
        if (k->state == C_GONE || (!k->learn && !same_socket(k)))
            conn_free(c, k);
    }
}

static void arm(struct conn *k)
{
    struct timeval tv = { k->owner->cfg->server.header_timeout, 0 };

    k->state = C_HEADERS;
    k->got_bytes = false;
    k->tail = 0;
    evtimer_add(k->deadline, &tv);
}

static void disarm(struct conn *k, enum conn_state state)
{
    k->state = state;
    evtimer_del(k->deadline);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *k = arg;

    (void)fd;
    (void)what;
    if (k->state != C_HEADERS)
        return;
    if (!same_socket(k)) {
        k->state = C_GONE;
        return;
    }
    log_debug("closing a connection whose request headers took more than %d s",
              k->owner->cfg->server.header_timeout);
    k->state = C_IDLE;
    shutdown(k->fd, SHUT_RDWR);
}

/* Look for the empty line that ends the headers in the bytes of SRC from
 * offset FROM ("\r\n\r\n" or, as evhttp also takes, "\n\n", "\n\r\n"). */
static void scan(struct conn *k, struct evbuffer *src, size_t from)
{
    struct evbuffer_iovec v[8];
    struct evbuffer_ptr pos;
    size_t len = evbuffer_get_length(src);

    if (from >= len || evbuffer_ptr_set(src, &pos, from, EVBUFFER_PTR_SET) < 0)
        return;
    while (from < len && k->state == C_HEADERS) {
        int n = evbuffer_peek(src, (ev_ssize_t)(len - from), &pos, v, 8);
        size_t seen = 0;
        for (int i = 0; i < n && i < 8; i++) {
            const unsigned char *p = v[i].iov_base;
            size_t m = v[i].iov_len < len - from - seen ? v[i].iov_len : len - from - seen;
            for (size_t j = 0; j < m; j++) {
                k->tail = (k->tail << 8) | p[j];
                if ((k->tail & 0xffff) == 0x0a0a || (k->tail & 0xffffff) == 0x0a0d0a) {
                    disarm(k, C_BUSY);
                    return;
                }
            }
            seen += m;
        }
        if (seen == 0 || evbuffer_ptr_set(src, &pos, seen, EVBUFFER_PTR_ADD) < 0)
            return;
        from += seen;
    }
}

/* What a read added to the input of K's bufferevent (evhttp drains it). */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *k = arg;

    if (info->n_added == 0 || k->state == C_GONE)
        return;
    if (k->state == C_IDLE)
        arm(k);             /* the first byte of the next request */
    if (k->state == C_HEADERS) {
        k->got_bytes = true;
        size_t len = evbuffer_get_length(buf);
        scan(k, buf, len >= info->n_added ? len - info->n_added : 0);
    }
}

static void on_learn(evutil_socket_t unused, short what, void *arg)
{
    struct conn *k = arg;
    struct conns *c = k->owner;
    bufferevent_data_cb readcb = NULL;

    (void)unused;
    (void)what;
    event_free(k->learn);
    k->learn = NULL;
    /* evhttp gave up on it already (it frees with the callbacks cleared). */
    bufferevent_getcb(k->bev, &readcb, NULL, NULL, NULL);
    evutil_socket_t fd = readcb ? bufferevent_getfd(k->bev) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        k->state = C_GONE;
        bufferevent_decref(k->bev);
        return;
    }
    bufferevent_decref(k->bev);
    /* A TLS response leaves in two records, headers then body, in two
     * writes: with Nagle's algorithm the second waits for the client's
     * delayed ACK of the first (40 ms on Linux). Fails harmlessly on a
     * Unix socket. */
    if (k->nodelay)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    k->fd = fd;
    k->dev = st.st_dev;
    k->ino = st.st_ino;
    if ((size_t)fd >= c->cap) {
        size_t cap = (size_t)fd + 256;
        struct conn **t = realloc(c->by_fd, cap * sizeof *t);
        if (!t)
            return;     /* not findable by requests: it keeps its deadline */
        memset(t + c->cap, 0, (cap - c->cap) * sizeof *t);
        c->by_fd = t;
        c->cap = cap;
    }
    c->by_fd[fd] = k;
}

/* The bufferevent of a new connection, guarded; NULL lets evhttp make a
 * plain one (out of memory). */
static struct bufferevent *guard(struct conns *c, struct event_base *base,
                                 struct bufferevent *bev, bool nodelay)
{
    struct conn *k = calloc(1, sizeof *k);

    if (k && bev) {
        k->deadline = evtimer_new(base, on_deadline, k);
        k->learn = event_new(base, -1, 0, on_learn, k);
    }
    if (!k || !bev || !k->deadline || !k->learn ||
        !evbuffer_add_cb(bufferevent_get_input(bev), on_input, k)) {
        /* evhttp makes a plain one: this connection goes unguarded. */
        if (bev)
            bufferevent_free(bev);
        if (k && k->deadline)
            event_free(k->deadline);
        if (k && k->learn)
            event_free(k->learn);
        free(k);
        log_warn("out of memory for a connection's guard");
        return NULL;
    }
    k->owner = c;
    k->bev = bev;
    k->fd = -1;
    k->nodelay = nodelay;
    TAILQ_INSERT_TAIL(&c->all, k, link);
    c->n++;
    /* Held until on_learn has read the descriptor evhttp is about to set. */
    bufferevent_incref(bev);
    event_active(k->learn, EV_TIMEOUT, 1);
    arm(k);
    if (!c->at_limit && c->n >= (size_t)c->cfg->server.max_connections) {
        c->at_limit = true;
        if (c->limit_cb)
            c->limit_cb(true, c->limit_arg);
    }
    return bev;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    return guard(arg, base, bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE), false);
}

void conns_attach(struct conns *c, struct evhttp *http)
{
    evhttp_set_bevcb(http, make_bev, c);
}

/* HTTPS: the TLS bufferevent's input is the plain text of the requests,
 * which is what the header deadline watches (a TLS handshake counts
 * against it too: its bytes arrive, no request does). */
static SSL_CTX *tls_ctx;       /* one HTTPS evhttp per worker */

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    SSL *ssl = SSL_new(tls_ctx);
    struct bufferevent *bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl,
                                        BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
                                  : NULL;

    if (!bev) {
        /* evhttp makes a plain one, which answers the TLS hello with a 400:
         * the client sees its handshake fail. */
        SSL_free(ssl);
        log_warn("cannot set up a TLS connection (out of memory)");
        return NULL;
    }
    /* Clients that close without a close_notify are common and harmless
     * for HTTP/1.1 with lengths. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return guard(arg, base, bev, true);
}

void conns_closed(struct evhttp_connection *evcon, void *unused)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

    (void)unused;
    /* evhttp frees the bufferevent next, and libevent's TLS bufferevent
     * closes without an alert. The answer has left (evhttp calls this
     * once its output is written); the client's close_notify is not
     * waited for, as RFC 8446 allows. A session in error or still in its
     * handshake gets none. */
    if (ssl && SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
        (void)SSL_shutdown(ssl);
        ERR_clear_error();
    }
}

void conns_attach_tls(struct conns *c, struct evhttp *http, SSL_CTX *ctx)
{
    tls_ctx = ctx;
    evhttp_set_bevcb(http, make_tls_bev, c);
}

static struct conn *find(struct conns *c, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct conn *k = fd >= 0 && (size_t)fd < c->cap ? c->by_fd[fd] : NULL;

    return k && k->bev == bev ? k : NULL;
}

void conns_request_started(struct conns *c, struct evhttp_connection *evcon)
{
    struct conn *k = c ? find(c, evcon) : NULL;

    if (k)
        disarm(k, C_BUSY);
}

void conns_request_done(struct conns *c, struct evhttp_connection *evcon)
{
    struct conn *k = c ? find(c, evcon) : NULL;

    if (!k)
        return;
    /* Bytes already read belong to the next request (pipelined): its
     * clock runs from now. */
    if (evbuffer_get_length(bufferevent_get_input(k->bev)) > 0) {
        arm(k);
        k->got_bytes = true;
    } else {
        disarm(k, C_IDLE);
    }
}
