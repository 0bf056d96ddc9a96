/*
 * worker.c - one worker process (see worker.h).
 *
 * A worker owns an event_base created after fork, an evhttp that accepts on
 * the listen sockets inherited from the master, its own S3 client and the
 * API on top. Signals arrive through libevent: TERM/INT drain, QUIT exits at
 * once, USR1 reopens the log files. A worker whose master dies drains too
 * (PR_SET_PDEATHSIG, and a once-a-second getppid() check as a second line).
 *
 * Drain, the part that makes reloads lossless:
 *  1. stop accepting (the master and the other generation keep the sockets,
 *     so new connections go to them, never into a closed socket);
 *  2. api_drain(): every response from now on says "Connection: close", so a
 *     client learns from the response itself that it must reconnect;
 *  3. exit once nothing is in flight and no client connection is in the
 *     middle of a request. A kept-alive connection that is merely idle gets a
 *     short grace to send its next request (which is answered, with
 *     Connection: close) before the worker closes it by exiting: closing an
 *     idle connection at the very moment its client reuses it is the classic
 *     keep-alive race that turns a reload into client errors.
 *  evhttp only hands a request to the API once it has been read whole, so
 *  "in the middle of a request" (a slow upload of a body, say) is read from
 *  the kernel's TCP_INFO (data received after the last data sent) and its
 *  send queue (a response not yet taken by a slow reader).
 */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "api.h"
#include "clock.h"
#include "conns.h"
#include "config.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "s3.h"

#define TICK_MS         1000    /* master-alive check while serving */
#define DRAIN_TICK_MS   20      /* progress check while draining */
#define IDLE_GRACE_MS   1000    /* idle kept-alive connections get this long */
#define MAX_PORTS       64
#define ACCEPT_PAUSE_MS 100     /* accept() out of descriptors or memory: pause */

/* A socket the worker accepts on, and the evhttp that serves it. */
struct listener {
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
};

/* What the master sends or forwards to a worker (w->sigs, in this order). */
static const int worker_signals[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP };
#define N_WORKER_SIGNALS (sizeof worker_signals / sizeof worker_signals[0])

struct worker {
    const struct cfg *cfg;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp *mhttp;                   /* metrics listener, or NULL */
    struct evhttp *thttp;                   /* HTTPS (server.tls), or NULL */
    struct listener *ls;                    /* every socket it accepts on */
    int n_ls;
    struct httpc *httpc;                    /* S3, instance metadata, JWKS */
    struct s3_client *s3;
    struct api *api;
    struct conns *conns;                    /* client connections: count, header deadline */
    bool at_conn_limit;                     /* server.max_connections reached */
    struct event *sigs[N_WORKER_SIGNALS];
    struct event *tick;
    struct event *accept_resume;            /* re-enables paused listeners */
    int64_t accept_warned;                  /* last "accept paused" warning */
    unsigned long accept_pauses;            /* since that warning */
    pid_t master;
    int status_fd;                          /* pipe to the master, or -1 */
    bool draining;
    int64_t drain_start;
    int64_t drain_deadline;
    uint16_t ports[MAX_PORTS];              /* local ports of our listeners */
    int n_ports;
};

static void remember_port(struct worker *w, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || w->n_ports >= MAX_PORTS)
        return;
    uint16_t port = 0;
    if (ss.ss_family == AF_INET)
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    w->ports[w->n_ports++] = port;
}

/*
 * Count the client connections this process still holds: TCP sockets that
 * are not listening and whose local port is one of our listen ports (the S3
 * client's own connections have ephemeral local ports). BUSY gets those in
 * the middle of a request.
 */
static int count_client_conns(const struct worker *w, int *busy)
{
    *busy = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int dfd = dirfd(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || fd == dfd)
            continue;
        struct stat st;
        if (fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        int acc = 0;
        socklen_t alen = sizeof acc;
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) < 0 || acc)
            continue;
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname((int)fd, (struct sockaddr *)&ss, &len) < 0)
            continue;
        uint16_t port;
        if (ss.ss_family == AF_INET)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        else
            continue;
        bool ours = false;
        for (int i = 0; i < w->n_ports && !ours; i++)
            ours = w->ports[i] == port;
        if (!ours)
            continue;
        n++;
        struct tcp_info ti;
        socklen_t tlen = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (getsockopt((int)fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) < 0) {
            (*busy)++;
            continue;
        }
        /* Some request bytes came in after our last response went out (or
         * before any response): a request is under way. A connection whose
         * client has sent nothing at all is idle. A response still queued
         * for a slow reader counts as under way too. The *_last_data_*
         * fields are "milliseconds ago", so smaller is more recent. */
        bool got_data = tlen > offsetof(struct tcp_info, tcpi_bytes_received)
                        ? ti.tcpi_bytes_received > 0 : true;
        int outq = 0;
        if (got_data && ti.tcpi_last_data_recv < ti.tcpi_last_data_sent)
            (*busy)++;
        else if (ioctl((int)fd, SIOCOUTQ, &outq) == 0 && outq > 0)
            (*busy)++;   /* a response still on its way to a slow reader */
    }
    closedir(d);
    return n;
}

static void arm_tick(struct worker *w, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(w->tick, &tv);
}

static void set_listeners(struct worker *w, bool enable)
{
    for (int i = 0; i < w->n_ls; i++) {
        struct evconnlistener *l = evhttp_bound_socket_get_listener(w->ls[i].bound);
        if (l)
            enable ? evconnlistener_enable(l) : evconnlistener_disable(l);
    }
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    if (!w->draining && !w->at_conn_limit)
        set_listeners(w, true);
}

/* At server.max_connections this worker stops accepting: the others, on
 * the same sockets, take the new connections (or the kernel's backlog
 * holds them) until one of ours closes. */
static void on_conn_limit(bool at_limit, void *arg)
{
    struct worker *w = arg;
    static int64_t warned;

    w->at_conn_limit = at_limit;
    if (at_limit) {
        int64_t now = clock_mono_ms();
        if (now - warned >= 10000) {
            log_warn("%d client connections: not accepting more until one closes "
                     "(server.max_connections)", w->cfg->server.max_connections);
            warned = now;
        }
        set_listeners(w, false);
    } else if (!w->draining && !evtimer_pending(w->accept_resume, NULL)) {
        set_listeners(w, true);
    }
}

/*
 * accept() failed. Out of descriptors (EMFILE/ENFILE) or memory, the
 * pending connection stays in the queue, so a level-triggered listener would
 * spin on it at full CPU: stop listening for a moment instead (as nginx
 * does), and let the other workers, which share the socket, take the
 * connections meanwhile. Warn at most every ten seconds.
 */
static struct worker *accept_worker;   /* one worker per process */

static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    (void)listener;
    (void)arg;   /* evhttp's own pointer: the listener's callback argument */
    struct worker *w = accept_worker;
    int e = EVUTIL_SOCKET_ERROR();
    if (e == EINTR || e == EAGAIN || e == ECONNABORTED)
        return;
    w->accept_pauses++;
    int64_t now = clock_mono_ms();
    if (now - w->accept_warned >= 10000) {
        log_warn("accept() failed: %s; pausing accepts for %d ms (%lu pauses)",
                 strerror(e), ACCEPT_PAUSE_MS, w->accept_pauses);
        w->accept_warned = now;
        w->accept_pauses = 0;
    }
    set_listeners(w, false);
    struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
    evtimer_add(w->accept_resume, &tv);
}

static void watch_accept_errors(struct worker *w, struct evhttp_bound_socket *bound)
{
    accept_worker = w;
    struct evconnlistener *l = evhttp_bound_socket_get_listener(bound);
    if (l)
        evconnlistener_set_error_cb(l, on_accept_error);
}

/* The master waits for these: a reload is complete, and "presignd -R"
 * returns, only once the new workers accept and the old ones no longer do. */
static void tell_master(struct worker *w, char what)
{
    if (w->status_fd < 0)
        return;
    ssize_t r;
    do {
        r = write(w->status_fd, &what, 1);
    } while (r < 0 && errno == EINTR);
    if (what == WORKER_SAYS_NOT_ACCEPTING || r < 0) {
        close(w->status_fd);
        w->status_fd = -1;
    }
}

static void stop_accepting(struct worker *w)
{
    /* Frees the listeners and closes our copies of the sockets; the master's
     * copies (and the other workers') keep accepting. */
    for (int i = 0; i < w->n_ls; i++)
        evhttp_del_accept_socket(w->ls[i].http, w->ls[i].bound);
    w->n_ls = 0;
}

static void begin_drain(struct worker *w, const char *why)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_start = clock_mono_ms();
    w->drain_deadline = w->drain_start + (int64_t)w->cfg->server.shutdown_timeout * 1000;
    log_info("draining (%s)", why);
    stop_accepting(w);
    tell_master(w, WORKER_SAYS_NOT_ACCEPTING);
    if (w->api)
        api_drain(w->api);
    event_del(w->tick);
    arm_tick(w, 0);
}

/* Free heap glibc may keep before a worker gives it back (1 MiB). */
#define TRIM_SLACK ((size_t)1 << 20)

/* After a burst (the buffers of hundreds of connections, curl's), glibc
 * keeps the freed heap mapped and dirty: a worker that is idle gives it
 * back, so its memory at rest does not remember its busiest second. */
static void trim_when_idle(struct worker *w)
{
    if (!w->api || api_inflight(w->api) || conns_busy(w->conns))
        return;
    if (mallinfo2().fordblks >= TRIM_SLACK)
        malloc_trim(0);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    conns_sweep(w->conns);
    if (!w->draining) {
        if (getppid() != w->master)
            begin_drain(w, "the master is gone");
        else
            arm_tick(w, TICK_MS);
        trim_when_idle(w);
        return;
    }
    int64_t now = clock_mono_ms();
    size_t inflight = api_inflight(w->api) + s3_inflight(w->s3);
    if (now >= w->drain_deadline) {
        int busy;
        int conns = count_client_conns(w, &busy);
        if (inflight || conns > 0)
            log_warn("shutdown_timeout reached: closing %d connections, %zu requests in flight",
                     conns, inflight);
        event_base_loopexit(w->base, NULL);
        return;
    }
    if (inflight) {
        arm_tick(w, DRAIN_TICK_MS);   /* no need to look at the sockets yet */
        return;
    }
    int busy = 0;
    int conns = count_client_conns(w, &busy);
    if (busy == 0 && (conns <= 0 || now - w->drain_start >= IDLE_GRACE_MS)) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    /* The scan costs a few system calls per connection: look less often
     * when there are many. */
    arm_tick(w, conns > 100 ? 10 * DRAIN_TICK_MS : DRAIN_TICK_MS);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        begin_drain(w, sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    case SIGQUIT:
        log_info("exiting at once (SIGQUIT)");
        event_base_loopbreak(w->base);
        break;
    case SIGUSR1:
        if (log_reopen() < 0)
            log_error("reopening log files failed: %s", strerror(errno));
        break;
    default:
        break;   /* SIGHUP: reloads are the master's business */
    }
}

static void worker_sigset(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < N_WORKER_SIGNALS; i++)
        sigaddset(set, worker_signals[i]);
}

static int add_signals(struct worker *w)
{
    for (size_t i = 0; i < N_WORKER_SIGNALS; i++) {
        w->sigs[i] = evsignal_new(w->base, worker_signals[i], on_signal, w);
        if (!w->sigs[i] || evsignal_add(w->sigs[i], NULL) < 0)
            return -1;
    }
    /* The master forks us with its signals blocked; libevent has its
     * handlers now, so let them (and anything pending) in. */
    sigset_t set;
    worker_sigset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}

/* The transport limits of an evhttp (the API sets its own: body size,
 * methods). */
static void set_limits(struct evhttp *http, const struct cfg *cfg)
{
    const struct cfg_server *s = &cfg->server;

    evhttp_set_max_headers_size(http, (ev_ssize_t)s->max_header_size);
    /* libevent 2.1 has one timeout per connection, covering a slow read, a
     * slow write and an idle kept-alive connection alike: take the tightest. */
    int t = s->read_timeout;
    if (s->write_timeout < t)
        t = s->write_timeout;
    if (s->keepalive_timeout < t)
        t = s->keepalive_timeout;
    struct timeval tv = { t, 0 };
    evhttp_set_timeout_tv(http, &tv);
}

static void worker_cleanup(struct worker *w)
{
    if (w->status_fd >= 0)
        close(w->status_fd);
    if (w->api)
        api_free(w->api);
    if (w->s3)
        s3_client_free(w->s3);
    httpc_free(w->httpc);
    if (w->mhttp)
        evhttp_free(w->mhttp);
    if (w->thttp)
        evhttp_free(w->thttp);
    if (w->http)
        evhttp_free(w->http);
    /* After the evhttps: freeing their connections calls back into it. */
    conns_free(w->conns);
    /* Freeing a signal event gives the signal its default action back,
     * and the master goes on forwarding USR1 and HUP to a worker that is
     * on its way out: blocked, such a signal cannot kill it in the middle
     * of its exit handlers (OpenSSL's cleanup runs there). */
    sigset_t leaving;
    worker_sigset(&leaving);
    sigprocmask(SIG_BLOCK, &leaving, NULL);
    for (size_t i = 0; i < N_WORKER_SIGNALS; i++)
        if (w->sigs[i])
            event_free(w->sigs[i]);
    if (w->tick)
        event_free(w->tick);
    if (w->accept_resume)
        event_free(w->accept_resume);
    if (w->base)
        event_base_free(w->base);
    free(w->ls);
}

/*
 * A worker is one thread: no locks in libevent. With the changelist, the
 * enable/disable churn evhttp makes around each request (read off while it
 * answers, write on until the answer is out, then back) is settled once per
 * loop round, and what cancels out costs no epoll_ctl at all: about four
 * system calls per kept-alive request fewer.
 */
static struct event_base *new_event_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *base = NULL;

    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    return base ? base : event_base_new();
}

int worker_main(const struct cfg *cfg, const int *fds, int n_fds, const int *tls_fds, int n_tls,
                int metrics_fd, unsigned long generation, int slot, int ready_fd)
{
    struct worker w;
    char err[512];
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.status_fd = ready_fd;
    log_set_role("presignd-worker");
    metrics_set_slot(slot);

    /* Noticing a dead master: the kernel tells us (after any setuid, which
     * clears the setting), and getppid() catches a master that died first. */
    w.master = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    w.base = new_event_base();
    w.http = w.base ? evhttp_new(w.base) : NULL;
    w.tick = w.base ? evtimer_new(w.base, on_tick, &w) : NULL;
    w.accept_resume = w.base ? evtimer_new(w.base, on_accept_resume, &w) : NULL;
    w.ls = calloc((size_t)(n_fds + n_tls + 1), sizeof *w.ls);
    if (!w.base || !w.http || !w.tick || !w.accept_resume || !w.ls
        || add_signals(&w) < 0) {
        log_error("cannot set up the event loop");
        worker_cleanup(&w);
        return WORKER_EXIT_FATAL;
    }
    set_limits(w.http, cfg);
    if (!(w.conns = conns_new(w.base, cfg, on_conn_limit, &w))) {
        log_error("cannot set up the event loop");
        worker_cleanup(&w);
        return WORKER_EXIT_FATAL;
    }
    conns_attach(w.conns, w.http);

    w.httpc = httpc_new(w.base, err, sizeof err);
    w.s3 = w.httpc ? s3_client_new(w.base, w.httpc, cfg, err, sizeof err) : NULL;
    if (!w.s3) {
        log_error("cannot create the S3 client: %s", err);
        worker_cleanup(&w);
        return WORKER_EXIT_CONFIG;
    }
    w.api = api_new(w.base, w.http, cfg, w.s3, w.httpc, err, sizeof err);
    if (!w.api) {
        log_error("cannot set up the API: %s", err);
        worker_cleanup(&w);
        return WORKER_EXIT_CONFIG;
    }
    w.api->conns = w.conns;

    if (n_tls > 0) {
        /* HTTPS has an evhttp of its own: evhttp makes every connection of
         * one evhttp through the same bufferevent callback. */
        if (!(w.thttp = evhttp_new(w.base))) {
            worker_cleanup(&w);
            return WORKER_EXIT_FATAL;
        }
        set_limits(w.thttp, cfg);
        conns_attach_tls(w.conns, w.thttp, cfg->server.tls->ctx);
        api_attach(w.api, w.thttp);
    }
    if (metrics_fd >= 0) {
        if (!(w.mhttp = evhttp_new(w.base))) {
            worker_cleanup(&w);
            return WORKER_EXIT_FATAL;
        }
        set_limits(w.mhttp, cfg);
        conns_attach(w.conns, w.mhttp);
        api_attach_metrics(w.api, w.mhttp);
    }
    /* Our fds are this process's own copies: evhttp may close them on free. */
    for (int i = 0; i < n_fds + n_tls + (metrics_fd >= 0); i++) {
        struct evhttp *h = i < n_fds ? w.http : i < n_fds + n_tls ? w.thttp : w.mhttp;
        int fd = i < n_fds ? fds[i] : i < n_fds + n_tls ? tls_fds[i - n_fds] : metrics_fd;
        struct evhttp_bound_socket *b = evhttp_accept_socket_with_handle(h, fd);
        if (!b) {
            log_error("cannot accept on inherited socket %d", fd);
            worker_cleanup(&w);
            return WORKER_EXIT_FATAL;
        }
        w.ls[w.n_ls++] = (struct listener){ h, b };
        watch_accept_errors(&w, b);
        remember_port(&w, fd);
    }

    arm_tick(&w, TICK_MS);
    log_debug("worker of generation %lu serving", generation);
    /* Test hook: the workers of generation N never say they serve, which
     * is how a test makes a reload whose new workers hang. */
    const char *hold = getenv("PRESIGND_TEST_HOLD_READY");
    if (hold && strtoul(hold, NULL, 10) == generation) {
        log_warn("PRESIGND_TEST_HOLD_READY: generation %lu will not become ready", generation);
        for (;;)
            pause();
    }
    tell_master(&w, WORKER_SAYS_READY);

    event_base_dispatch(w.base);

    log_debug("worker of generation %lu exits", generation);
    worker_cleanup(&w);
    return WORKER_EXIT_OK;
}
