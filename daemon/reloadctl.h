/*
 * reloadctl.h - the synchronous reload protocol (presignd -R PID, systemd's
 * ExecReload): both ends.
 *
 * The client sends SIGHUP with sigqueue() and RELOADCTL_MAGIC; the master,
 * which sees si_code == SI_QUEUE and the value, answers the sender at once
 * with RELOADCTL_REPLY_SIGNAL carrying RELOADCTL_ACCEPTED, and once the
 * reload is over with RELOADCTL_OK or RELOADCTL_REJECTED. SIGHUP is a
 * standard signal: one sent while another is pending is merged into it, so
 * a client that gets no RELOADCTL_ACCEPTED sends again. A plain kill -HUP
 * gets no answer.
 */
#ifndef PRESIGND_RELOADCTL_H
#define PRESIGND_RELOADCTL_H

#include <signal.h>
#include <sys/types.h>

#define RELOADCTL_MAGIC         0x70736772   /* "psgr" */
#define RELOADCTL_REPLY_SIGNAL  (SIGRTMIN + 1)
#define RELOADCTL_OK            0
#define RELOADCTL_REJECTED      1
#define RELOADCTL_ACCEPTED      2

/* ---- the master's end */

/* From the SIGHUP handler (async-signal-safe): remember a -R sender. */
void reloadctl_note(const siginfo_t *si);

/* Tell senders noted since the last call that their HUP arrived. */
void reloadctl_ack(void);

/* A reload starts: the senders noted so far wait for its outcome. */
void reloadctl_begin(void);

/* The reload is over: answer its senders with OUTCOME. */
void reloadctl_finish(int outcome);

/* ---- the client's end */

/*
 * Ask the master PID to reload and wait up to TIMEOUT_SEC for its answer.
 * Returns 0 when the new configuration serves, 1 when it was rejected,
 * timed out or the master could not be signalled (a line on stderr says
 * which).
 */
int reloadctl_request(pid_t pid, int timeout_sec);

#endif
