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
 * pid; the file aside is made new, never followed through a link). 0, or
 * -1 with ERR filled. */
int proc_write_pid_file(const char *path, char *err, size_t errlen);

/*
 * A root master opens the log files and the pid file and hands the logs to
 * U: refuse (-1, ERR filled) any of them in a directory U could write to,
 * itself or any directory above it, where U could plant a link or swap a
 * directory for the master to follow as root. 0 when U drops nothing.
 */
int proc_check_file_dirs(const struct cfg *cfg, const struct proc_user *u, char *err,
                         size_t errlen);

/*
 * Process limits from CFG, in the master and again in each worker after
 * it dropped privileges (which resets dumpability): not dumpable and no
 * core files unless server.allow_core_dumps (a core holds the secrets in
 * memory), and the soft descriptor limit raised to the hard one.
 */
void proc_set_limits(const struct cfg *cfg);

/* True when PID is a process running the same program as we are (a pid
 * may have been reused by anything else); true too when /proc says
 * nothing either way. */
bool proc_is_presignd(pid_t pid);

#endif
