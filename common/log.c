/*
 * log.c - error, lifecycle and access logging (see log.h).
 *
 * Each line is formatted into one buffer and written with a single write(2)
 * on an O_APPEND descriptor, so lines from the master and all workers never
 * interleave mid-line even though they share the file.
 *
 * Access lines of a worker may be buffered (nginx's "access_log buffer="):
 * one write(2) per request cost as much as building the line. When the
 * access log is a regular file and a worker attached its event loop, lines
 * collect in a buffer that is written when the event-loop round that
 * produced them ends (an event made active by the first line runs after
 * every callback already queued), when it would overflow, before an
 * error-log line to the same file, on reopen, on detach and at exit. Every
 * flush is one write(2) of whole lines on the O_APPEND descriptor, so lines
 * still never interleave. Pipes and sockets (the journal) keep one write
 * per line: writes to a pipe are atomic only up to PIPE_BUF.
 *
 * When stderr is the journal, lines written there start with their syslog
 * priority instead of a timestamp (see stderr_is_journal()).
 */
#include "log.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define LOG_LINE_MAX 4096
#define ACCESS_BUF_SIZE 32768

static int audit_fd = -1;
static char *audit_path;
static int log_fd = STDERR_FILENO;
static int access_fd = STDERR_FILENO;
static char *log_path;
static char *access_path;
static int access_off;
static enum log_level log_min = LOG_LVL_INFO;
static const char *log_role = "presignd";

static const char *const level_names[] = { "debug", "info", "warn", "error" };
/* syslog priorities of the levels: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR */
static const int level_priorities[] = { 7, 6, 4, 3 };
#define ACCESS_PRIORITY "<6>"       /* access lines are informational */

static char *acc_buf;               /* ACCESS_BUF_SIZE bytes once attached */
static size_t acc_len;
static struct event *acc_flush_ev;  /* on the attached loop, or NULL */
static bool acc_regular;            /* access_fd is a regular file */

static void write_all(int fd, const char *buf, size_t len);
static bool stderr_is_journal(void);

static void access_fd_changed(void)
{
    struct stat st;

    /* Never batch lines to the journal: each gets its priority prefix. */
    acc_regular = fstat(access_fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  !(access_fd == STDERR_FILENO && stderr_is_journal());
}

/*
 * Whether fd 2 is a stream to journald: systemd then sets JOURNAL_STREAM to
 * "DEVICE:INODE" of that socket (systemd.exec(5)), and fd 2 must still be it
 * (a variable inherited by a process whose stderr was redirected since does
 * not count). There, a line that starts with "<N>" is stored with syslog
 * priority N (sd-daemon(3)), so `journalctl -p err` works, and the journal
 * keeps its own timestamp of every line, so ours would only repeat it.
 * Decided once per process (workers inherit the answer with fd 2).
 */
static bool stderr_is_journal(void)
{
    static int journal = -1;

    if (journal < 0) {
        const char *env = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        char extra;
        struct stat st;

        journal = env && sscanf(env, "%llu:%llu%c", &dev, &ino, &extra) == 2 &&
                  fstat(STDERR_FILENO, &st) == 0 &&
                  (unsigned long long)st.st_dev == dev &&
                  (unsigned long long)st.st_ino == ino;
    }
    return journal;
}

void log_access_flush(void)
{
    if (acc_len) {
        size_t n = acc_len;
        acc_len = 0;
        write_all(access_fd, acc_buf, n);
    }
}

static void on_access_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_access_flush();
}

int log_access_attach(struct event_base *base)
{
    static bool at_exit;

    log_access_flush();
    if (acc_flush_ev) {
        event_free(acc_flush_ev);
        acc_flush_ev = NULL;
    }
    if (!base)
        return 0;
    if (!acc_buf && !(acc_buf = malloc(ACCESS_BUF_SIZE)))
        return -1;
    acc_flush_ev = event_new(base, -1, 0, on_access_flush, NULL);
    if (!acc_flush_ev)
        return -1;
    if (!at_exit)
        at_exit = atexit(log_access_flush) == 0;
    access_fd_changed();
    return 0;
}

/* Who owns the files we open: the workers' user when a root master drops
 * privileges for them (log_set_owner), else whoever opens. */
static uid_t owner_uid = (uid_t)-1;
static gid_t owner_gid = (gid_t)-1;

void log_set_owner(uid_t uid, gid_t gid)
{
    owner_uid = uid;
    owner_gid = gid;
}

/*
 * Opened as root, a log file must never be a link planted by someone else:
 * O_NOFOLLOW refuses a symbolic link in the last component, and the
 * descriptor (not the path, which could be swapped meanwhile) is what gets
 * handed to the workers' user.
 */
static int open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                  0640);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;     /* a FIFO, a device: not a log file */
        return -1;
    }
    if (owner_uid != (uid_t)-1 && (st.st_uid != owner_uid || st.st_gid != owner_gid) &&
        fchown(fd, owner_uid, owner_gid) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void replace_fd(int *slot, int fd)
{
    int old = *slot;
    *slot = fd;
    if (old > STDERR_FILENO && old != fd && old != log_fd && old != access_fd)
        close(old);
}

int log_configure(const char *file, const char *access, enum log_level level,
                  char *err, size_t errlen)
{
    int nlog = STDERR_FILENO, nacc;
    char *nlog_path = NULL, *nacc_path = NULL;

    if (file && *file) {
        nlog = open_append(file);
        if (nlog < 0) {
            errbuf_set(err, errlen, "cannot open log file %s: %s", file, strerror(errno));
            return -1;
        }
        nlog_path = strdup(file);
    }
    int off = access && strcmp(access, "off") == 0;
    nacc = nlog;
    if (access && *access && !off) {
        nacc = open_append(access);
        if (nacc < 0) {
            errbuf_set(err, errlen, "cannot open access log %s: %s", access, strerror(errno));
            if (nlog > STDERR_FILENO)
                close(nlog);
            free(nlog_path);
            return -1;
        }
        nacc_path = strdup(access);
    }

    log_access_flush();
    int olog = log_fd, oacc = access_fd;
    log_fd = nlog;
    access_fd = nacc;
    access_fd_changed();
    if (olog > STDERR_FILENO && olog != nlog && olog != nacc)
        close(olog);
    if (oacc > STDERR_FILENO && oacc != olog && oacc != nlog && oacc != nacc)
        close(oacc);
    free(log_path);
    free(access_path);
    log_path = nlog_path;
    access_path = nacc_path;
    access_off = off;
    log_min = level;
    return 0;
}

int log_reopen(void)
{
    int rc = 0;

    log_access_flush();     /* the lines belong to the file they came from */
    if (log_path) {
        int fd = open_append(log_path);
        if (fd < 0)
            rc = -1;
        else {
            int shared = access_fd == log_fd;
            replace_fd(&log_fd, fd);
            if (shared)
                access_fd = fd;
        }
    }
    if (access_path) {
        int fd = open_append(access_path);
        if (fd < 0)
            rc = -1;
        else
            replace_fd(&access_fd, fd);
    }
    if (audit_path) {
        int fd = open_append(audit_path);
        if (fd < 0) {
            rc = -1;
        } else {
            close(audit_fd);
            audit_fd = fd;
        }
    }
    access_fd_changed();
    return rc;
}

int log_configure_audit(const char *path, char *err, size_t errlen)
{
    int fd = -1;
    char *p = NULL;

    if (path && *path) {
        fd = open_append(path);
        if (fd < 0) {
            errbuf_set(err, errlen, "cannot open audit log %s: %s", path, strerror(errno));
            return -1;
        }
        if (!(p = strdup(path))) {
            close(fd);
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
    }
    if (audit_fd >= 0)
        close(audit_fd);
    free(audit_path);
    audit_fd = fd;
    audit_path = p;
    return 0;
}

bool log_audit_enabled(void)
{
    return audit_fd >= 0;
}

void log_audit(const char *line, size_t len)
{
    char stack[4096], *buf = stack;

    if (audit_fd < 0 || (len >= sizeof stack && !(buf = malloc(len + 1))))
        return;
    memcpy(buf, line, len);
    buf[len] = '\n';
    write_all(audit_fd, buf, len + 1);
    if (buf != stack)
        free(buf);
}

void log_set_role(const char *role)
{
    log_role = role;
}

static size_t format_time(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    return n;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;  /* nowhere left to report a failing log */
        }
        buf += w;
        len -= (size_t)w;
    }
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (level < log_min)
        return;
    int saved = errno;
    char line[LOG_LINE_MAX];
    size_t n;
    if (log_fd == STDERR_FILENO && stderr_is_journal()) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", level_priorities[level]);
    } else {
        n = format_time(line, sizeof line);
        line[n++] = ' ';
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "[%s] %s[%ld]: ",
                          level_names[level], log_role, (long)getpid());
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    /* A message must stay on one line so log readers can split on '\n'. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    if (access_fd == log_fd)
        log_access_flush();     /* keep the order of a shared file */
    write_all(log_fd, line, n);
    errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_access(const char *line, size_t len)
{
    if (access_off)
        return;
    if (acc_flush_ev && acc_regular && len < ACCESS_BUF_SIZE) {
        if (acc_len + len + 1 > ACCESS_BUF_SIZE)
            log_access_flush();
        if (acc_len == 0)
            event_active(acc_flush_ev, EV_TIMEOUT, 1);
        memcpy(acc_buf + acc_len, line, len);
        acc_buf[acc_len + len] = '\n';
        acc_len += len + 1;
        return;
    }
    log_access_flush();
    /* The JSON carries its own "time": only the priority is added. */
    const char *prio = access_fd == STDERR_FILENO && stderr_is_journal() ? ACCESS_PRIORITY : "";
    size_t plen = strlen(prio), total = plen + len + 1;
    char buf[LOG_LINE_MAX];
    char *out = total <= sizeof buf ? buf : malloc(total);
    if (!out)
        return;
    memcpy(out, prio, plen);
    memcpy(out + plen, line, len);
    out[total - 1] = '\n';
    write_all(access_fd, out, total);
    if (out != buf)
        free(out);
}
