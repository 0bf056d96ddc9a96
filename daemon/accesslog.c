/*
 * accesslog.c - the access log line of a request (see accesslog.h).
 *
 * Formatted by hand into a stack buffer (jsonw.h): this runs for every
 * request, and a json-c tree or printf cost as much as the rest of the
 * line. A line that does not fit the buffer is dropped rather than cut (a
 * cut line would not parse).
 */
#include "accesslog.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "clock.h"
#include "jsonw.h"
#include "log.h"
#include "req.h"

#define ACCESSLOG_LINE_MAX 2048

static void add_str(struct buf *b, const char *s)
{
    jsonw_str_ascii(b, s, strlen(s));
}

/* MS with three decimals, as "%.3f" writes it (rounded to the microsecond). */
static void add_ms(struct buf *b, double ms)
{
    if (!(ms >= 0.0) || ms >= 1e15) {   /* NaN, negative, absurd: printf */
        buf_printf(b, "%.3f", ms);
        return;
    }
    uint64_t us = (uint64_t)(ms * 1000.0 + 0.5);
    char frac[5];
    jsonw_u64(b, us / 1000);
    frac[0] = '.';
    frac[1] = (char)('0' + us % 1000 / 100);
    frac[2] = (char)('0' + us % 100 / 10);
    frac[3] = (char)('0' + us % 10);
    frac[4] = '\0';
    buf_add(b, frac);
}

void accesslog_write(const struct req *r, int status, size_t bytes)
{
    char store[ACCESSLOG_LINE_MAX], ts[40];
    struct timespec now;
    struct buf b;

    buf_init(&b, store, sizeof store);
    b.limit = sizeof store - 1;
    clock_gettime(CLOCK_REALTIME, &now);
    http_time_iso_ms(&now, ts, sizeof ts);
    buf_add(&b, "{\"time\":");
    add_str(&b, ts);
    buf_add(&b, ",\"request_id\":");
    add_str(&b, r->id);
    buf_add(&b, ",\"remote_addr\":");
    add_str(&b, r->remote);
    buf_add(&b, ",\"method\":");
    add_str(&b, r->method);
    buf_add(&b, ",\"route\":");
    add_str(&b, route_labels()[r->match.index]);
    buf_add(&b, ",\"path\":");
    add_str(&b, r->path ? r->path : "");
    buf_add(&b, ",\"status\":");
    jsonw_i64(&b, status);
    buf_add(&b, ",\"bytes\":");
    jsonw_u64(&b, bytes);
    buf_add(&b, ",\"duration_ms\":");
    add_ms(&b, clock_since(&r->t0) * 1000.0);
    buf_add(&b, ",\"worker_pid\":");
    buf_add(&b, r->api->pid);
    buf_add(&b, ",\"s3_ms\":");
    if (r->s3_used)
        add_ms(&b, r->s3_seconds * 1000.0);
    else
        buf_add(&b, "null");
    buf_addc(&b, '}');
    if (!buf_failed(&b))
        log_access(b.p, b.len);
    buf_free(&b);
}
