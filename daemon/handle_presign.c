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
#define MAX_CONTENT_TYPE   255      /* a client's content_type, as signed */
#define MAX_SHOWN_TYPES    512      /* the accepted types listed in an error */
#define MAX_UPLOAD_HEADERS 6
#define MAX_DOWNLOAD_NAME  255      /* bytes: what file systems keep of a name */

const char *const handle_upload_fields[] = {
    "filename", "content_type", "size", "md5", "sha256", NULL
};
const char *const handle_download_fields[] = { "file_key", "disposition", "filename", NULL };

static void add_string(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* The headers an upload URL signs: the client must send exactly these. */
struct upload_headers {
    struct s3_param h[MAX_UPLOAD_HEADERS];
    size_t n;
    char clen[24];
};

static void add_header(struct upload_headers *u, const char *name, const char *value)
{
    if (u->n < MAX_UPLOAD_HEADERS)
        u->h[u->n++] = (struct s3_param){ name, value };
}

/*
 * The 200 answer of /upload-url, formatted straight into one buffer: a
 * json-c object tree cost about as much as the signing. Same keys, order
 * and bytes as json_object_to_json_string() (PLAIN, NOSLASHESCAPE) would
 * give.
 */
static void reply_upload(struct req *r, const struct s3_presigned *p, const char *key,
                         const char *type, int64_t size, const struct upload_headers *u,
                         time_t expires_at)
{
    char store[4096], at[32];
    struct buf b;

    buf_init(&b, store, sizeof store);
    buf_add(&b, "{\"presigned_url\":");
    jsonw_str(&b, p->url, strlen(p->url));
    buf_add(&b, ",\"expires_in\":");
    jsonw_i64(&b, p->expires_in);
    buf_add(&b, ",\"expires_at\":");
    size_t n = http_time_iso(expires_at, at, sizeof at);
    jsonw_str(&b, at, n);
    buf_add(&b, ",\"file_key\":");
    jsonw_str(&b, key, strlen(key));
    buf_add(&b, ",\"method\":\"PUT\",\"headers\":{");
    for (size_t i = 0; i < u->n; i++) {
        if (i)
            buf_addc(&b, ',');
        jsonw_str(&b, u->h[i].name, strlen(u->h[i].name));
        buf_addc(&b, ':');
        jsonw_str(&b, u->h[i].value, strlen(u->h[i].value));
    }
    buf_add(&b, "},\"content_type\":");
    jsonw_str(&b, type, strlen(type));
    buf_add(&b, ",\"size\":");
    if (size >= 0)
        jsonw_i64(&b, size);
    else
        buf_add(&b, "null");
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

/*
 * The content type an upload URL signs: the client's own string when its
 * media type is one of the entry's (a browser's File.type, parameters and
 * all, is what the client will send), else the entry's canonical type when
 * the client gave none. NULL after answering 400.
 */
static const char *upload_type(struct req *r, const struct cfg_type *t, const char *ctype)
{
    if (!ctype)
        return t->type;
    if (!http_header_value_ok(ctype, MAX_CONTENT_TYPE)) {
        req_fail(r, 400, "invalid_field", "field 'content_type' must be 1 to %d characters "
                 "of printable ASCII", MAX_CONTENT_TYPE);
        return NULL;
    }
    for (size_t i = 0; i < t->n_aliases; i++)
        if (http_media_type_is(ctype, t->aliases[i]))
            return ctype;
    char store[MAX_SHOWN_TYPES];
    struct buf shown;
    buf_init(&shown, store, sizeof store);
    shown.limit = sizeof store - 1;
    for (size_t i = 0; i < t->n_aliases; i++) {
        buf_add(&shown, i ? ", " : "");
        buf_add(&shown, t->aliases[i]);
    }
    req_fail(r, 400, "content_type_mismatch",
             "content_type does not match the file extension %s (accepted: %s)", t->ext,
             buf_failed(&shown) ? t->type : shown.p);
    buf_free(&shown);
    return NULL;
}

bool handle_new_upload(struct req *r, const char *filename, const char *ctype, char **key,
                       const char **type)
{
    const struct cfg *cfg = r->api->cfg;
    char err[256];

    *key = NULL;
    if (strlen(filename) > MAX_FILENAME_INPUT) {
        req_fail(r, 400, "invalid_filename", "filename longer than %d bytes",
                 MAX_FILENAME_INPUT);
        return false;
    }
    /* The type is decided on the name the key will end with. */
    char *clean = keys_sanitize_filename(filename, cfg->uploads.max_filename_bytes, err,
                                         sizeof err);
    if (!clean) {
        req_fail(r, 400, "invalid_filename", "invalid filename: %s", err);
        return false;
    }
    const struct cfg_type *t = cfg_type_lookup(cfg, clean);
    if (!t) {
        char shown[64];
        shown_extension(clean, shown, sizeof shown);
        free(clean);
        req_fail(r, 400, "file_type_not_allowed", "file type '%s' is not allowed", shown);
        return false;
    }
    if (!(*type = upload_type(r, t, ctype))) {
        free(clean);
        return false;
    }
    /* Minted under the principal's prefix (all of uploads.prefix without
     * auth): the key rules decide, keys.h. */
    *key = keys_new_upload_key(r->who.prefix, clean, cfg->uploads.max_filename_bytes, err,
                               sizeof err);
    free(clean);
    if (!*key) {
        req_fail(r, 400, "invalid_filename", "invalid filename: %s", err);
        return false;
    }
    free(r->audit.content_type);
    r->audit.content_type = strdup(*type);
    return true;
}

bool handle_size_ok(struct req *r, bool sized, int64_t size, int64_t limit, bool required)
{
    if (sized && size > limit) {
        req_fail(r, 413, "file_too_large", "file size %" PRId64 " exceeds the maximum of %"
                 PRId64 " bytes", size, limit);
        return false;
    }
    if (!sized && required) {
        /* Without a signed length S3 takes any length up to 5 GB: the limit
         * would be a number in the answer, not a limit. */
        req_fail(r, 400, "size_required", "field 'size' is required: the upload URL signs "
                 "the file's exact length (at most %" PRId64 " bytes)", limit);
        return false;
    }
    return true;
}

void handle_upload_url(struct req *r)
{
    const struct cfg *cfg = r->api->cfg;
    char err[256];
    bool failed = false;
    int64_t size = -1;

    const char *filename = body_string(r, "filename", BODY_REQUIRED, &failed);
    const char *ctype = failed ? NULL
                               : body_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
    const char *md5 = failed ? NULL : body_digest(r, "md5", BODY_MD5_BYTES, &failed);
    const char *sha256 = failed ? NULL : body_digest(r, "sha256", BODY_SHA256_BYTES, &failed);
    if (failed)
        return;
    bool sized = body_int64(r, "size", 0, &size, &failed);
    if (failed)
        return;
    const char *type;
    char *key;
    if (!handle_new_upload(r, filename, ctype, &key, &type))
        return;
    if (!handle_size_ok(r, sized, size, cfg->presign.max_file_size,
                        cfg->uploads.require_size)) {
        free(key);
        return;
    }
    if (!sized)
        size = -1;
    r->audit.size = size;

    /* Every header here is signed: S3 refuses a PUT whose value differs or
     * that leaves one out. */
    struct upload_headers u = { .n = 0 };
    add_header(&u, "Content-Type", type);
    if (size >= 0) {
        snprintf(u.clen, sizeof u.clen, "%" PRId64, size);
        add_header(&u, "Content-Length", u.clen);
    }
    /* One-shot: a second PUT through the same URL meets an existing object
     * and gets 412, so whoever saw the URL cannot replace the file. */
    if (!cfg->uploads.overwrite)
        add_header(&u, "If-None-Match", "*");
    if (md5)
        add_header(&u, "Content-MD5", md5);
    if (sha256) {
        add_header(&u, "x-amz-checksum-sha256", sha256);
        add_header(&u, "x-amz-sdk-checksum-algorithm", "SHA256");
    }
    struct s3_presign_req pr = {
        .method = "PUT", .key = key, .headers = u.h, .n_headers = u.n,
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
    time_t expires_at = (time_t)clock_wall() + (time_t)p.expires_in;
    r->audit.expires_at = (double)expires_at;
    reply_upload(r, &p, key, type, size, &u, expires_at);
    s3_presigned_free(&p);
    free(key);
}

const char *const handle_form_fields[] = { "filename", "content_type", "size", NULL };

/*
 * POST /upload-form: a presigned POST policy for a plain HTML form (or any
 * client that form-POSTs): the fields to put in the form before the file.
 * S3 itself checks the key, the Content-Type and the length (the exact size
 * when one is given, else 0..max_file_size), so no size is required here.
 */
void handle_upload_form(struct req *r)
{
    const struct cfg *cfg = r->api->cfg;
    char err[256], *key = NULL, at[32];
    bool failed = false;
    int64_t size = -1;
    const char *type;

    const char *filename = body_string(r, "filename", BODY_REQUIRED, &failed);
    const char *ctype = failed ? NULL
                               : body_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
    bool sized = !failed && body_int64(r, "size", 0, &size, &failed);
    if (failed || !handle_new_upload(r, filename, ctype, &key, &type))
        return;
    if (!handle_size_ok(r, sized, size, cfg->presign.max_file_size, false)) {
        free(key);
        return;
    }
    struct s3_post_req pr = {
        .key = key, .content_type = type, .min_size = sized ? size : 0,
        .max_size = sized ? size : cfg->presign.max_file_size,
        .expires = cfg->presign.expires,
    };
    struct s3_posted p = { 0 };
    enum s3_status st = s3_presign_post(r->api->s3, &pr, &p, err, sizeof err);
    if (st != S3_OK) {
        free(key);
        req_fail_presign(r, st, err);
        return;
    }
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    req_audit_subject(r, key);
    r->audit.size = sized ? size : -1;
    time_t expires_at = (time_t)clock_wall() + (time_t)p.expires_in;
    r->audit.expires_at = (double)expires_at;

    struct json_object *o = json_object_new_object(), *f = json_object_new_object();
    add_string(o, "method", "POST");
    add_string(o, "url", p.url);
    for (size_t i = 0; i < p.n_fields; i++)
        add_string(f, p.fields[i].name, p.fields[i].value);
    json_object_object_add(o, "fields", f);
    add_string(o, "file_key", key);
    add_string(o, "content_type", type);
    json_object_object_add(o, "expires_in", json_object_new_int64(p.expires_in));
    add_string(o, "expires_at", http_time_iso(expires_at, at, sizeof at) ? at : NULL);
    json_object_object_add(o, "size", sized ? json_object_new_int64(size) : NULL);
    json_object_object_add(o, "max_file_size", json_object_new_int64(cfg->presign.max_file_size));
    s3_posted_free(&p);
    free(key);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

static void download_head_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;
    char err[256], lm[40], cd_store[1024];
    bool failed = false;

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
    /* Checked by the handler already. */
    const char *disposition = body_string(r, "disposition", BODY_OPTIONAL, &failed);
    const char *filename = body_string(r, "filename", BODY_OPTIONAL, &failed);
    if (!filename)
        filename = keys_original_filename(r->key);
    /* S3 answers the GET with this Content-Disposition: a browser saves the
     * file under its own name rather than the last segment of the key. */
    struct buf cd;
    buf_init(&cd, cd_store, sizeof cd_store);
    http_content_disposition(&cd, disposition ? disposition : "attachment", filename);
    struct s3_param q[1] = { { "response-content-disposition", cd.p } };
    struct s3_presign_req pr = {
        .method = "GET", .key = r->key, .expires = r->api->cfg->presign.expires,
        .query = q, .n_query = 1,
    };
    struct s3_presigned p = { 0 };
    enum s3_status st = buf_failed(&cd) ? S3_ERROR
                        : s3_presign(r->api->s3, &pr, &p, err, sizeof err);
    if (st != S3_OK) {
        if (buf_failed(&cd))
            snprintf(err, sizeof err, "out of memory");
        buf_free(&cd);
        req_fail_presign(r, st, err);
        return;
    }
    metrics_presign(METRICS_PRESIGN_DOWNLOAD);
    r->audit.size = res->content_length;
    time_t expires_at = (time_t)clock_wall() + (time_t)p.expires_in;
    r->audit.expires_at = (double)expires_at;

    struct json_object *o = json_object_new_object();
    add_string(o, "presigned_url", p.url);
    json_object_object_add(o, "expires_in", json_object_new_int64(p.expires_in));
    char at[32];
    add_string(o, "expires_at", http_time_iso(expires_at, at, sizeof at) ? at : NULL);
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
    add_string(o, "filename", filename);
    add_string(o, "content_disposition", cd.p);
    buf_free(&cd);
    s3_presigned_free(&p);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

void handle_download_url(struct req *r)
{
    bool failed = false;
    char err[128];

    const char *key = body_string(r, "file_key", BODY_REQUIRED, &failed);
    const char *disposition = failed ? NULL
                                     : body_string(r, "disposition", BODY_OPTIONAL, &failed);
    const char *filename = failed ? NULL : body_string(r, "filename", BODY_OPTIONAL, &failed);
    if (failed)
        return;
    if (disposition && strcmp(disposition, "attachment") && strcmp(disposition, "inline")) {
        req_fail(r, 400, "invalid_field",
                 "field 'disposition' must be \"attachment\" or \"inline\"");
        return;
    }
    if (filename && !keys_display_name_ok(filename, MAX_DOWNLOAD_NAME, err, sizeof err)) {
        req_fail(r, 400, "invalid_field", "field 'filename' %s", err);
        return;
    }
    handle_head_object(r, key, download_head_done);
}
