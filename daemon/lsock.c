/*
 * lsock.c - the listen sockets of the master (see lsock.h).
 */
#include "lsock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"

#define LISTEN_BACKLOG 511
#define ADDR_KEY_LEN   80

struct lsock {
    char key[ADDR_KEY_LEN];     /* "127.0.0.1:8000", "[::1]:8000" */
    int fd;
    enum lsock_kind kind;
};

static struct lsock *socks;
static size_t n_socks;

static void addr_key(const struct sockaddr *sa, socklen_t len, char *key, size_t keylen)
{
    char host[INET6_ADDRSTRLEN], serv[16];

    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(key, keylen, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(key, keylen, "[%s]:%s", host, serv);
    else
        snprintf(key, keylen, "%s:%s", host, serv);
}

static struct lsock *find(const char *key)
{
    for (size_t i = 0; i < n_socks; i++)
        if (strcmp(socks[i].key, key) == 0)
            return &socks[i];
    return NULL;
}

static int open_listener(const struct addrinfo *ai, const char *key, char *err, size_t errlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int one = 1;

    if (fd < 0) {
        errbuf_set(err, errlen, "socket() for %s failed: %s", key, strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto fail;
    /* One socket per family: "[::]:80" must not also grab IPv4's port 80. */
    if (ai->ai_family == AF_INET6
        && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        goto fail;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        goto fail;
    if (listen(fd, LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:
    errbuf_set(err, errlen, "cannot listen on %s: %s", key, strerror(errno));
    close(fd);
    return -1;
}

static int add_fd(int **fds, size_t *n, int fd)
{
    for (size_t i = 0; i < *n; i++)
        if ((*fds)[i] == fd)
            return 0;
    int *nf = realloc(*fds, (*n + 1) * sizeof **fds);
    if (!nf)
        return -1;
    nf[(*n)++] = fd;
    *fds = nf;
    return 0;
}

int lsock_bind(const struct cfg_listen *l, enum lsock_kind kind, int **fds, size_t *n,
               char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char first_err[256] = "";
    int bound = 0, rc = -1;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    const char *host = l->host && *l->host ? l->host : NULL;
    int gai = getaddrinfo(host, l->port, &hints, &res);
    if (gai != 0) {
        errbuf_set(err, errlen, "cannot resolve listen address %s: %s", l->text,
                   gai_strerror(gai));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char key[ADDR_KEY_LEN];
        addr_key(ai->ai_addr, ai->ai_addrlen, key, sizeof key);
        struct lsock *ls = find(key);
        if (ls && ls->kind != kind) {
            static const char *const names[] = { "listen", "metrics_listen", "tls.listen" };
            errbuf_set(err, errlen, "%s is already a %s address, cannot also be a %s one", key,
                       names[ls->kind], names[kind]);
            goto out;
        }
        int fd = ls ? ls->fd : -1;
        if (fd < 0) {
            char e[256];
            fd = open_listener(ai, key, e, sizeof e);
            if (fd < 0) {
                if (!first_err[0])
                    snprintf(first_err, sizeof first_err, "%s", e);
                continue;
            }
            struct lsock *ns = realloc(socks, (n_socks + 1) * sizeof *ns);
            if (!ns) {
                close(fd);
                errbuf_set(err, errlen, "out of memory");
                goto out;
            }
            socks = ns;
            snprintf(socks[n_socks].key, sizeof socks[n_socks].key, "%s", key);
            socks[n_socks].fd = fd;
            socks[n_socks++].kind = kind;
            log_info("listening on %s%s", key, kind == LSOCK_METRICS ? " (metrics)"
                                               : kind == LSOCK_TLS ? " (HTTPS)" : "");
        }
        if (add_fd(fds, n, fd) < 0) {
            errbuf_set(err, errlen, "out of memory");
            goto out;
        }
        bound++;
    }
    if (!bound)
        errbuf_set(err, errlen, "%s", first_err[0] ? first_err : "no address to listen on");
    else
        rc = 0;
out:
    freeaddrinfo(res);
    return rc;
}

void lsock_close_unused(bool (*used)(int fd, void *arg), void *arg, bool quiet)
{
    for (size_t i = 0; i < n_socks;) {
        if (used(socks[i].fd, arg)) {
            i++;
            continue;
        }
        if (!quiet)
            log_info("closing listen socket %s", socks[i].key);
        close(socks[i].fd);
        socks[i] = socks[--n_socks];
    }
}

void lsock_close_all(void)
{
    for (size_t i = 0; i < n_socks; i++)
        close(socks[i].fd);
    n_socks = 0;
    free(socks);
    socks = NULL;
}
