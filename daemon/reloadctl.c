/*
 * reloadctl.c - the synchronous reload protocol (see reloadctl.h).
 */
#include "reloadctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "proc.h"

#define MAX_SENDERS 32      /* -R clients waiting for one reload */

/* Written by the signal handler, read by the main loop with the signal
 * blocked (the master only unblocks it inside ppoll). */
static volatile sig_atomic_t senders[MAX_SENDERS];
static volatile sig_atomic_t n_senders;
static int n_acked;                 /* senders already told "accepted" */
static pid_t reply_to[MAX_SENDERS]; /* -R clients of the reload in progress */
static int n_reply_to;

void reloadctl_note(const siginfo_t *si)
{
    if (!si || si->si_code != SI_QUEUE || si->si_value.sival_int != RELOADCTL_MAGIC
        || n_senders >= MAX_SENDERS)
        return;
    for (int i = 0; i < n_senders; i++)
        if (senders[i] == si->si_pid)
            return;
    senders[n_senders++] = si->si_pid;
}

/*
 * The -R client may be gone (killed by systemd's timeout) and its pid
 * reused; a real-time signal's default action is to terminate, so answer
 * only a process that is still a presignd.
 */
static void answer(pid_t pid, int value)
{
    if (!proc_is_presignd(pid)) {
        log_warn("reload requester pid %ld is gone; not answering it", (long)pid);
        return;
    }
    union sigval v = { .sival_int = value };
    if (sigqueue(pid, RELOADCTL_REPLY_SIGNAL, v) < 0)
        log_warn("cannot answer reload request of pid %ld: %s", (long)pid, strerror(errno));
}

void reloadctl_ack(void)
{
    for (int i = n_acked; i < n_senders; i++)
        answer(senders[i], RELOADCTL_ACCEPTED);
    n_acked = n_senders;
}

void reloadctl_begin(void)
{
    reloadctl_ack();
    for (int i = 0; i < n_senders && n_reply_to < MAX_SENDERS; i++)
        reply_to[n_reply_to++] = senders[i];
    n_senders = 0;
    n_acked = 0;
}

void reloadctl_finish(int outcome)
{
    for (int i = 0; i < n_reply_to; i++)
        answer(reply_to[i], outcome);
    n_reply_to = 0;
}

/* ---- presignd -R PID
 *
 * Block the reply signal so it queues instead of killing us, send SIGHUP
 * with the magic value (again every second until the master says it got
 * it), then wait for the outcome.
 */

static int send_reload(pid_t pid)
{
    union sigval v = { .sival_int = RELOADCTL_MAGIC };

    if (sigqueue(pid, SIGHUP, v) < 0) {
        fprintf(stderr, "presignd: cannot signal pid %ld: %s\n", (long)pid, strerror(errno));
        return -1;
    }
    return 0;
}

int reloadctl_request(pid_t pid, int timeout_sec)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, RELOADCTL_REPLY_SIGNAL);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (send_reload(pid) < 0)
        return 1;
    int64_t end = clock_mono_ms() + (int64_t)timeout_sec * 1000;
    int64_t resend_at = clock_mono_ms() + 1000;
    bool accepted = false;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (now >= end)
            break;
        /* Until the master says it got our HUP, wake up every second to send
         * it again: it may have been merged into a HUP already pending. */
        int64_t wake = accepted || resend_at > end ? end : resend_at;
        if (wake <= now) {
            if (send_reload(pid) < 0)
                return 1;
            resend_at = now + 1000;
            continue;
        }
        int64_t wait = wake - now;
        struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
        siginfo_t si;
        if (sigtimedwait(&set, &si, &ts) < 0)
            continue;   /* EINTR, or EAGAIN: time to resend or to give up */
        if (si.si_pid != pid)
            continue;   /* not our master's answer */
        switch (si.si_value.sival_int) {
        case RELOADCTL_ACCEPTED:
            accepted = true;
            break;
        case RELOADCTL_OK:
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
