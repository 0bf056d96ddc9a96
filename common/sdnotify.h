/*
 * sdnotify.h - the systemd notification protocol (sd_notify(3)), in-tree:
 * one datagram of "KEY=VALUE\n" lines to the socket named by NOTIFY_SOCKET.
 */
#ifndef PRESIGND_SDNOTIFY_H
#define PRESIGND_SDNOTIFY_H

#include <stdint.h>

/* Send STATE (e.g. "READY=1\nSTATUS=serving"). Returns 1 sent, 0 no
 * NOTIFY_SOCKET, -1 error (errno). */
int sdnotify_send(const char *state);


/* Watchdog interval in microseconds when systemd asked for keep-alives for
 * this process (WATCHDOG_USEC set, WATCHDOG_PID unset or ours), else 0. */
uint64_t sdnotify_watchdog_usec(void);

#endif
