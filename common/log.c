/*
 * log.c - error, lifecycle and access logging (see log.h).
 *
 * Each line is formatted into one buffer and written with a single write(2)
 * on an O_APPEND descriptor, so lines from the master and all workers never
 * interleave mid-line even though they share the file.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static int log_fd = STDERR_FILENO;
static int access_fd = STDERR_FILENO;
static char *log_path;
static char *access_path;
static int access_off;
static enum log_level log_min = LOG_LVL_INFO;
static const char *log_role = "presignd";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
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
            snprintf(err, errlen, "cannot open log file %s: %s", file, strerror(errno));
            return -1;
        }
        nlog_path = strdup(file);
    }
    int off = access && strcmp(access, "off") == 0;
    nacc = nlog;
    if (access && *access && !off) {
        nacc = open_append(access);
        if (nacc < 0) {
            snprintf(err, errlen, "cannot open access log %s: %s", access, strerror(errno));
            if (nlog > STDERR_FILENO)
                close(nlog);
            free(nlog_path);
            return -1;
        }
        nacc_path = strdup(access);
    }

    int olog = log_fd, oacc = access_fd;
    log_fd = nlog;
    access_fd = nacc;
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
    return rc;
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
    size_t n = format_time(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, " [%s] %s[%ld]: ",
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
    char buf[LOG_LINE_MAX];
    if (len < sizeof buf) {
        memcpy(buf, line, len);
        buf[len] = '\n';
        write_all(access_fd, buf, len + 1);
    } else {
        char *big = malloc(len + 1);
        if (!big)
            return;
        memcpy(big, line, len);
        big[len] = '\n';
        write_all(access_fd, big, len + 1);
        free(big);
    }
}
