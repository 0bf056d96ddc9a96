/*
 * lsock.h - the master's listen sockets. Each is bound once and kept, keyed
 * by its numeric address, so that a reload which keeps an address (however
 * it is spelled) keeps the very same socket and never refuses a
 * connection; workers inherit them at fork.
 */
#ifndef PRESIGND_LSOCK_H
#define PRESIGND_LSOCK_H

#include <stdbool.h>
#include <stddef.h>

struct cfg_listen;

/* What a socket serves: an address serves one of them. */
enum lsock_kind {
    LSOCK_API,          /* server.listen */
    LSOCK_METRICS,      /* server.metrics_listen */
    LSOCK_TLS,          /* server.tls.listen */
};

/*
 * Resolve L and make sure every address it names is bound (non-blocking,
 * close-on-exec, IPv6-only for IPv6), reusing sockets already open; append
 * their descriptors to *FDS (no duplicates). An address of several results
 * (e.g. "localhost") is fine when at least one of them can be bound. An
 * address already bound for another KIND is an error (a reload that moves
 * an address from HTTP to HTTPS needs it out of use first). Returns 0, or
 * -1 with ERR filled.
 */
int lsock_bind(const struct cfg_listen *l, enum lsock_kind kind, int **fds, size_t *n,
               char *err, size_t errlen);

/* Close every socket for which USED(fd, ARG) is false (logged unless QUIET:
 * in a forked worker, the sockets of other generations). */
void lsock_close_unused(bool (*used)(int fd, void *arg), void *arg, bool quiet);

/* Close all of them (a stop: new clients get a clean refusal). */
void lsock_close_all(void);

#endif
