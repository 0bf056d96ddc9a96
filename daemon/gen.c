/*
 * gen.c - generations of workers (see gen.h).
 */
#include "gen.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "lsock.h"
#include "metrics.h"
#include "worker.h"

#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  10000
#define QUICK_DEATH_MS  3000    /* a worker dying younger than this backs off */

struct gen_list gen_all = TAILQ_HEAD_INITIALIZER(gen_all);

static bool metric_slot_used[METRICS_MAX_SLOTS];

struct gen *gen_new(struct cfg *cfg)
{
    struct gen *g = calloc(1, sizeof *g);

    if (g)
        g->slots = calloc((size_t)cfg->server.workers, sizeof *g->slots);
    if (!g || !g->slots) {
        free(g);
        cfg_free(cfg);
        return NULL;
    }
    g->cfg = cfg;
    g->metrics_fd = -1;
    g->n_slots = cfg->server.workers;
    for (int i = 0; i < g->n_slots; i++) {
        g->slots[i].ready_fd = -1;
        g->slots[i].metric_slot = -1;
    }
    return g;
}

void gen_free(struct gen *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_slots; i++)
        if (g->slots[i].ready_fd >= 0)
            close(g->slots[i].ready_fd);
    cfg_free(g->cfg);
    free(g->fds);
    free(g->tls_fds);
    free(g->slots);
    free(g);
}

int gen_bind(struct gen *g, char *err, size_t errlen)
{
    const struct cfg_server *s = &g->cfg->server;

    for (size_t i = 0; i < s->n_listen; i++)
        if (lsock_bind(&s->listen[i], LSOCK_API, &g->fds, &g->n_fds, err, errlen) < 0)
            return -1;
    g->metrics_fd = -1;
    if (s->metrics_listen) {
        int *mf = NULL;
        size_t nm = 0;
        int rc = lsock_bind(s->metrics_listen, LSOCK_METRICS, &mf, &nm, err, errlen);
        if (rc == 0)
            g->metrics_fd = mf[0];   /* the worker serves one metrics socket */
        free(mf);
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; s->tls && i < s->tls->n_listen; i++)
        if (lsock_bind(&s->tls->listen[i], LSOCK_TLS, &g->tls_fds, &g->n_tls_fds, err,
                       errlen) < 0)
            return -1;
    return 0;
}

static bool uses_fd(const struct gen *g, int fd)
{
    if (g->metrics_fd == fd)
        return true;
    for (size_t i = 0; i < g->n_fds; i++)
        if (g->fds[i] == fd)
            return true;
    for (size_t i = 0; i < g->n_tls_fds; i++)
        if (g->tls_fds[i] == fd)
            return true;
    return false;
}

static bool any_uses_fd(int fd, void *arg)
{
    struct gen *g;

    (void)arg;
    TAILQ_FOREACH(g, &gen_all, link)
        if (uses_fd(g, fd))
            return true;
    return false;
}

static bool this_uses_fd(int fd, void *arg)
{
    return uses_fd(arg, fd);
}

void gen_close_unused_sockets(void)
{
    lsock_close_unused(any_uses_fd, NULL, false);
}

/* In the child: keep only what this worker needs. */
static void child_setup(struct gen *g, pid_t master)
{
    struct gen *o;

    lsock_close_unused(this_uses_fd, g, true);
    TAILQ_FOREACH(o, &gen_all, link)
        for (int i = 0; i < o->n_slots; i++)
            if (o->slots[i].ready_fd >= 0)
                close(o->slots[i].ready_fd);
    /* Only the master talks to systemd. */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    /* The master's handlers mean nothing here; the signals stay blocked until
     * the worker has its own libevent handlers in place. */
    for (size_t i = 0; i < proc_n_master_signals; i++)
        signal(proc_master_signals[i], SIG_DFL);
    proc_drop_privileges(&g->user);
    proc_set_limits(g->cfg);
    /* After any setuid (which clears it): die with the master. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        _exit(WORKER_EXIT_FATAL);
}

/* A free in-flight slot, or -1: more live workers than slots (many
 * generations draining at once); such a worker's requests go uncounted
 * rather than into another worker's slot. */
static int take_metric_slot(void)
{
    static bool warned;

    for (int i = 0; i < METRICS_MAX_SLOTS; i++)
        if (!metric_slot_used[i]) {
            metric_slot_used[i] = true;
            return i;
        }
    if (!warned)
        log_warn("more than %d live workers: the in-flight gauge misses some",
                 METRICS_MAX_SLOTS);
    warned = true;
    return -1;
}

int gen_spawn(struct gen *g, int i, pid_t master)
{
    struct slot *s = &g->slots[i];
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    int ms = take_metric_slot();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        if (ms >= 0)
            metric_slot_used[ms] = false;
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        log_set_role("presignd-worker");
        close(p[0]);
        child_setup(g, master);
        exit(worker_main(g->cfg, g->fds, (int)g->n_fds, g->tls_fds, (int)g->n_tls_fds,
                         g->metrics_fd, g->id, ms, p[1]));
    }
    close(p[1]);
    s->pid = pid;
    s->ready_fd = p[0];
    s->ready = false;
    s->metric_slot = ms;
    s->started = clock_mono_ms();
    s->respawn_at = 0;
    log_info("worker %ld started (generation %lu)", (long)pid, g->id);
    return 0;
}

void gen_slot_exited(struct gen *g, int i)
{
    struct slot *s = &g->slots[i];

    s->pid = 0;
    s->ready = false;
    if (s->ready_fd >= 0) {
        close(s->ready_fd);
        s->ready_fd = -1;
    }
    /* Its requests in flight are gone with it. */
    if (s->metric_slot >= 0) {
        metrics_clear_slot(s->metric_slot);
        metric_slot_used[s->metric_slot] = false;
        s->metric_slot = -1;
    }
}

void gen_schedule_respawn(struct gen *g, int i, int64_t now)
{
    struct slot *s = &g->slots[i];

    if (now - s->started < QUICK_DEATH_MS) {
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS)
            s->backoff_ms = BACKOFF_MAX_MS;
    } else {
        s->backoff_ms = 0;
    }
    s->respawn_at = now + s->backoff_ms;
    if (s->backoff_ms)
        log_warn("worker of generation %lu keeps dying; respawning in %d ms",
                 g->id, s->backoff_ms);
}

void gen_signal(struct gen *g, int sig)
{
    for (int i = 0; i < g->n_slots; i++)
        if (g->slots[i].pid > 0)
            kill(g->slots[i].pid, sig);
}

int gen_live(const struct gen *g)
{
    int n = 0;

    for (int i = 0; g && i < g->n_slots; i++)
        if (g->slots[i].pid > 0)
            n++;
    return n;
}

int gen_total_live(void)
{
    struct gen *g;
    int n = 0;

    TAILQ_FOREACH(g, &gen_all, link)
        n += gen_live(g);
    return n;
}

bool gen_all_ready(const struct gen *g)
{
    for (int i = 0; i < g->n_slots; i++)
        if (!g->slots[i].ready)
            return false;
    return true;
}

bool gen_find_worker(pid_t pid, struct gen **gp, int *ip)
{
    struct gen *g;

    TAILQ_FOREACH(g, &gen_all, link)
        for (int i = 0; i < g->n_slots; i++)
            if (g->slots[i].pid == pid) {
                *gp = g;
                *ip = i;
                return true;
            }
    return false;
}
