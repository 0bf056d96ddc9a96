/*
 * proc.c - pid file, users, privileges (see proc.h).
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "worker.h"

const int proc_master_signals[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD };
const size_t proc_n_master_signals = sizeof proc_master_signals / sizeof proc_master_signals[0];

int proc_resolve_user(const struct cfg *cfg, struct proc_user *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cfg->server.user && !cfg->server.group)
        return 0;
    if (geteuid() != 0) {
        /* Not root: nothing to drop; say so once per configuration. */
        log_warn("server.user/server.group ignored: not running as root");
        return 0;
    }
    if (cfg->server.user) {
        struct passwd *pw = getpwnam(cfg->server.user);
        if (!pw) {
            errbuf_set(err, errlen, "unknown server.user \"%s\"", cfg->server.user);
            return -1;
        }
        out->uid = pw->pw_uid;
        out->gid = pw->pw_gid;
        out->name = cfg->server.user;
    }
    if (cfg->server.group) {
        struct group *gr = getgrnam(cfg->server.group);
        if (!gr) {
            errbuf_set(err, errlen, "unknown server.group \"%s\"", cfg->server.group);
            return -1;
        }
        out->gid = gr->gr_gid;
    }
    out->drop = true;
    return 0;
}

void proc_drop_privileges(const struct proc_user *u)
{
    if (!u->drop)
        return;
    int rc = u->name ? initgroups(u->name, u->gid) : setgroups(0, NULL);
    if (rc < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0) {
        log_error("cannot drop privileges to %s:%ld: %s", u->name ? u->name : "root",
                  (long)u->gid, strerror(errno));
        _exit(WORKER_EXIT_CONFIG);
    }
    if (u->uid != 0 && setuid(0) == 0) {
        log_error("privileges could be regained after dropping them; refusing to run");
        _exit(WORKER_EXIT_FATAL);
    }
}

int proc_write_pid_file(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX], buf[32];

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errbuf_set(err, errlen, "pid_file path too long");
        return -1;
    }
    /* A leftover (or planted) file aside is removed, never reused: a new
     * file, not a link to follow. */
    if (unlink(tmp) < 0 && errno != ENOENT) {
        errbuf_set(err, errlen, "cannot write pid file %.300s.tmp: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        errbuf_set(err, errlen, "cannot write pid file %.300s.tmp: %s", path, strerror(errno));
        return -1;
    }
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n || close(fd) < 0) {
        errbuf_set(err, errlen, "cannot write pid file %.300s.tmp: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        errbuf_set(err, errlen, "cannot write pid file %.300s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Could U change entries of the directory ST describes that it does not
 * own? A sticky directory (/tmp) lets it add its own only: a link it adds
 * is refused by O_NOFOLLOW, a file it adds is only a log file it owns. */
static bool writable_by(const struct stat *st, const struct proc_user *u)
{
    if (st->st_uid == u->uid)
        return st->st_mode & S_IWUSR;
    if (st->st_mode & S_ISVTX)
        return false;
    if (st->st_mode & S_IWOTH)
        return true;
    if (!(st->st_mode & S_IWGRP))
        return false;
    if (st->st_gid == u->gid)
        return true;
    gid_t groups[256];
    int n = 256;
    if (u->name && getgrouplist(u->name, u->gid, groups, &n) >= 0)
        for (int i = 0; i < n; i++)
            if (groups[i] == st->st_gid)
                return true;
    return false;
}

static int check_dirs_of(const char *key, const char *path, const struct proc_user *u,
                         char *err, size_t errlen)
{
    char dir[PATH_MAX], real[PATH_MAX];

    if (!path || !*path || strcmp(path, "off") == 0)
        return 0;
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        errbuf_set(err, errlen, "%s: path too long", key);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (!realpath(dir, real)) {
        errbuf_set(err, errlen, "%s: %s: %s", key, dir, strerror(errno));
        return -1;
    }
    for (;;) {
        struct stat st;
        if (stat(real, &st) < 0) {
            errbuf_set(err, errlen, "%s: %s: %s", key, real, strerror(errno));
            return -1;
        }
        if (writable_by(&st, u)) {
            errbuf_set(err, errlen, "%s: %s is writable by %s, the workers' user: the root "
                       "master will not open %s there (a link planted there would be "
                       "followed as root); use a directory only root can write to",
                       key, real, u->name ? u->name : "the workers' group", path);
            return -1;
        }
        if (strcmp(real, "/") == 0)
            return 0;
        char *s = strrchr(real, '/');
        if (s == real)
            s[1] = '\0';
        else
            *s = '\0';
    }
}

int proc_check_file_dirs(const struct cfg *cfg, const struct proc_user *u, char *err,
                         size_t errlen)
{
    if (!u || !u->drop || u->uid == 0 || geteuid() != 0)
        return 0;
    const struct cfg_server *s = &cfg->server;
    if (check_dirs_of("server.log_file", s->log_file, u, err, errlen) < 0 ||
        check_dirs_of("server.access_log", s->access_log, u, err, errlen) < 0 ||
        check_dirs_of("audit.log_file", cfg->audit.log_file, u, err, errlen) < 0 ||
        check_dirs_of("server.pid_file", s->pid_file, u, err, errlen) < 0)
        return -1;
    return 0;
}

void proc_set_limits(const struct cfg *cfg)
{
    struct rlimit rl;

    if (!cfg->server.allow_core_dumps) {
        rl.rlim_cur = rl.rlim_max = 0;
        setrlimit(RLIMIT_CORE, &rl);
    }
    prctl(PR_SET_DUMPABLE, cfg->server.allow_core_dumps ? 1 : 0);
    /* Every client connection costs a descriptor; the hard limit is what
     * the administrator (or systemd's LimitNOFILE) allows. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("cannot raise the descriptor limit to %llu: %s",
                     (unsigned long long)rl.rlim_max, strerror(errno));
    }
}

static bool read_comm(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");

    if (!f)
        return false;
    if (!fgets(out, (int)size, f))
        out[0] = '\0';
    fclose(f);
    return true;
}

bool proc_is_presignd(pid_t pid)
{
    char path[64], comm[64] = "", self[64] = "";

    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    if (!read_comm(path, comm, sizeof comm))
        return errno != ENOENT && errno != ESRCH;   /* no /proc: trust the pid */
    if (!read_comm("/proc/self/comm", self, sizeof self))
        return true;
    return strcmp(comm, self) == 0;
}
