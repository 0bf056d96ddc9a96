/*
 * http.c - pure helpers of the HTTP API (see http.h).
 */
#include "http.h"

#include "buf.h"
#include "keys.h"
#include "str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Request ids share the cheap uuid4 of upload keys (see keys.h). */
void http_request_id_new(char *out)
{
    keys_uuid4(out);
}

/*
 * Every access log line carries a time stamp: the date and time part is
 * formatted once per second (gmtime_r and printf cost more than the rest of
 * the line), only the milliseconds per call. One thread at a time.
 */
size_t http_time_iso_ms(const struct timespec *ts, char *buf, size_t len)
{
    static time_t cached_sec = (time_t)-1;
    static char cached[32];
    static size_t cached_len;

    if (ts->tv_sec != cached_sec) {
        struct tm tm;
        time_t t = ts->tv_sec;

        if (!gmtime_r(&t, &tm))
            memset(&tm, 0, sizeof tm);
        int n = snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (n < 0 || (size_t)n >= sizeof cached)
            return 0;
        cached_len = (size_t)n;
        cached_sec = ts->tv_sec;
    }
    long ms = ts->tv_nsec / 1000000L;
    if (ms < 0 || ms > 999)
        ms = 0;
    if (len < cached_len + 6)   /* ".123Z" and the NUL */
        return 0;
    memcpy(buf, cached, cached_len);
    char *p = buf + cached_len;
    p[0] = '.';
    p[1] = (char)('0' + ms / 100);
    p[2] = (char)('0' + ms / 10 % 10);
    p[3] = (char)('0' + ms % 10);
    p[4] = 'Z';
    p[5] = '\0';
    return cached_len + 5;
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

/* Every URL answer carries one: formatted once per second of T, as the
 * access log's time stamps are. One thread at a time. */
size_t http_time_iso(time_t t, char *buf, size_t len)
{
    static time_t cached_t = (time_t)-1;
    static char cached[24];
    static size_t cached_len;

    if (t != cached_t) {
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            return 0;
        int n = snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec);
        if (n <= 0 || (size_t)n >= sizeof cached)
            return 0;
        cached_len = (size_t)n;
        cached_t = t;
    }
    if (cached_len >= len)
        return 0;
    memcpy(buf, cached, cached_len + 1);
    return cached_len;
}

bool http_media_type_is(const char *ct, const char *type)
{
    size_t n = type ? strlen(type) : 0;

    if (!ct || n == 0)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, type, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

bool http_is_json_media_type(const char *ct)
{
    return http_media_type_is(ct, "application/json");
}

bool http_header_value_ok(const char *v, size_t max)
{
    size_t n = v ? strlen(v) : 0;

    if (n == 0 || n > max || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
        v[n - 1] == '\t')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return false;
    }
    return true;
}

/* RFC 5987 attr-char: what filename* may carry unencoded. */
static bool attr_char(unsigned char c)
{
    return str_is_alnum((char)c) || (c && strchr("!#$&+-.^_`|~", c));
}

void http_content_disposition(struct buf *b, const char *disposition, const char *filename)
{
    const unsigned char *p = (const unsigned char *)filename;
    bool exact = true;

    buf_add(b, disposition);
    buf_add(b, "; filename=\"");
    for (size_t i = 0; p[i];) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            /* One '_' per character, not per byte. */
            i++;
            while ((p[i] & 0xC0) == 0x80)
                i++;
            buf_addc(b, '_');
            exact = false;
            continue;
        }
        /* '%' because some browsers percent-decode this parameter; ';'
         * because naive parsers split on it even inside quotes. */
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '%' || c == ';') {
            buf_addc(b, '_');
            exact = false;
        } else {
            buf_addc(b, (char)c);
        }
        i++;
    }
    buf_addc(b, '"');
    if (exact)
        return;
    buf_add(b, "; filename*=UTF-8''");
    for (size_t i = 0; p[i]; i++) {
        if (attr_char(p[i]))
            buf_addc(b, (char)p[i]);
        else
            buf_printf(b, "%%%02X", p[i]);
    }
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
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 501: return "Not Implemented";
    case 431: return "Request Header Fields Too Large";
    case 429: return "Too Many Requests";
    case 408: return "Request Timeout";
    default:  return "Unknown";
    }
}
