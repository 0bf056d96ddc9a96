/*
 * handle_presign.c - POST /upload-url and POST /download-url: the
 * presigned URLs themselves.
 *
 * Presigning is local (no S3 call): an upload URL costs a key, a signature
 * and an answer. A download URL first checks with HeadObject that the
 * object exists, so a client gets 404 from us rather than a URL to nothing.
 */
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api.h"
#include "body.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "jsonw.h"
#include "keys.h"
#include "metrics.h"
#include "req.h"
#include "s3.h"

#define MAX_FILENAME_INPUT 4096

const char *const handle_upload_fields[] = { "filename", "content_type", "size", NULL };
const char *const handle_download_fields[] = { "file_key", NULL };

static void add_string(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/*
 * The 200 answer of /upload-url, formatted straight into one buffer: a
 * json-c object tree cost about as much as the signing. Same keys, order
 * and bytes as json_object_to_json_string() (PLAIN, NOSLASHESCAPE) would
 * give.
 */
static void reply_upload(struct req *r, const struct s3_presigned *p, const char *key,
                         const char *type, int64_t size)
{
    char store[4096];
    struct buf b;

    buf_init(&b, store, sizeof store);
    buf_add(&b, "{\"presigned_url\":");
    jsonw_str(&b, p->url, strlen(p->url));
    buf_add(&b, ",\"expires_in\":");
    jsonw_i64(&b, p->expires_in);
    buf_add(&b, ",\"file_key\":");
    jsonw_str(&b, key, strlen(key));
    buf_add(&b, ",\"method\":\"PUT\",\"headers\":{\"Content-Type\":");
    jsonw_str(&b, type, strlen(type));
    if (size >= 0) {
        buf_add(&b, ",\"Content-Length\":\"");
        jsonw_i64(&b, size);
        buf_addc(&b, '"');
    }
    buf_add(&b, "},\"content_type\":");
    jsonw_str(&b, type, strlen(type));
    buf_add(&b, ",\"max_file_size\":");
    jsonw_i64(&b, r->api->cfg->presign.max_file_size);
    buf_addc(&b, '}');
    if (buf_failed(&b))
        req_fail(r, 500, "internal_error", "out of memory");
    else
        req_reply(r, 200, "application/json", b.p, b.len, REQ_NO_STORE);
    buf_free(&b);
}

/* The extension of CLEAN (a sanitized name), JSON-escaped for a message. */
static void shown_extension(const char *clean, char *out, size_t size)
{
    const char *dot = strrchr(clean, '.');
    struct buf b;

    buf_init(&b, out, size);
    b.limit = size - 1;
    if (dot)
        jsonw_escape_ascii(&b, dot, strlen(dot));
    if (buf_failed(&b) || b.p != out)
        out[0] = '\0';
    buf_free(&b);
}

void handle_upload_url(struct req *r)
{
    const struct cfg *cfg = r->api->cfg;
    char err[256];
    bool failed = false;
    int64_t size = -1;

    const char *filename = body_string(r, "filename", true, &failed);
    const char *ctype = failed ? NULL : body_string(r, "content_type", false, &failed);
    if (failed)
        return;
    if (strlen(filename) > MAX_FILENAME_INPUT) {
        req_fail(r, 400, "invalid_filename", "filename longer than %d bytes",
                 MAX_FILENAME_INPUT);
        return;
    }
    if (body_int64(r, "size", 1, &size, &failed)) {
        if (size > cfg->presign.max_file_size) {
            req_fail(r, 413, "file_too_large", "file size %" PRId64 " exceeds the maximum of %"
                     PRId64 " bytes", size, cfg->presign.max_file_size);
            return;
        }
    } else if (failed) {
        return;
    } else {
        size = -1;
    }

    /* The type is decided on the name the key will end with. */
    char *clean = keys_sanitize_filename(filename, cfg->uploads.max_filename_bytes, err,
                                         sizeof err);
    if (!clean) {
        req_fail(r, 400, "invalid_filename", "invalid filename: %s", err);
        return;
    }
    const char *type = cfg_type_for_filename(cfg, clean);
    if (!type) {
        char shown[64];
        shown_extension(clean, shown, sizeof shown);
        free(clean);
        req_fail(r, 400, "file_type_not_allowed", "file type '%s' is not allowed", shown);
        return;
    }
    if (ctype && strcasecmp(ctype, type) != 0) {
        free(clean);
        req_fail(r, 400, "content_type_mismatch",
                 "content_type does not match the file extension (expected %s)", type);
        return;
    }
    r->audit.size = size;
    r->audit.content_type = strdup(type);
    /* Minted under the principal's prefix (all of uploads.prefix without
     * auth): the key rules decide, keys.h. */
    char *key = keys_new_upload_key(r->who.prefix, clean, cfg->uploads.max_filename_bytes,
                                    err, sizeof err);
    free(clean);
    if (!key) {
        req_fail(r, 400, "invalid_filename", "invalid filename: %s", err);
        return;
    }

    char clen[24];
    struct s3_param hdrs[2] = { { "content-type", type } };
    size_t n_hdrs = 1;
    if (size >= 0) {
        snprintf(clen, sizeof clen, "%" PRId64, size);
        hdrs[n_hdrs++] = (struct s3_param){ "content-length", clen };
    }
    struct s3_presign_req pr = {
        .method = "PUT", .key = key, .headers = hdrs, .n_headers = n_hdrs,
        .expires = cfg->presign.expires,
    };
    struct s3_presigned p = { 0 };
    enum s3_status st = s3_presign(r->api->s3, &pr, &p, err, sizeof err);
    if (st != S3_OK) {
        free(key);
        req_fail_presign(r, st, err);
        return;
    }
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    req_audit_subject(r, key);
    r->audit.expires_at = clock_wall() + (double)p.expires_in;
    reply_upload(r, &p, key, type, size);
    s3_presigned_free(&p);
    free(key);
}

static void download_head_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;
    char err[256], lm[40];

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status == S3_NOT_FOUND) {
        req_fail(r, 404, "file_not_found", "file %s not found", r->key);
        return;
    }
    if (res->status != S3_OK) {
        req_fail_s3(r, res);
        return;
    }
    struct s3_presign_req pr = {
        .method = "GET", .key = r->key, .expires = r->api->cfg->presign.expires,
    };
    struct s3_presigned p = { 0 };
    enum s3_status st = s3_presign(r->api->s3, &pr, &p, err, sizeof err);
    if (st != S3_OK) {
        req_fail_presign(r, st, err);
        return;
    }
    metrics_presign(METRICS_PRESIGN_DOWNLOAD);
    r->audit.size = res->content_length;
    r->audit.expires_at = clock_wall() + (double)p.expires_in;

    struct json_object *o = json_object_new_object();
    add_string(o, "presigned_url", p.url);
    json_object_object_add(o, "expires_in", json_object_new_int64(p.expires_in));
    add_string(o, "file_key", r->key);
    add_string(o, "method", "GET");
    json_object_object_add(o, "headers", json_object_new_object());
    json_object_object_add(o, "size", json_object_new_int64(res->content_length));
    add_string(o, "content_type", res->content_type);
    if (res->last_modified && http_time_normalize(res->last_modified, lm, sizeof lm))
        add_string(o, "last_modified", lm);
    else
        add_string(o, "last_modified", res->last_modified);
    add_string(o, "etag", res->etag);
    s3_presigned_free(&p);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

void handle_download_url(struct req *r)
{
    bool failed = false;

    const char *key = body_string(r, "file_key", true, &failed);
    if (failed)
        return;
    req_audit_subject(r, key);
    if (!handle_key_allowed(r, key))
        return;
    if (!(r->key = strdup(key))) {
        req_fail(r, 500, "internal_error", "out of memory");
        return;
    }
    req_wait(r);
    r->op = s3_head_object(r->api->s3, r->key, download_head_done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
}
