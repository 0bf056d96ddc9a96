/*
 * master.c - the master process (see master.h).
 *
 * Modelled on nginx's ngx_process_cycle.c: the master binds every listen
 * address once and keeps those sockets for its whole life, forks workers that
 * inherit them, and then only supervises. It sleeps in ppoll() with the
 * handled signals unblocked only for the duration of the sleep, so signal
 * handlers merely set flags and all the work happens in ordinary code. The
 * only file descriptors it polls are the workers' "ready" pipes; every other
 * wait (respawn back-off, drain deadline, watchdog) is a ppoll timeout.
 *
 * Workers belong to generations. A reload starts a new generation with the
 * new configuration and, only once every worker of it has reported that it
 * serves, tells the previous generation to drain. Since both generations
 * accept on the same sockets meanwhile, a reload never refuses a connection.
 *
 * The master keeps root (when started as root) like nginx's, so that a
 * reload can bind a new privileged port, write the pid file and reopen log
 * files; the workers, which talk to the network, drop to server.user/group
 * right after fork.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "s3.h"
#include "sdnotify.h"
#include "worker.h"

#define LISTEN_BACKLOG      511
#define READY_TIMEOUT_MS    30000   /* a new generation must serve within this */
#define KILL_GRACE_MS       1000    /* past shutdown_timeout, before SIGKILL */
#define BACKOFF_MIN_MS      100
#define BACKOFF_MAX_MS      10000
#define QUICK_DEATH_MS      3000    /* a worker dying younger than this backs off */
#define MAX_SENDERS         32      /* -R clients waiting for one reload */
#define ADDR_KEY_LEN        80

/* One bound socket, keyed by its numeric address so that a reload that keeps
 * an address (however it is spelled) keeps the very same socket. */
struct lsock {
    char key[ADDR_KEY_LEN];     /* "127.0.0.1:8000", "[::1]:8000" */
    int fd;
    bool metrics;
};

struct slot {
    pid_t pid;                  /* 0: no process */
    int ready_fd;               /* master's end of the ready pipe, -1 closed */
    bool ready;
    bool config_exit;           /* exited WORKER_EXIT_CONFIG: never respawn */
    int64_t started;            /* monotonic ms */
    int64_t respawn_at;         /* monotonic ms, 0 = nothing scheduled */
    int backoff_ms;
};

enum gen_state {
    GEN_STARTING,               /* forked, waiting for every worker to be ready */
    GEN_ACTIVE,                 /* the current generation */
    GEN_DRAINING,               /* replaced (or failed): TERM sent, waiting */
};

struct gen {
    unsigned long id;
    struct cfg *cfg;
    int *fds;                   /* listen sockets this generation serves */
    size_t n_fds;
    int metrics_fd;             /* -1: /metrics on the main listeners */
    uid_t uid;                  /* workers drop to these when drop_privs */
    gid_t gid;
    bool drop_privs;
    struct slot *slots;
    int n_slots;
    enum gen_state state;
    int64_t deadline;           /* STARTING: ready by; DRAINING: SIGKILL at */
    bool killed;
    struct gen *next;
};

static struct lsock *lsocks;
static size_t n_lsocks;

static struct gen *gens;        /* every generation with a live worker */
static struct gen *cur;         /* the one serving */
static struct gen *pending;     /* a reload's new generation, not yet ready */
static unsigned long next_gen_id = 1;

static char *config_path;
static char *pid_file;          /* the one we wrote, to remove at exit */
static pid_t master_pid;
static bool announced_ready;    /* READY=1 sent for the first generation */
static bool stopping;
static int64_t stop_deadline;
static bool stop_killed;
static int exit_code;

static pid_t reply_to[MAX_SENDERS];  /* -R clients of the reload in progress */
static int n_reply_to;

static uint64_t watchdog_ms;
static int64_t watchdog_next;

/* Set by the signal handlers, read by the main loop (the handled signals are
 * blocked everywhere except inside ppoll, so the loop sees a stable view). */
static volatile sig_atomic_t sig_hup, sig_term, sig_quit, sig_usr1, sig_chld;
static volatile sig_atomic_t hup_senders[MAX_SENDERS];
static volatile sig_atomic_t n_hup_senders;
static int n_hup_acked;         /* hup_senders already told "accepted" */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- signals ------------------------------------------------------------ */

static void on_hup(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    sig_hup = 1;
    /* A synchronous reload request (presignd -R): remember whom to answer. */
    if (si && si->si_code == SI_QUEUE && si->si_value.sival_int == MASTER_RELOAD_MAGIC
        && n_hup_senders < MAX_SENDERS) {
        for (int i = 0; i < n_hup_senders; i++)
            if (hup_senders[i] == si->si_pid)
                return;
        hup_senders[n_hup_senders++] = si->si_pid;
    }
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

static const int handled_signals[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD };

static void install_signals(sigset_t *sleep_mask)
{
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigaddset(&block, handled_signals[i]);
    sigprocmask(SIG_BLOCK, &block, sleep_mask);
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigdelset(sleep_mask, handled_signals[i]);

    struct sigaction sa;
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

/* ---- listen sockets ----------------------------------------------------- */

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

static struct lsock *lsock_find(const char *key)
{
    for (size_t i = 0; i < n_lsocks; i++)
        if (strcmp(lsocks[i].key, key) == 0)
            return &lsocks[i];
    return NULL;
}

static int open_listener(const struct addrinfo *ai, const char *key, char *err, size_t errlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket() for %s failed: %s", key, strerror(errno));
        return -1;
    }
    int one = 1;
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
    snprintf(err, errlen, "cannot listen on %s: %s", key, strerror(errno));
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

/*
 * Resolve L and make sure every address it names is bound, reusing sockets
 * already open. Appends the fds to FDS. An address of several results (e.g.
 * "localhost") is fine when at least one of them can be bound.
 */
static int bind_listen(const struct cfg_listen *l, bool metrics, int **fds, size_t *n,
                       char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    const char *host = l->host && *l->host ? l->host : NULL;
    int rc = getaddrinfo(host, l->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", l->text,
                 gai_strerror(rc));
        return -1;
    }
    int bound = 0;
    char first_err[256] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char key[ADDR_KEY_LEN];
        addr_key(ai->ai_addr, ai->ai_addrlen, key, sizeof key);
        struct lsock *ls = lsock_find(key);
        if (ls && ls->metrics != metrics) {
            snprintf(err, errlen, "%s is both a listen and a metrics_listen address", key);
            freeaddrinfo(res);
            return -1;
        }
        if (!ls) {
            char e[256];
            int fd = open_listener(ai, key, e, sizeof e);
            if (fd < 0) {
                if (!first_err[0])
                    snprintf(first_err, sizeof first_err, "%s", e);
                continue;
            }
            struct lsock *nl = realloc(lsocks, (n_lsocks + 1) * sizeof *nl);
            if (!nl) {
                close(fd);
                snprintf(err, errlen, "out of memory");
                freeaddrinfo(res);
                return -1;
            }
            lsocks = nl;
            ls = &lsocks[n_lsocks++];
            snprintf(ls->key, sizeof ls->key, "%s", key);
            ls->fd = fd;
            ls->metrics = metrics;
            log_info("listening on %s%s", key, metrics ? " (metrics)" : "");
        }
        if (add_fd(fds, n, ls->fd) < 0) {
            snprintf(err, errlen, "out of memory");
            freeaddrinfo(res);
            return -1;
        }
        bound++;
    }
    freeaddrinfo(res);
    if (!bound) {
        snprintf(err, errlen, "%s", first_err[0] ? first_err : "no address to listen on");
        return -1;
    }
    return 0;
}

/* Bind (or reuse) everything CFG listens on, into G's fds. */
static int bind_for(struct gen *g, char *err, size_t errlen)
{
    for (size_t i = 0; i < g->cfg->n_listen; i++)
        if (bind_listen(&g->cfg->listen[i], false, &g->fds, &g->n_fds, err, errlen) < 0)
            return -1;
    g->metrics_fd = -1;
    if (g->cfg->metrics_listen) {
        int *mf = NULL;
        size_t nm = 0;
        int rc = bind_listen(g->cfg->metrics_listen, true, &mf, &nm, err, errlen);
        if (rc == 0)
            g->metrics_fd = mf[0];   /* the worker serves one metrics socket */
        free(mf);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static bool gen_uses_fd(const struct gen *g, int fd)
{
    if (g->metrics_fd == fd)
        return true;
    for (size_t i = 0; i < g->n_fds; i++)
        if (g->fds[i] == fd)
            return true;
    return false;
}

/* Close the sockets no generation uses any more: an address dropped by a
 * reload closes only once the workers that served it are gone. */
static void gc_listeners(void)
{
    for (size_t i = 0; i < n_lsocks;) {
        bool used = false;
        for (struct gen *g = gens; g && !used; g = g->next)
            used = gen_uses_fd(g, lsocks[i].fd);
        if (pending && !used)
            used = gen_uses_fd(pending, lsocks[i].fd);
        if (used) {
            i++;
            continue;
        }
        log_info("closing listen socket %s", lsocks[i].key);
        close(lsocks[i].fd);
        lsocks[i] = lsocks[--n_lsocks];
    }
}

/* ---- users, pid file, logs ---------------------------------------------- */

static int resolve_user(struct gen *g, char *err, size_t errlen)
{
    g->drop_privs = false;
    if (!g->cfg->user && !g->cfg->group)
        return 0;
    if (geteuid() != 0) {
        /* Not root: nothing to drop; say so once per configuration. */
        log_warn("server.user/server.group ignored: not running as root");
        return 0;
    }
    struct passwd *pw = NULL;
    if (g->cfg->user) {
        errno = 0;
        pw = getpwnam(g->cfg->user);
        if (!pw) {
            snprintf(err, errlen, "unknown server.user \"%s\"", g->cfg->user);
            return -1;
        }
        g->uid = pw->pw_uid;
        g->gid = pw->pw_gid;
    } else {
        g->uid = 0;
        g->gid = 0;
    }
    if (g->cfg->group) {
        struct group *gr = getgrnam(g->cfg->group);
        if (!gr) {
            snprintf(err, errlen, "unknown server.group \"%s\"", g->cfg->group);
            return -1;
        }
        g->gid = gr->gr_gid;
    }
    g->drop_privs = true;
    return 0;
}

/* Workers reopen the log files themselves on USR1, as the unprivileged user:
 * give them the files the master (root) created, as nginx does. */
static void chown_logs(const struct gen *g)
{
    if (!g || !g->drop_privs || !g->cfg->user)
        return;
    if (g->cfg->log_file && chown(g->cfg->log_file, g->uid, g->gid) < 0)
        log_warn("cannot chown %s: %s", g->cfg->log_file, strerror(errno));
    if (g->cfg->access_log && strcmp(g->cfg->access_log, "off") != 0
        && chown(g->cfg->access_log, g->uid, g->gid) < 0)
        log_warn("cannot chown %s: %s", g->cfg->access_log, strerror(errno));
}

static enum log_level to_log_level(enum cfg_log_level l)
{
    switch (l) {
    case CFG_LOG_DEBUG: return LOG_LVL_DEBUG;
    case CFG_LOG_WARN:  return LOG_LVL_WARN;
    case CFG_LOG_ERROR: return LOG_LVL_ERROR;
    default:            return LOG_LVL_INFO;
    }
}

static int configure_log(const struct cfg *cfg, char *err, size_t errlen)
{
    return log_configure(cfg->log_file, cfg->access_log, to_log_level(cfg->log_level),
                         err, errlen);
}

static int write_pid_file(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "pid_file path too long");
        return -1;
    }
    /* Written aside and renamed, so a reader never sees a half-written pid. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write pid file %.300s.tmp: %s", path, strerror(errno));
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n || close(fd) < 0) {
        snprintf(err, errlen, "cannot write pid file %.300s.tmp: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot write pid file %.300s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
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

/* ---- systemd ------------------------------------------------------------ */

static int live_workers(const struct gen *g)
{
    int n = 0;
    for (int i = 0; g && i < g->n_slots; i++)
        if (g->slots[i].pid > 0)
            n++;
    return n;
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
             cur->id, live_workers(cur), extra ? "; " : "", extra ? extra : "",
             (long)master_pid);
    notify(buf);
}

/*
 * The -R client may be gone (killed by systemd's timeout) and its pid reused;
 * a real-time signal's default action is to terminate, so answer only a
 * process that is still a presignd.
 */
static bool is_presignd(pid_t pid)
{
    char path[64], comm[64] = "", self[64] = "";
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno != ENOENT && errno != ESRCH;   /* no /proc: trust the pid */
    if (!fgets(comm, sizeof comm, f))
        comm[0] = '\0';
    fclose(f);
    f = fopen("/proc/self/comm", "re");
    if (!f)
        return true;
    if (!fgets(self, sizeof self, f))
        self[0] = '\0';
    fclose(f);
    return strcmp(comm, self) == 0;
}

static void answer(pid_t pid, int value)
{
    if (!is_presignd(pid)) {
        log_warn("reload requester pid %ld is gone; not answering it", (long)pid);
        return;
    }
    union sigval v = { .sival_int = value };
    if (sigqueue(pid, MASTER_RELOAD_REPLY_SIGNAL, v) < 0)
        log_warn("cannot answer reload request of pid %ld: %s", (long)pid, strerror(errno));
}

static void reply_reload(int outcome)
{
    for (int i = 0; i < n_reply_to; i++)
        answer(reply_to[i], outcome);
    n_reply_to = 0;
}

/* Tell new -R clients at once that their HUP arrived (see master.h). */
static void ack_reload_requests(void)
{
    for (int i = n_hup_acked; i < n_hup_senders; i++)
        answer(hup_senders[i], MASTER_RELOAD_ACCEPTED);
    n_hup_acked = n_hup_senders;
}

/* ---- workers ------------------------------------------------------------ */

static void update_worker_gauge(void)
{
    metrics_set_workers(live_workers(cur));
}

/* In the child: keep only what this worker needs. */
static void child_setup(const struct gen *g)
{
    for (size_t i = 0; i < n_lsocks; i++)
        if (!gen_uses_fd(g, lsocks[i].fd))
            close(lsocks[i].fd);
    for (struct gen *o = gens; o; o = o->next)
        for (int i = 0; i < o->n_slots; i++)
            if (o->slots[i].ready_fd >= 0)
                close(o->slots[i].ready_fd);
    if (pending && pending != g)
        for (int i = 0; i < pending->n_slots; i++)
            if (pending->slots[i].ready_fd >= 0)
                close(pending->slots[i].ready_fd);

    /* Only the master talks to systemd. */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");

    /* The master's handlers mean nothing here; the signals stay blocked until
     * the worker has its own libevent handlers in place. */
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        signal(handled_signals[i], SIG_DFL);

    if (g->drop_privs) {
        const char *user = g->cfg->user;
        int rc = user ? initgroups(user, g->gid) : setgroups(0, NULL);
        if (rc < 0 || setgid(g->gid) < 0 || setuid(g->uid) < 0) {
            log_error("cannot drop privileges to %s:%ld: %s", user ? user : "root",
                      (long)g->gid, strerror(errno));
            _exit(WORKER_EXIT_CONFIG);
        }
        if (g->uid != 0 && setuid(0) == 0) {
            log_error("privileges could be regained after dropping them; refusing to run");
            _exit(WORKER_EXIT_FATAL);
        }
    }
    /* After any setuid (which clears it): die with the master. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(WORKER_EXIT_FATAL);
}

static int spawn(struct gen *g, int i)
{
    struct slot *s = &g->slots[i];
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        log_set_role("presignd-worker");
        close(p[0]);
        child_setup(g);
        int rc = worker_main(g->cfg, g->fds, (int)g->n_fds, g->metrics_fd, g->id, p[1]);
        exit(rc);
    }
    close(p[1]);
    s->pid = pid;
    s->ready_fd = p[0];
    s->ready = false;
    s->started = now_ms();
    s->respawn_at = 0;
    log_info("worker %ld started (generation %lu)", (long)pid, g->id);
    return 0;
}

static struct gen *gen_new(struct cfg *cfg)
{
    struct gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = cfg;
    g->metrics_fd = -1;
    g->n_slots = cfg->workers > 0 ? cfg->workers : 1;
    g->slots = calloc((size_t)g->n_slots, sizeof *g->slots);
    if (!g->slots) {
        free(g);
        return NULL;
    }
    for (int i = 0; i < g->n_slots; i++)
        g->slots[i].ready_fd = -1;
    return g;
}

static void gen_free(struct gen *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_slots; i++)
        if (g->slots[i].ready_fd >= 0)
            close(g->slots[i].ready_fd);
    cfg_free(g->cfg);
    free(g->fds);
    free(g->slots);
    free(g);
}

static void gen_link(struct gen *g)
{
    g->next = gens;
    gens = g;
}

static void gen_unlink(struct gen *g)
{
    for (struct gen **pp = &gens; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            return;
        }
}

static void gen_signal(struct gen *g, int sig)
{
    for (int i = 0; i < g->n_slots; i++)
        if (g->slots[i].pid > 0)
            kill(g->slots[i].pid, sig);
}

static void gen_cancel_respawns(struct gen *g)
{
    for (int i = 0; i < g->n_slots; i++)
        g->slots[i].respawn_at = 0;
}

static int64_t kill_deadline(const struct cfg *cfg)
{
    return now_ms() + (int64_t)cfg->shutdown_timeout * 1000 + KILL_GRACE_MS;
}

/* Tell G to finish its in-flight requests and exit. */
static void gen_drain(struct gen *g, const struct cfg *timeouts)
{
    g->state = GEN_DRAINING;
    g->deadline = kill_deadline(timeouts);
    gen_cancel_respawns(g);
    gen_signal(g, SIGTERM);
}

/* Drop generations that are neither current nor starting and have no
 * worker left, then the sockets only they used. */
static void gc_generations(void)
{
    struct gen *g = gens;
    while (g) {
        struct gen *nx = g->next;
        if (g != cur && g != pending && live_workers(g) == 0) {
            log_info("generation %lu is gone", g->id);
            gen_unlink(g);
            gen_free(g);
        }
        g = nx;
    }
    gc_listeners();
}

/* ---- reload ------------------------------------------------------------- */

static void reload_failed(const char *why)
{
    log_error("reload rejected: %s; still serving generation %lu", why, cur->id);
    metrics_reload(false);
    char err[256];
    if (configure_log(cur->cfg, err, sizeof err) < 0)
        log_warn("%s", err);
    char buf[512];
    snprintf(buf, sizeof buf, "reload rejected (%s), see the log", why);
    notify_ready(buf);
    reply_reload(MASTER_RELOAD_REJECTED);
}

static void start_reload(void)
{
    /* Take over the -R clients of this HUP. */
    ack_reload_requests();
    for (int i = 0; i < n_hup_senders && n_reply_to < MAX_SENDERS; i++)
        reply_to[n_reply_to++] = hup_senders[i];
    n_hup_senders = 0;
    n_hup_acked = 0;
    sig_hup = 0;

    char buf[128];
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)now_usec());
    notify(buf);
    log_info("reloading configuration from %s", config_path);

    struct cfg_errors errs = { 0 };
    struct cfg *ncfg = cfg_load(config_path, &errs);
    if (!ncfg) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("%s", errs.lines[i]);
        cfg_errors_free(&errs);
        reload_failed("invalid configuration");
        return;
    }
    cfg_errors_free(&errs);

    char err[512];
    struct gen *g = gen_new(ncfg);
    if (!g) {
        cfg_free(ncfg);
        reload_failed("out of memory");
        return;
    }
    if (resolve_user(g, err, sizeof err) < 0 || configure_log(ncfg, err, sizeof err) < 0) {
        gen_free(g);
        reload_failed(err);
        return;
    }
    chown_logs(g);
    if (bind_for(g, err, sizeof err) < 0) {
        gen_free(g);
        gc_listeners();
        reload_failed(err);
        return;
    }
    g->id = next_gen_id++;
    g->state = GEN_STARTING;
    g->deadline = now_ms() + READY_TIMEOUT_MS;
    pending = g;
    for (int i = 0; i < g->n_slots; i++)
        if (spawn(g, i) < 0) {
            /* Fork failing is the machine's state, not the config's. */
            gen_signal(g, SIGKILL);
            pending = NULL;
            gen_link(g);
            g->state = GEN_DRAINING;
            g->deadline = now_ms();
            reload_failed("cannot start the new workers");
            return;
        }
}

/* server.pid_file may change (or go) with a reload. */
static void update_pid_file(const struct cfg *cfg)
{
    char err[512];
    if (cfg->pid_file && (!pid_file || strcmp(cfg->pid_file, pid_file) != 0)) {
        if (write_pid_file(cfg->pid_file, err, sizeof err) < 0) {
            log_error("%s", err);
            return;
        }
        if (pid_file)
            unlink(pid_file);
        free(pid_file);
        pid_file = strdup(cfg->pid_file);
    } else if (!cfg->pid_file && pid_file) {
        unlink(pid_file);
        free(pid_file);
        pid_file = NULL;
    }
}

/* A reload's new generation serves: it becomes current, the old one drains. */
static void promote(void)
{
    struct gen *g = pending, *old = cur;
    pending = NULL;
    g->state = GEN_ACTIVE;
    gen_link(g);
    cur = g;
    if (old) {
        gen_drain(old, g->cfg);
        log_info("reload ok: generation %lu serving with %d workers; draining generation %lu",
                 g->id, live_workers(g), old->id);
    }
    update_pid_file(g->cfg);
    announced_ready = true;
    metrics_reload(true);
    metrics_set_generation(g->id);
    update_worker_gauge();
    notify_ready(NULL);
    reply_reload(MASTER_RELOAD_OK);
}

static void abort_pending(const char *why)
{
    struct gen *g = pending;
    pending = NULL;
    gen_link(g);
    gen_drain(g, g->cfg);
    reload_failed(why);
}

/* ---- supervision -------------------------------------------------------- */

static void begin_stop(void);

static bool find_worker(pid_t pid, struct gen **gp, int *ip)
{
    for (struct gen *g = gens; g; g = g->next)
        for (int i = 0; i < g->n_slots; i++)
            if (g->slots[i].pid == pid) {
                *gp = g;
                *ip = i;
                return true;
            }
    if (pending)
        for (int i = 0; i < pending->n_slots; i++)
            if (pending->slots[i].pid == pid) {
                *gp = pending;
                *ip = i;
                return true;
            }
    return false;
}

static void schedule_respawn(struct gen *g, int i, int64_t now)
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

static void reap(void)
{
    int status;
    pid_t pid;
    int64_t now = now_ms();
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct gen *g;
        int i;
        if (!find_worker(pid, &g, &i))
            continue;
        struct slot *s = &g->slots[i];
        bool config = WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_CONFIG;
        if (WIFEXITED(status))
            log_info("worker %ld (generation %lu) exited with status %d", (long)pid, g->id,
                     WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            log_warn("worker %ld (generation %lu) killed by signal %d (%s)", (long)pid, g->id,
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        s->pid = 0;
        if (s->ready_fd >= 0) {
            close(s->ready_fd);
            s->ready_fd = -1;
        }
        s->ready = false;

        if (stopping || g->state == GEN_DRAINING)
            continue;
        if (g == pending) {
            abort_pending(config ? "the new workers cannot run with this configuration"
                                 : "a new worker exited before it was ready");
            continue;
        }
        /* The current generation lost a worker. */
        if (config) {
            s->config_exit = true;
            log_error("worker %ld cannot run with this configuration (exit %d); "
                      "not respawning it", (long)pid, WORKER_EXIT_CONFIG);
            if (!announced_ready && !stopping) {
                /* At start nothing serves yet: fail the start (systemd
                 * sees it) rather than run short of workers for ever. */
                log_error("the workers cannot run with this configuration; exiting");
                exit_code = 1;
                begin_stop();
            }
            continue;
        }
        schedule_respawn(g, i, now);
    }
    update_worker_gauge();
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
            if (spawn(cur, i) == 0) {
                metrics_worker_restart();
            } else {
                s->started = now;   /* a failed fork backs off too */
                schedule_respawn(cur, i, now);
            }
        }
    }
    update_worker_gauge();
}

static bool gen_all_ready(const struct gen *g)
{
    for (int i = 0; i < g->n_slots; i++)
        if (!g->slots[i].ready)
            return false;
    return true;
}

/* Read the ready bytes: one byte = serving; EOF = died first (CHLD follows). */
static void read_ready(const struct pollfd *pfds, struct slot **owners, int n)
{
    for (int k = 0; k < n; k++) {
        if (!pfds[k].revents)
            continue;
        struct slot *s = owners[k];
        char c;
        ssize_t r = read(s->ready_fd, &c, 1);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r == 1)
            s->ready = true;
        close(s->ready_fd);
        s->ready_fd = -1;
    }
}

/* On a stop, the sockets go as soon as the workers stop accepting: a client
 * then gets a clean "connection refused" (and a load balancer moves on) rather
 * than a connection queued in the backlog and reset when the master exits. */
static void close_listeners(void)
{
    for (size_t i = 0; i < n_lsocks; i++)
        close(lsocks[i].fd);
    n_lsocks = 0;
}

static void begin_stop(void)
{
    stopping = true;
    close_listeners();
    notify("STOPPING=1\nSTATUS=stopping");
    const struct cfg *c = cur ? cur->cfg : pending->cfg;
    log_info("stopping: draining workers (up to %d s)", c->shutdown_timeout);
    stop_deadline = kill_deadline(c);
    for (struct gen *g = gens; g; g = g->next) {
        gen_cancel_respawns(g);
        gen_signal(g, SIGTERM);
    }
    if (pending) {
        gen_signal(pending, SIGTERM);
        gen_link(pending);
        pending->state = GEN_DRAINING;
        pending = NULL;
        reply_reload(MASTER_RELOAD_REJECTED);
    }
}

static void kill_all(void)
{
    for (struct gen *g = gens; g; g = g->next)
        gen_signal(g, SIGKILL);
    if (pending)
        gen_signal(pending, SIGKILL);
}

static int total_live(void)
{
    int n = live_workers(pending);
    for (struct gen *g = gens; g; g = g->next)
        n += live_workers(g);
    return n;
}

/* Wait (bounded: a process stuck in the kernel must not hang the master's
 * exit) for killed workers, so that no orphan outlives the master. */
static void reap_all_blocking(void)
{
    int64_t until = now_ms() + 5000;
    while (total_live() > 0 && now_ms() < until) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == ECHILD)
            break;
        if (pid > 0) {
            struct gen *g;
            int i;
            if (find_worker(pid, &g, &i))
                g->slots[i].pid = 0;
            continue;
        }
        struct timespec ts = { 0, 5 * 1000000 };
        nanosleep(&ts, NULL);
    }
}

static void check_deadlines(int64_t now)
{
    for (struct gen *g = gens; g; g = g->next)
        if (g->state == GEN_DRAINING && !g->killed && now >= g->deadline
            && live_workers(g) > 0) {
            log_warn("generation %lu did not drain in time; killing %d workers",
                     g->id, live_workers(g));
            gen_signal(g, SIGKILL);
            g->killed = true;
        }
    if (pending && now >= pending->deadline)
        abort_pending("the new workers did not become ready in time");
    if (stopping && !stop_killed && now >= stop_deadline && total_live() > 0) {
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
    int64_t t = -1;
    for (struct gen *g = gens; g; g = g->next) {
        if (g->state == GEN_DRAINING && !g->killed)
            t = min_deadline(t, g->deadline);
        for (int i = 0; g == cur && !stopping && i < g->n_slots; i++)
            if (g->slots[i].pid == 0 && g->slots[i].respawn_at)
                t = min_deadline(t, g->slots[i].respawn_at);
    }
    if (pending)
        t = min_deadline(t, pending->deadline);
    if (stopping && !stop_killed)
        t = min_deadline(t, stop_deadline);
    if (watchdog_ms)
        t = min_deadline(t, watchdog_next);
    return t;
}

static void reopen_logs(void)
{
    sig_usr1 = 0;
    if (log_reopen() < 0)
        log_error("reopening log files failed: %s", strerror(errno));
    else
        log_info("log files reopened");
    chown_logs(cur);
    for (struct gen *g = gens; g; g = g->next)
        gen_signal(g, SIGUSR1);
    if (pending)
        gen_signal(pending, SIGUSR1);
}

/* ---- main loop ---------------------------------------------------------- */

static void cleanup(void)
{
    remove_pid_file();
    while (gens) {
        struct gen *g = gens;
        gens = g->next;
        gen_free(g);
    }
    gen_free(pending);
    pending = NULL;
    cur = NULL;
    for (size_t i = 0; i < n_lsocks; i++)
        close(lsocks[i].fd);
    free(lsocks);
    lsocks = NULL;
    n_lsocks = 0;
    free(config_path);
    config_path = NULL;
    curl_global_cleanup();   /* pairs with s3_global_init() */
}

int master_run(struct cfg *cfg)
{
    char err[512];
    master_pid = getpid();
    log_set_role("presignd");
    if (configure_log(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "presignd: %s\n", err);
        cfg_free(cfg);
        return 1;
    }
    config_path = strdup(cfg->path ? cfg->path : "");
    log_info("presignd %s starting (master pid %ld, configuration %s)", PRESIGND_VERSION,
             (long)master_pid, config_path ? config_path : "?");

    sigset_t sleep_mask;
    install_signals(&sleep_mask);

    /* Both live in memory every worker inherits: set up before any fork. */
    if (metrics_init() < 0) {
        log_error("cannot set up shared metrics: %s", strerror(errno));
        cfg_free(cfg);
        free(config_path);
        return 1;
    }
    if (s3_global_init(err, sizeof err) < 0) {
        log_error("%s", err);
        cfg_free(cfg);
        free(config_path);
        return 1;
    }

    struct gen *g = gen_new(cfg);
    if (!g) {
        log_error("out of memory");
        cfg_free(cfg);
        cleanup();
        return 1;
    }
    if (resolve_user(g, err, sizeof err) < 0 || bind_for(g, err, sizeof err) < 0) {
        log_error("%s", err);
        gen_free(g);
        cleanup();
        return 1;
    }
    chown_logs(g);
    if (cfg->pid_file) {
        if (write_pid_file(cfg->pid_file, err, sizeof err) < 0) {
            log_error("%s", err);
            gen_free(g);
            cleanup();
            return 1;
        }
        pid_file = strdup(cfg->pid_file);
    }
    log_info("started: %d workers, shutdown_timeout %d s", g->n_slots,
             cfg->shutdown_timeout);

    uint64_t wd = sdnotify_watchdog_usec();
    if (wd) {
        watchdog_ms = wd / 2000 ? wd / 2000 : 1;
        watchdog_next = now_ms();
    }

    g->id = next_gen_id++;
    g->state = GEN_ACTIVE;
    gen_link(g);
    cur = g;
    metrics_set_generation(g->id);
    for (int i = 0; i < g->n_slots; i++)
        if (spawn(g, i) < 0) {
            g->slots[i].started = now_ms();   /* a failed fork backs off too */
            schedule_respawn(g, i, now_ms());
        }
    update_worker_gauge();

    unsigned long terms_seen = 0;
    for (;;) {
        int64_t now = now_ms();
        if (watchdog_ms && now >= watchdog_next) {
            notify("WATCHDOG=1");
            watchdog_next = now + (int64_t)watchdog_ms;
        }
        check_deadlines(now);
        respawn_due(now);
        gc_generations();

        if (!announced_ready && !stopping && gen_all_ready(cur)) {
            announced_ready = true;
            log_info("generation %lu serving with %d workers", cur->id, live_workers(cur));
            notify_ready(NULL);
        }
        if (pending && gen_all_ready(pending))
            promote();
        if (stopping && total_live() == 0)
            break;
        /* One reload at a time; a HUP meanwhile waits for the next turn. */
        if (sig_hup && !stopping && !pending) {
            start_reload();
            continue;
        }

        int n = 0;
        for (struct gen *o = gens; o; o = o->next)
            n += o->n_slots;
        if (pending)
            n += pending->n_slots;
        struct pollfd *pfds = calloc((size_t)n + 1, sizeof *pfds);
        struct slot **owners = calloc((size_t)n + 1, sizeof *owners);
        if (!pfds || !owners) {
            free(pfds);
            free(owners);
            pfds = NULL;
            owners = NULL;
        }
        n = 0;
        for (struct gen *o = gens; pfds && o; o = o->next)
            for (int i = 0; i < o->n_slots; i++)
                if (o->slots[i].ready_fd >= 0) {
                    pfds[n].fd = o->slots[i].ready_fd;
                    pfds[n].events = POLLIN;
                    owners[n++] = &o->slots[i];
                }
        for (int i = 0; pfds && pending && i < pending->n_slots; i++)
            if (pending->slots[i].ready_fd >= 0) {
                pfds[n].fd = pending->slots[i].ready_fd;
                pfds[n].events = POLLIN;
                owners[n++] = &pending->slots[i];
            }

        int64_t wake = next_wakeup();
        struct timespec ts, *tsp = NULL;
        if (wake >= 0) {
            int64_t d = wake - now_ms();
            if (d < 0)
                d = 0;
            ts.tv_sec = d / 1000;
            ts.tv_nsec = (d % 1000) * 1000000;
            tsp = &ts;
        }
        /* Out of memory for the poll set: still sleep, just without the
         * ready pipes (a short timeout then retries). */
        struct timespec brief = { 0, 100000000 };
        if (!pfds && (!tsp || tsp->tv_sec > 0 || tsp->tv_nsec > brief.tv_nsec))
            tsp = &brief;
        int rc = ppoll(pfds, (nfds_t)n, tsp, &sleep_mask);
        if (rc > 0)
            read_ready(pfds, owners, n);
        free(pfds);
        free(owners);
        ack_reload_requests();

        if (sig_chld) {
            sig_chld = 0;
            reap();
        }
        if (sig_quit) {
            log_info("immediate stop (SIGQUIT)");
            if (!stopping)
                notify("STOPPING=1\nSTATUS=stopping");
            stopping = true;
            kill_all();
            reap_all_blocking();
            break;
        }
        if ((unsigned long)sig_term > terms_seen) {
            unsigned long t = (unsigned long)sig_term;
            if (!stopping && t - terms_seen == 1) {
                begin_stop();
            } else {
                log_info("immediate stop (second SIGTERM/SIGINT)");
                if (!stopping)
                    notify("STOPPING=1\nSTATUS=stopping");
                stopping = true;
                kill_all();
                reap_all_blocking();
                terms_seen = t;
                break;
            }
            terms_seen = t;
        }
        if (sig_usr1)
            reopen_logs();
        if (stopping && sig_hup) {
            /* No reload while stopping: answer -R clients at once. */
            sig_hup = 0;
            for (int i = 0; i < n_hup_senders && n_reply_to < MAX_SENDERS; i++)
                reply_to[n_reply_to++] = hup_senders[i];
            n_hup_senders = 0;
            n_hup_acked = 0;
            reply_reload(MASTER_RELOAD_REJECTED);
        }
    }

    reply_reload(MASTER_RELOAD_REJECTED);
    log_info("exit (status %d)", exit_code);
    cleanup();
    return exit_code;
}

/* ---- presignd -R PID ------------------------------------------------------ */

/*
 * The client side of the synchronous reload used by the unit's ExecReload
 * (systemd 252 has no Type=notify-reload): block the reply signal so it
 * queues instead of killing us, send SIGHUP with the magic value via
 * sigqueue() (again every second until the master says it got it), then wait
 * for the outcome. Exit status: 0 when the new configuration serves, 1 when
 * it was rejected (the master logged why), when the master cannot be
 * signalled, or when no answer came within TIMEOUT_SEC (main.c: 120 s).
 */
static int send_reload(pid_t pid)
{
    union sigval v = { .sival_int = MASTER_RELOAD_MAGIC };
    if (sigqueue(pid, SIGHUP, v) < 0) {
        fprintf(stderr, "presignd: cannot signal pid %ld: %s\n", (long)pid, strerror(errno));
        return -1;
    }
    return 0;
}

static int64_t ms_left(const struct timespec *end)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

int master_reload_request(pid_t pid, int timeout_sec)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, MASTER_RELOAD_REPLY_SIGNAL);
    sigprocmask(SIG_BLOCK, &set, NULL);

    if (send_reload(pid) < 0)
        return 1;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_sec;
    bool accepted = false;
    int64_t resend_at = ms_left(&end) - 1000;
    for (;;) {
        int64_t left = ms_left(&end);
        if (left <= 0)
            break;
        /* Until the master says it got our HUP, wake up every second to send
         * it again: it may have been merged into a HUP already pending. */
        int64_t wait = accepted ? left : left - resend_at;
        if (wait <= 0) {
            if (send_reload(pid) < 0)
                return 1;
            resend_at = left - 1000;
            continue;
        }
        struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
        siginfo_t si;
        int s = sigtimedwait(&set, &si, &ts);
        if (s < 0)
            continue;   /* EINTR, or EAGAIN: time to resend or to give up */
        if (si.si_pid != pid)
            continue;   /* not our master's answer */
        switch (si.si_value.sival_int) {
        case MASTER_RELOAD_ACCEPTED:
            accepted = true;
            break;
        case MASTER_RELOAD_OK:
            return 0;
        default:
            fprintf(stderr, "reload rejected: see the log\n");
            return 1;
        }
    }
    fprintf(stderr, "presignd: no answer to the reload of pid %ld within %d s\n",
            (long)pid, timeout_sec);
    return 1;
}
