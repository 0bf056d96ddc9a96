/*
 * log.h - error and lifecycle logging for every presignd process.
 *
 * One line per message: "2026-11-28T06:15:55.123Z [info] presignd[1234]: text".
 * When stderr is the journal (JOURNAL_STREAM names fd 2), lines written there
 * carry their syslog priority instead of the timestamp, which journald adds:
 * "<6>[info] presignd[1234]: text" (<3> error, <4> warn, <6> info, <7> debug;
 * access lines "<6>{...}").
 * The destination is stderr (systemd's journal) or a file opened in append
 * mode; log_reopen() reopens the file after rotation (SIGUSR1). Access log
 * lines are JSON and go through log_access() to their own destination.
 */
#ifndef PRESIGND_LOG_H
#define PRESIGND_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/*
 * Set destinations. FILE NULL = stderr. ACCESS NULL = same destination as the
 * log; "off" = no access log. Returns 0, or -1 with ERR filled (the previous
 * destinations stay in use).
 */
int log_configure(const char *file, const char *access, enum log_level level,
                  char *err, size_t errlen);

/* Reopen file destinations (same paths). Returns 0 or -1 (old fds kept). */
int log_reopen(void);

/* Files opened from now on are handed (fchown) to UID:GID; -1, -1: kept as
 * they are. A root master sets its workers' user, so they can reopen the
 * files themselves. */
void log_set_owner(uid_t uid, gid_t gid);

/* Name shown before the pid, e.g. "presignd" or "presignd-worker". */
void log_set_role(const char *role);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/* One access log line; LINE is a complete JSON object without newline. */
void log_access(const char *line, size_t len);

/*
 * Buffer access lines on the event loop BASE (a worker's): while the access
 * log is a regular file, lines are written in batches, one write(2) of whole
 * lines at the end of each event-loop round that logged any (and when the
 * buffer is full, before an error line to the same file, on reopen and at
 * exit). BASE NULL flushes and detaches (do it before freeing the loop).
 * Returns 0, or -1 when out of memory (lines are then written one by one).
 */
struct event_base;
int log_access_attach(struct event_base *base);

/* Write out buffered access lines now. */
void log_access_flush(void);

/*
 * The audit log (audit.log_file): a file of its own, opened in append mode,
 * one write(2) per line and never buffered (a line records a decision;
 * it must not die with the worker that made it), reopened by log_reopen().
 * PATH NULL: none. Returns 0, or -1 with ERR filled (the previous file
 * stays in use).
 */
int log_configure_audit(const char *path, char *err, size_t errlen);

/* One audit line; LINE is a complete JSON object without newline. */
void log_audit(const char *line, size_t len);

/* Is there an audit log to write to (audit.log_file)? */
bool log_audit_enabled(void);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
