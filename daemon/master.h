/*
 * master.h - the master process: owns the listen sockets, forks and supervises
 * generations of workers, turns signals into reloads and stops, and is the
 * only process that talks to systemd.
 */
#ifndef PRESIGND_MASTER_H
#define PRESIGND_MASTER_H

#include <signal.h>
#include <sys/types.h>

struct cfg;

/*
 * Synchronous reload protocol (presignd -R PID, for systemd's ExecReload):
 * the client sends SIGHUP with sigqueue() and this value; the master, which
 * sees si_code == SI_QUEUE and the value, answers the sender at once with
 * MASTER_RELOAD_REPLY_SIGNAL carrying MASTER_RELOAD_ACCEPTED, and once the
 * reload is over with MASTER_RELOAD_OK or MASTER_RELOAD_REJECTED. SIGHUP is
 * a standard signal: one sent while another is pending is merged into it, so
 * a client that gets no MASTER_RELOAD_ACCEPTED sends again. A plain
 * kill -HUP gets no answer.
 */
#define MASTER_RELOAD_MAGIC         0x70736772   /* "psgr" */
#define MASTER_RELOAD_REPLY_SIGNAL  (SIGRTMIN + 1)
#define MASTER_RELOAD_OK            0
#define MASTER_RELOAD_REJECTED      1
#define MASTER_RELOAD_ACCEPTED      2

/*
 * Run the master in the foreground with CFG (already validated, owned by the
 * master from now on). Returns the process exit code.
 */
int master_run(struct cfg *cfg);

/*
 * Ask the master PID to reload and wait up to TIMEOUT_SEC for its answer.
 * Returns 0 when the new configuration serves, 1 when it was rejected, timed
 * out or the master could not be signalled (a line on stderr says which).
 */
int master_reload_request(pid_t pid, int timeout_sec);

#endif
