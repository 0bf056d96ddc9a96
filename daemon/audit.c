/*
 * audit.c - the audit line of a request (see audit.h), written through
 * log_audit() (log.h).
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "jsonw.h"
#include "log.h"
#include "req.h"

static void add_str(struct buf *b, const char *key, const char *v)
{
    jsonw_key(b, key);
    if (v)
        jsonw_str_ascii(b, v, strlen(v));
    else
        buf_add(b, "null");
}

void audit_write(const struct req *r, int status)
{
    const struct route *rt = r->match.route;
    char store[4096], ts[40], exp[40];
    struct timespec now;
    struct buf b;

    /* Nothing to build a line for without the file it would go to. */
    if (!rt || !rt->perm || !log_audit_enabled())
        return;
    buf_init(&b, store, sizeof store);
    clock_gettime(CLOCK_REALTIME, &now);
    http_time_iso_ms(&now, ts, sizeof ts);
    buf_addc(&b, '{');
    add_str(&b, "time", ts);
    add_str(&b, "request_id", r->id);
    add_str(&b, "principal", r->who.name);
    add_str(&b, "auth", r->who.auth ? r->who.auth : "none");
    add_str(&b, "action", r->audit.action ? r->audit.action
                          : rt->action ? rt->action : cfg_perm_name(rt->perm));
    add_str(&b, rt->perm == CFG_PERM_LIST ? "prefix" : "key", r->audit.subject);
    jsonw_key(&b, "size");
    if (r->audit.size >= 0)
        jsonw_i64(&b, r->audit.size);
    else
        buf_add(&b, "null");
    add_str(&b, "content_type", r->audit.content_type);
    if (r->audit.upload_id)
        add_str(&b, "upload_id", r->audit.upload_id);
    add_str(&b, "client", r->client);
    const char *outcome = status >= 200 && status < 300 ? "granted"
                          : r->error_code ? r->error_code
                          : status == 499 ? "client_closed_request" : "error";
    add_str(&b, "outcome", outcome);
    if (r->audit.expires_at > 0) {
        http_time_iso((time_t)r->audit.expires_at, exp, sizeof exp);
        add_str(&b, "expires_at", exp);
    } else {
        add_str(&b, "expires_at", NULL);
    }
    buf_addc(&b, '}');
    if (!buf_failed(&b))
        log_audit(b.p, b.len);
    buf_free(&b);
}
