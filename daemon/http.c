/*
 * http.c - pure helpers of the HTTP API (see http.h).
 */
#include "http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <uuid/uuid.h>

bool http_request_id_sane(const char *id)
{
    size_t n = 0;

    if (!id)
        return false;
    for (const char *p = id; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (n >= HTTP_REQUEST_ID_MAX)
            return false;
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-') || c >= 0x80)
            return false;
    }
    return n > 0;
}

/*
 * Request ids are made for most requests, so their randomness comes from a
 * pool refilled 4 KiB at a time: libuuid's uuid_generate_random() costs six
 * system calls per id (it mixes getpid/getuid/... into random(3)). The pool
 * is emptied in a forked child, so two workers never hand out the same ids.
 */
static unsigned char id_pool[4096];
static size_t id_pool_left;
static int id_pool_atfork;

static void id_pool_forget(void)
{
    id_pool_left = 0;
}

static int id_pool_take(unsigned char *out, size_t n)
{
    if (!id_pool_atfork) {
        pthread_atfork(NULL, NULL, id_pool_forget);
        id_pool_atfork = 1;
    }
    if (id_pool_left < n) {
        size_t got = 0;
        while (got < sizeof id_pool) {
            ssize_t r = getrandom(id_pool + got, sizeof id_pool - got, 0);
            if (r <= 0)
                return -1;
            got += (size_t)r;
        }
        id_pool_left = sizeof id_pool;
    }
    memcpy(out, id_pool + sizeof id_pool - id_pool_left, n);
    id_pool_left -= n;
    return 0;
}

void http_request_id_new(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char u[16];

    if (id_pool_take(u, sizeof u) < 0) {
        uuid_t fallback;
        uuid_generate_random(fallback);
        uuid_unparse_lower(fallback, out);
        return;
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[u[i] >> 4];
        *p++ = hex[u[i] & 15];
    }
    *p = '\0';
}

size_t http_time_iso_ms(const struct timespec *ts, char *buf, size_t len)
{
    struct tm tm;
    time_t t = ts->tv_sec;

    gmtime_r(&t, &tm);
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000L);
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}

static bool tm_sane(const struct tm *tm)
{
    return tm->tm_year >= 70 && tm->tm_year < 8100 && tm->tm_mon >= 0 &&
           tm->tm_mon < 12 && tm->tm_mday >= 1 && tm->tm_mday <= 31 &&
           tm->tm_hour >= 0 && tm->tm_hour < 24 && tm->tm_min >= 0 &&
           tm->tm_min < 60 && tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

bool http_time_normalize(const char *in, char *out, size_t outlen)
{
    struct tm tm;
    const char *end;

    if (!in || outlen < 21)
        return false;
    memset(&tm, 0, sizeof tm);
    /* ISO 8601 from ListObjectsV2; fractional seconds are always .000 on S3. */
    end = strptime(in, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end) {
        if (*end == '.') {
            end++;
            while (isdigit((unsigned char)*end))
                end++;
        }
        if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
            return false;
    } else {
        /* RFC 7231 IMF-fixdate from HeadObject's Last-Modified. The day and
         * month names are English whatever the locale: the daemon never
         * calls setlocale(), so strptime stays in the "C" locale. */
        memset(&tm, 0, sizeof tm);
        end = strptime(in, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end)
            return false;
    }
    if (!tm_sane(&tm))
        return false;
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return true;
}

bool http_is_json_media_type(const char *ct)
{
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;

    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, json, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default:  return "Unknown";
    }
}

size_t http_json_escape(char *buf, size_t pos, size_t size,
                        const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t n;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (pos + n >= size)
            return size;
        memcpy(buf + pos, esc, n);
        pos += n;
    }
    return pos;
}
