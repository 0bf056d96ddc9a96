/*
 * master.c - the master process (see master.h).
 *
 * Modelled on nginx's ngx_process_cycle.c: the master binds every listen
 * address once and keeps those sockets for its whole life (lsock.c), forks
 * workers that inherit them, and then only supervises. It sleeps in ppoll()
 * with the handled signals unblocked only for the duration of the sleep,
 * so signal handlers merely set flags and all the work happens in ordinary
 * code. The only descriptors it polls are the workers' status pipes;
 * every other wait (respawn back-off, drain deadline, watchdog) is a ppoll
 * timeout.
 *
 * Workers belong to generations, all on one list: the current one, at
 * most one starting (a reload's), and any number draining. A reload starts
 * a new generation with the new configuration and, only once every worker
 * of it has reported that it serves, tells the previous generation to
 * drain. Since both generations accept on the same sockets meanwhile, a
 * reload never refuses a connection.
 *
 * The master keeps root (when started as root) like nginx's, so that a
 * reload can bind a new privileged port, write the pid file and reopen log
 * files; the workers, which talk to the network, drop to server.user/group
 * right after fork (proc.c).
 */
#include "master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "clock.h"
#include "config.h"
#include "httpc.h"
#include "log.h"
#include "gen.h"
#include "lsock.h"
#include "metrics.h"
#include "proc.h"
#include "ratelimit.h"
#include "reloadctl.h"
#include "sdnotify.h"
#include "tls.h"
#include "worker.h"

#define HANDOVER_TIMEOUT_MS 2000    /* old workers confirm they stopped accepting */
#define KILL_GRACE_MS       1000    /* past shutdown_timeout, before SIGKILL */

static struct gen *cur;         /* the one serving */
static struct gen *pending;     /* a reload's new generation, not yet ready */
static unsigned long next_gen_id = 1;

static char *config_path;
static char *pid_file;          /* the one we wrote, to remove at exit */
static pid_t master_pid;
static bool announced_ready;    /* READY=1 sent for the first generation */
static bool handover;           /* promoted; old workers may still accept */
static int64_t handover_deadline;
static bool stopping;
static int64_t stop_deadline;
static bool stop_killed;
static int exit_code;

static uint64_t watchdog_ms;
static int64_t watchdog_next;

/* Set by the signal handlers, read by the main loop (the handled signals are
 * blocked everywhere except inside ppoll, so the loop sees a stable view). */
static volatile sig_atomic_t sig_hup, sig_term, sig_quit, sig_usr1, sig_chld;

/* ---- signals ------------------------------------------------------------ */

static void on_hup(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    sig_hup = 1;
    reloadctl_note(si);
}

static void on_signal(int sig)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        sig_term++;
        break;
    case SIGQUIT:
        sig_quit = 1;
        break;
    case SIGUSR1:
        sig_usr1 = 1;
        break;
    case SIGCHLD:
        sig_chld = 1;
        break;
    }
}


static void install_signals(sigset_t *sleep_mask)
{
    sigset_t block;
    struct sigaction sa;

    sigemptyset(&block);
    for (size_t i = 0; i < proc_n_master_signals; i++)
        sigaddset(&block, proc_master_signals[i]);
    sigprocmask(SIG_BLOCK, &block, sleep_mask);
    for (size_t i = 0; i < proc_n_master_signals; i++)
        sigdelset(sleep_mask, proc_master_signals[i]);

    memset(&sa, 0, sizeof sa);
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO;
    sa.sa_sigaction = on_hup;
    sigaction(SIGHUP, &sa, NULL);

    memset(&sa, 0, sizeof sa);
    sigfillset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    /* Writes to a peer that went away must be an error, not a death. */
    signal(SIGPIPE, SIG_IGN);
}

/* ---- generations -------------------------------------------------------- */

static int64_t kill_deadline(const struct cfg *cfg)
{
    return clock_mono_ms() + (int64_t)cfg->server.shutdown_timeout * 1000 + KILL_GRACE_MS;
}

/* Tell G to finish its in-flight requests and exit. */
static void gen_drain(struct gen *g, const struct cfg *timeouts)
{
    g->state = GEN_DRAINING;
    g->deadline = kill_deadline(timeouts);
    for (int i = 0; i < g->n_slots; i++)
        g->slots[i].respawn_at = 0;
    gen_signal(g, SIGTERM);
}

/* Drop draining generations with no worker left, then the sockets only
 * they used. */
static void gc_generations(void)
{
    struct gen *g, *next;

    for (g = TAILQ_FIRST(&gen_all); g; g = next) {
        next = TAILQ_NEXT(g, link);
        if (g != cur && g != pending && gen_live(g) == 0) {
            log_info("generation %lu is gone", g->id);
            TAILQ_REMOVE(&gen_all, g, link);
            gen_free(g);
        }
    }
    gen_close_unused_sockets();
}

/* ---- logs, pid file, systemd -------------------------------------------- */

/* Workers reopen the log files themselves on USR1, as the unprivileged user:
 * give them the files the master (root) created, as nginx does. */
/* The log files of CFG, opened for workers running as U (their owner);
 * refused in directories U could write to (proc_check_file_dirs). */
static int configure_log(const struct cfg *cfg, const struct proc_user *u, char *err,
                         size_t errlen)
{
    if (proc_check_file_dirs(cfg, u, err, errlen) < 0)
        return -1;
    if (u && u->drop)
        log_set_owner(u->uid, u->gid);
    else
        log_set_owner((uid_t)-1, (gid_t)-1);
    proc_set_limits(cfg);
    if (log_configure(cfg->server.log_file, cfg->server.access_log, cfg->server.log_level,
                      err, errlen) < 0)
        return -1;
    return log_configure_audit(cfg->audit.log_file, err, errlen);
}

/* What a generation with CFG needs in shared memory, before its fork, and
 * the warnings an operator must see. 0, or -1 with ERR. */
static int prepare(const struct cfg *cfg, char *err, size_t errlen)
{
    if (ratelimit_init(cfg->rate_limit.entries, err, errlen) < 0)
        return -1;
    if (cfg->auth.mode == CFG_AUTH_NONE)
        log_warn("auth.mode is none: anyone who reaches presignd may sign uploads and "
                 "downloads, list and delete under %s%s", cfg->uploads.prefix,
                 cfg->auth.n_api_keys ? " (auth.api_keys is set but not used)" : "");
    if (cfg->server.tls) {
        char serial[128];
        tls_ctx_serial(cfg->server.tls->ctx, serial, sizeof serial);
        log_info("HTTPS with %s (serial %s), TLS %s and up", cfg->server.tls->certificate,
                 serial, cfg->server.tls->min_version == TLS1_3_VERSION ? "1.3" : "1.2");
    }
    if (!cfg->uploads.require_size)
        log_warn("uploads.require_size is false: an upload URL requested without a size "
                 "takes any length up to S3's 5 GB; presign.max_file_size (%lld bytes) is "
                 "not enforced for those", (long long)cfg->presign.max_file_size);
    return 0;
}

/* server.pid_file may change (or go) with a reload. */
static void update_pid_file(const struct cfg *cfg)
{
    char err[512];

    if (cfg->server.pid_file && (!pid_file || strcmp(cfg->server.pid_file, pid_file) != 0)) {
        if (proc_write_pid_file(cfg->server.pid_file, err, sizeof err) < 0) {
            log_error("%s", err);
            return;
        }
        if (pid_file)
            unlink(pid_file);
        free(pid_file);
        pid_file = strdup(cfg->server.pid_file);
    } else if (!cfg->server.pid_file && pid_file) {
        unlink(pid_file);
        free(pid_file);
        pid_file = NULL;
    }
}

static void remove_pid_file(void)
{
    if (pid_file && getpid() == master_pid) {
        if (unlink(pid_file) < 0 && errno != ENOENT)
            log_warn("cannot remove pid file %s: %s", pid_file, strerror(errno));
        free(pid_file);
        pid_file = NULL;
    }
}

static void notify(const char *state)
{
    if (sdnotify_send(state) < 0)
        log_warn("sd_notify failed: %s", strerror(errno));
}

static void notify_ready(const char *extra)
{
    char buf[512];

    snprintf(buf, sizeof buf, "READY=1\nSTATUS=generation %lu, %d workers%s%s\nMAINPID=%ld",
             cur->id, gen_live(cur), extra ? "; " : "", extra ? extra : "",
             (long)master_pid);
    notify(buf);
}

/* ---- reload ------------------------------------------------------------- */

static void reload_failed(const char *why)
{
    char err[256], buf[512];

    log_error("reload rejected: %s; still serving generation %lu", why, cur->id);
    metrics_reload(false);
    if (configure_log(cur->cfg, &cur->user, err, sizeof err) < 0)
        log_warn("%s", err);
    snprintf(buf, sizeof buf, "reload rejected (%s), see the log", why);
    notify_ready(buf);
    reloadctl_finish(RELOADCTL_REJECTED);
}

static void start_reload(void)
{
    char buf[128], err[512];
    struct cfg_errors errs = { 0 };

    reloadctl_begin();
    sig_hup = 0;
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)clock_mono_us());
    notify(buf);
    log_info("reloading configuration from %s", config_path);

    struct cfg *ncfg = cfg_load(config_path, &errs);
    if (!ncfg) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("%s", errs.lines[i]);
        cfg_errors_free(&errs);
        reload_failed("invalid configuration");
        return;
    }
    cfg_errors_free(&errs);
    struct gen *g = gen_new(ncfg);
    if (!g) {
        reload_failed("out of memory");
        return;
    }
    if (proc_resolve_user(ncfg, &g->user, err, sizeof err) < 0 ||
        configure_log(ncfg, &g->user, err, sizeof err) < 0 ||
        prepare(ncfg, err, sizeof err) < 0) {
        gen_free(g);
        reload_failed(err);
        return;
    }
    /* On the list before binding, so the sockets it shares stay open. */
    g->id = next_gen_id++;
    g->state = GEN_STARTING;
    g->deadline = clock_mono_ms() + (int64_t)ncfg->server.start_timeout * 1000;
    TAILQ_INSERT_TAIL(&gen_all, g, link);
    if (gen_bind(g, err, sizeof err) < 0) {
        TAILQ_REMOVE(&gen_all, g, link);
        gen_free(g);
        gen_close_unused_sockets();
        reload_failed(err);
        return;
    }
    pending = g;
    for (int i = 0; i < g->n_slots; i++)
        if (gen_spawn(g, i, master_pid) < 0) {
            /* Fork failing is the machine's state, not the config's. */
            gen_signal(g, SIGKILL);
            pending = NULL;
            g->state = GEN_DRAINING;
            g->deadline = clock_mono_ms();
            reload_failed("cannot start the new workers");
            return;
        }
}

/* A reload's new generation serves: it becomes current, the old one drains. */
static void promote(void)
{
    struct gen *g = pending, *old = cur;

    pending = NULL;
    g->state = GEN_ACTIVE;
    cur = g;
    if (old) {
        gen_drain(old, g->cfg);
        log_info("reload ok: generation %lu serving with %d workers; draining generation %lu",
                 g->id, gen_live(g), old->id);
    }
    update_pid_file(g->cfg);
    announced_ready = true;
    metrics_reload(true);
    metrics_set_generation(g->id);
    metrics_set_workers(gen_live(cur));
    handover = true;
    handover_deadline = clock_mono_ms() + HANDOVER_TIMEOUT_MS;
}

/* A drained worker that has not yet said it stopped accepting may still take
 * a new connection with the old configuration. */
static bool old_workers_accepting(void)
{
    struct gen *g;

    TAILQ_FOREACH(g, &gen_all, link)
        for (int i = 0; g->state == GEN_DRAINING && i < g->n_slots; i++)
            if (g->slots[i].pid > 0 && g->slots[i].ready_fd >= 0)
                return true;
    return false;
}

/* The reload is complete once only the new workers accept: then systemd and
 * "presignd -R" hear of it, so that a request they send next meets the new
 * configuration. */
static void finish_handover(void)
{
    if (!handover)
        return;
    handover = false;
    if (old_workers_accepting())
        log_warn("reload: an old worker did not confirm within %d ms that it stopped accepting",
                 HANDOVER_TIMEOUT_MS);
    notify_ready(NULL);
    reloadctl_finish(RELOADCTL_OK);
}

static void abort_pending(const char *why)
{
    struct gen *g = pending;

    pending = NULL;
    gen_drain(g, g->cfg);
    reload_failed(why);
}

/* ---- supervision -------------------------------------------------------- */

static void begin_stop(void);

static void reap(void)
{
    int status;
    pid_t pid;
    int64_t now = clock_mono_ms();

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct gen *g;
        int i;
        if (!gen_find_worker(pid, &g, &i))
            continue;
        bool config = WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_CONFIG;
        if (WIFEXITED(status))
            log_info("worker %ld (generation %lu) exited with status %d", (long)pid, g->id,
                     WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            log_warn("worker %ld (generation %lu) killed by signal %d (%s)", (long)pid, g->id,
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        gen_slot_exited(g, i);

        if (stopping || g->state == GEN_DRAINING)
            continue;
        if (g == pending) {
            abort_pending(config ? "the new workers cannot run with this configuration"
                                 : "a new worker exited before it was ready");
            continue;
        }
        /* The current generation lost a worker. */
        if (config) {
            log_error("worker %ld cannot run with this configuration (exit %d); "
                      "not respawning it", (long)pid, WORKER_EXIT_CONFIG);
            if (!announced_ready) {
                /* At start nothing serves yet: fail the start (systemd
                 * sees it) rather than run short of workers for ever. */
                log_error("the workers cannot run with this configuration; exiting");
                exit_code = 1;
                begin_stop();
            }
            continue;
        }
        gen_schedule_respawn(g, i, now);
    }
    metrics_set_workers(gen_live(cur));
}

static void respawn_due(int64_t now)
{
    if (stopping || !cur)
        return;
    for (int i = 0; i < cur->n_slots; i++) {
        struct slot *s = &cur->slots[i];
        if (s->pid == 0 && s->respawn_at && s->respawn_at <= now) {
            s->respawn_at = 0;
            log_info("respawning a worker of generation %lu", cur->id);
            if (gen_spawn(cur, i, master_pid) == 0) {
                metrics_worker_restart();
            } else {
                s->started = now;   /* a failed fork backs off too */
                gen_schedule_respawn(cur, i, now);
            }
        }
    }
    metrics_set_workers(gen_live(cur));
}

/* Read the status bytes (worker.h): "ready" marks the slot serving; "not
 * accepting", or EOF (it died; CHLD follows), ends the pipe. */
static void read_status(const struct pollfd *pfds, struct slot **owners, int n)
{
    for (int k = 0; k < n; k++) {
        if (!pfds[k].revents)
            continue;
        struct slot *s = owners[k];
        for (;;) {
            char c;
            ssize_t r = read(s->ready_fd, &c, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EAGAIN)
                break;
            if (r == 1 && c == WORKER_SAYS_READY) {
                s->ready = true;
                continue;
            }
            close(s->ready_fd);
            s->ready_fd = -1;
            break;
        }
    }
}

static void begin_stop(void)
{
    struct gen *g;
    const struct cfg *c = cur ? cur->cfg : pending->cfg;

    finish_handover();
    stopping = true;
    /* The sockets go as soon as the workers stop accepting: a client then
     * gets a clean "connection refused" (and a load balancer moves on)
     * rather than a connection queued in the backlog and reset when the
     * master exits. */
    lsock_close_all();
    notify("STOPPING=1\nSTATUS=stopping");
    log_info("stopping: draining workers (up to %d s)", c->server.shutdown_timeout);
    stop_deadline = kill_deadline(c);
    TAILQ_FOREACH(g, &gen_all, link) {
        for (int i = 0; i < g->n_slots; i++)
            g->slots[i].respawn_at = 0;
        gen_signal(g, SIGTERM);
        if (g == pending)
            g->state = GEN_DRAINING;
    }
    if (pending) {
        pending = NULL;
        reloadctl_finish(RELOADCTL_REJECTED);
    }
}

static void kill_all(void)
{
    struct gen *g;

    TAILQ_FOREACH(g, &gen_all, link)
        gen_signal(g, SIGKILL);
}

/* Wait (bounded: a process stuck in the kernel must not hang the master's
 * exit) for killed workers, so that no orphan outlives the master. */
static void reap_all_blocking(void)
{
    int64_t until = clock_mono_ms() + 5000;

    while (gen_total_live() > 0 && clock_mono_ms() < until) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == ECHILD)
            break;
        if (pid > 0) {
            struct gen *g;
            int i;
            if (gen_find_worker(pid, &g, &i))
                g->slots[i].pid = 0;
            continue;
        }
        struct timespec ts = { 0, 5 * 1000000 };
        nanosleep(&ts, NULL);
    }
}

static void stop_now(const char *why)
{
    log_info("immediate stop (%s)", why);
    finish_handover();
    if (!stopping)
        notify("STOPPING=1\nSTATUS=stopping");
    stopping = true;
    kill_all();
    reap_all_blocking();
}

static void check_deadlines(int64_t now)
{
    struct gen *g;

    TAILQ_FOREACH(g, &gen_all, link)
        if (g->state == GEN_DRAINING && !g->killed && now >= g->deadline
            && gen_live(g) > 0) {
            log_warn("generation %lu did not drain in time; killing %d workers",
                     g->id, gen_live(g));
            gen_signal(g, SIGKILL);
            g->killed = true;
        }
    if (pending && now >= pending->deadline)
        abort_pending("the new workers did not become ready in time");
    if (stopping && !stop_killed && now >= stop_deadline && gen_total_live() > 0) {
        log_warn("workers did not stop in time; killing them");
        kill_all();
        stop_killed = true;
    }
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int64_t next_wakeup(void)
{
    struct gen *g;
    int64_t t = -1;

    TAILQ_FOREACH(g, &gen_all, link) {
        if ((g->state == GEN_DRAINING && !g->killed) || g == pending)
            t = min_deadline(t, g->deadline);
        for (int i = 0; g == cur && !stopping && i < g->n_slots; i++)
            if (g->slots[i].pid == 0 && g->slots[i].respawn_at)
                t = min_deadline(t, g->slots[i].respawn_at);
    }
    if (stopping && !stop_killed)
        t = min_deadline(t, stop_deadline);
    if (watchdog_ms)
        t = min_deadline(t, watchdog_next);
    if (handover)
        t = min_deadline(t, handover_deadline);
    return t;
}

static void reopen_logs(void)
{
    struct gen *g;

    sig_usr1 = 0;
    if (log_reopen() < 0)
        log_error("reopening log files failed: %s", strerror(errno));
    else
        log_info("log files reopened");
    TAILQ_FOREACH(g, &gen_all, link)
        gen_signal(g, SIGUSR1);
}

/* Sleep until a status pipe speaks, a signal arrives or the next deadline. */
static void sleep_once(const sigset_t *sleep_mask)
{
    struct gen *g;
    int n = 0;

    TAILQ_FOREACH(g, &gen_all, link)
        n += g->n_slots;
    struct pollfd *pfds = calloc((size_t)n + 1, sizeof *pfds);
    struct slot **owners = calloc((size_t)n + 1, sizeof *owners);
    if (!pfds || !owners) {
        free(pfds);
        free(owners);
        pfds = NULL;
        owners = NULL;
    }
    n = 0;
    TAILQ_FOREACH(g, &gen_all, link)
        for (int i = 0; pfds && i < g->n_slots; i++)
            if (g->slots[i].ready_fd >= 0) {
                pfds[n].fd = g->slots[i].ready_fd;
                pfds[n].events = POLLIN;
                owners[n++] = &g->slots[i];
            }
    int64_t wake = next_wakeup();
    struct timespec ts, *tsp = NULL;
    if (wake >= 0) {
        int64_t d = wake - clock_mono_ms();
        if (d < 0)
            d = 0;
        ts.tv_sec = d / 1000;
        ts.tv_nsec = (d % 1000) * 1000000;
        tsp = &ts;
    }
    /* Out of memory for the poll set: still sleep, just without the ready
     * pipes (a short timeout then retries). */
    struct timespec brief = { 0, 100000000 };
    if (!pfds && (!tsp || tsp->tv_sec > 0 || tsp->tv_nsec > brief.tv_nsec))
        tsp = &brief;
    if (ppoll(pfds, (nfds_t)n, tsp, sleep_mask) > 0)
        read_status(pfds, owners, n);
    free(pfds);
    free(owners);
}

/* ---- main loop ---------------------------------------------------------- */

static void cleanup(void)
{
    remove_pid_file();
    while (!TAILQ_EMPTY(&gen_all)) {
        struct gen *g = TAILQ_FIRST(&gen_all);
        TAILQ_REMOVE(&gen_all, g, link);
        gen_free(g);
    }
    pending = cur = NULL;
    lsock_close_all();
    free(config_path);
    config_path = NULL;
    httpc_global_cleanup();
}

/* The first generation; 0, or -1 after logging why. */
static int start(struct cfg *cfg)
{
    char err[512];
    struct gen *g = gen_new(cfg);

    if (!g) {
        log_error("out of memory");
        return -1;
    }
    g->id = next_gen_id++;
    g->state = GEN_ACTIVE;
    TAILQ_INSERT_TAIL(&gen_all, g, link);
    cur = g;
    if (proc_resolve_user(cfg, &g->user, err, sizeof err) < 0 ||
        prepare(cfg, err, sizeof err) < 0 || gen_bind(g, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    if (cfg->server.pid_file) {
        if (proc_write_pid_file(cfg->server.pid_file, err, sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
        pid_file = strdup(cfg->server.pid_file);
    }
    log_info("started: %d workers, shutdown_timeout %d s", g->n_slots,
             cfg->server.shutdown_timeout);
    uint64_t wd = sdnotify_watchdog_usec();
    if (wd) {
        watchdog_ms = wd / 2000 ? wd / 2000 : 1;
        watchdog_next = clock_mono_ms();
    }
    metrics_set_generation(g->id);
    for (int i = 0; i < g->n_slots; i++)
        if (gen_spawn(g, i, master_pid) < 0) {
            g->slots[i].started = clock_mono_ms();   /* a failed fork backs off too */
            gen_schedule_respawn(g, i, clock_mono_ms());
        }
    metrics_set_workers(gen_live(cur));
    return 0;
}

int master_run(struct cfg *cfg)
{
    char err[512];
    sigset_t sleep_mask;

    master_pid = getpid();
    log_set_role("presignd");
    struct proc_user u;
    if (proc_resolve_user(cfg, &u, err, sizeof err) < 0 ||
        configure_log(cfg, &u, err, sizeof err) < 0) {
        fprintf(stderr, "presignd: %s\n", err);
        cfg_free(cfg);
        return 1;
    }
    config_path = strdup(cfg->path ? cfg->path : "");
    log_info("presignd %s starting (master pid %ld, configuration %s)", PRESIGND_VERSION,
             (long)master_pid, config_path ? config_path : "?");
    install_signals(&sleep_mask);

    /* Both live in memory every worker inherits: set up before any fork. */
    if (metrics_init(err, sizeof err) < 0 || httpc_global_init(err, sizeof err) < 0) {
        log_error("%s", err);
        cfg_free(cfg);
        free(config_path);
        return 1;
    }
    if (start(cfg) < 0) {
        cleanup();
        return 1;
    }

    unsigned long terms_seen = 0;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (watchdog_ms && now >= watchdog_next) {
            notify("WATCHDOG=1");
            watchdog_next = now + (int64_t)watchdog_ms;
        }
        check_deadlines(now);
        respawn_due(now);
        gc_generations();

        if (!announced_ready && !stopping && gen_all_ready(cur)) {
            announced_ready = true;
            log_info("generation %lu serving with %d workers", cur->id, gen_live(cur));
            notify_ready(NULL);
        }
        if (pending && gen_all_ready(pending))
            promote();
        if (handover && (!old_workers_accepting() || now >= handover_deadline))
            finish_handover();
        if (stopping && gen_total_live() == 0)
            break;
        /* One reload at a time; a HUP meanwhile waits for the next turn. */
        if (sig_hup && !stopping && !pending && !handover) {
            start_reload();
            continue;
        }

        sleep_once(&sleep_mask);
        reloadctl_ack();
        if (sig_chld) {
            sig_chld = 0;
            reap();
        }
        if (sig_quit) {
            stop_now("SIGQUIT");
            break;
        }
        if ((unsigned long)sig_term > terms_seen) {
            unsigned long t = (unsigned long)sig_term;
            if (!stopping && t - terms_seen == 1) {
                terms_seen = t;
                begin_stop();
            } else {
                stop_now("second SIGTERM/SIGINT");
                break;
            }
        }
        if (sig_usr1)
            reopen_logs();
        if (stopping && sig_hup) {
            /* No reload while stopping: answer -R clients at once. */
            sig_hup = 0;
            reloadctl_begin();
            reloadctl_finish(RELOADCTL_REJECTED);
        }
    }

    reloadctl_finish(RELOADCTL_REJECTED);
    log_info("exit (status %d)", exit_code);
    cleanup();
    return exit_code;
}
