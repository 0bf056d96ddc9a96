/*
 * proc.h - process matters of the master and its workers: the pid file,
 * the signals the master handles, the user and group the workers run as
 * and the dropping of privileges,
 * and telling whether a pid is (still) a presignd.
 */
#ifndef PRESIGND_PROC_H
#define PRESIGND_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cfg;

/* The signals the master handles with its own handlers; a forked worker
 * sets them back to default (and blocked, as forked) until its own
 * handlers are in place. */
extern const int proc_master_signals[];
extern const size_t proc_n_master_signals;

/* Whom the workers run as: DROP false means "as the master". */
struct proc_user {
    bool drop;
    const char *name;       /* server.user, NULL: root with another group */
    uid_t uid;
    gid_t gid;
};

/* Resolve server.user/server.group of CFG. Not root: nothing to drop (a
 * warning says so). 0, or -1 with ERR filled (unknown user or group). */
int proc_resolve_user(const struct cfg *cfg, struct proc_user *out, char *err, size_t errlen);

/* In a forked worker: become U for good (supplementary groups, gid, uid,
 * and a check that root cannot be regained). Exits the process on failure. */
void proc_drop_privileges(const struct proc_user *u);

/* Write our pid to PATH (aside, then renamed: a reader never sees half a
 * pid). 0, or -1 with ERR filled. */
int proc_write_pid_file(const char *path, char *err, size_t errlen);

/* True when PID is a process running the same program as we are (a pid
 * may have been reused by anything else); true too when /proc says
 * nothing either way. */
bool proc_is_presignd(pid_t pid);

#endif
