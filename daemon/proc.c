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
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
