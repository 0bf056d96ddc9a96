/*
 * handle_s3.c - the routes Uppy's @uppy/aws-s3 speaks to its backend in
 * Companion mode (the contract of Uppy's own server, Companion, and its
 * answer shapes), and the checks POST /s3/sign, Uppy 6's signRequest
 * (handle_s3sign.c), makes alike (handle_s3.h):
 *
 *   GET    /s3/params                          a presigned POST policy (or PUT)
 *   POST   /s3/multipart                       CreateMultipartUpload
 *   GET    /s3/multipart/{uploadId}            ListParts, every page
 *   GET    /s3/multipart/{uploadId}/{part}     a presigned UploadPart
 *   GET    /s3/multipart/{uploadId}/batch      several of them
 *   POST   /s3/multipart/{uploadId}/complete   CompleteMultipartUpload
 *   DELETE /s3/multipart/{uploadId}            AbortMultipartUpload
 *   POST   /s3/sign                            a presigned URL for one S3 request
 *                                               (handle_s3sign.c)
 *
 * Create, ListParts, Complete and Abort are presignd's own calls on the
 * worker's S3 client; only the part uploads go from the browser to S3. New
 * keys are minted as for /upload-url (handle_new_upload), and every key a
 * client sends back passes the key rules (handle_key_allowed): an uploadId
 * that does not belong to that key is S3's to refuse.
 *
 * The size limit of a multipart upload (cfg_multipart_limit) is checked
 * when it is completed, on the parts S3 lists (every page: s3walk.c), with
 * the ETags it lists: a part uploaded again after the check has another
 * ETag, and S3 then refuses the completion. An upload over the limit is
 * aborted. Part numbers that could only belong to an upload over the
 * limit (every part but the last is at least 5 MiB) are refused when they
 * are signed.
 */
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <json-c/json.h>

#include "api.h"
#include "body.h"
#include "clock.h"
#include "config.h"
#include "handle_s3.h"
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "query.h"
#include "req.h"
#include "route.h"
#include "s3.h"
#include "s3meta.h"
#include "s3walk.h"

#define MAX_PARTS        S3H_MAX_PARTS  /* tests/fuzz reach it by this name */
#define MIN_PART_SIZE    (5 * 1024 * 1024)  /* S3's, for every part but the last */
#define MAX_UPLOAD_ID    1024
#define MAX_BATCH        MAX_PARTS

const char *const handle_s3_create_fields[] = { "filename", "type", "metadata", NULL };
const char *const handle_s3_complete_fields[] = { "parts", NULL };

void s3h_add_string(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* ------------------------------------------------------------ inputs */

static bool read_query(struct req *r, struct query *q)
{
    if (query_parse(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev)), q) < 0) {
        req_fail(r, 400, "invalid_field", "malformed query string");
        return false;
    }
    return true;
}

/* An uploadId as S3 makes them: printable ASCII. */
bool s3h_upload_id_ok(struct req *r, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    bool ok = n > 0 && n <= MAX_UPLOAD_ID;

    for (size_t i = 0; ok && i < n; i++)
        ok = id[i] > 0x20 && id[i] < 0x7f;
    if (!ok)
        req_fail(r, 400, "invalid_field", "uploadId must be 1 to %d printable characters",
                 MAX_UPLOAD_ID);
    return ok;
}

/* The {uploadId} of the path and the key of the query, both checked; the
 * key goes to r->key, the upload id to the audit line. */
static bool upload_of(struct req *r, const struct query *q, char **upload_id)
{
    const char *key = query_get(q, "key");

    *upload_id = handle_path_param(r, "uploadId");
    if (!*upload_id)
        return false;
    if (!s3h_upload_id_ok(r, *upload_id))
        return false;
    r->audit.upload_id = strdup(*upload_id);
    if (!key || !*key) {
        req_fail(r, 400, "missing_field", "query parameter 'key' is required");
        return false;
    }
    req_audit_subject(r, key);
    if (!handle_key_allowed(r, key))
        return false;
    if (!(r->key = strdup(key))) {
        req_fail(r, 500, "internal_error", "out of memory");
        return false;
    }
    return true;
}

/* "1".."10000" */
static int part_number(const char *s)
{
    int v = 0;

    if (!s || !*s || strlen(s) > 5)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= MAX_PARTS ? v : -1;
}

/* Part N of an upload that stays within the limit? Every part before it
 * holds at least 5 MiB, so a part number past LIMIT / 5 MiB + 1 cannot. */
bool s3h_part_fits(struct req *r, int n)
{
    int64_t limit = cfg_multipart_limit(r->api->cfg);

    if ((int64_t)(n - 1) * MIN_PART_SIZE >= limit) {
        req_fail(r, 413, "file_too_large", "part %d cannot be in an upload of at most %"
                 PRId64 " bytes (every part before it holds at least 5 MiB)", n, limit);
        return false;
    }
    return true;
}

/* Metadata of a JSON body: string values; null ones are left out. */
static bool meta_from_json(struct req *r, struct json_object *o, struct s3meta *m)
{
    char err[160];

    if (!o)
        return true;
    if (!json_object_is_type(o, json_type_object)) {
        req_fail(r, 400, "invalid_field", "field 'metadata' must be an object");
        return false;
    }
    json_object_object_foreach(o, k, v) {
        if (v && (json_object_is_type(v, json_type_object) ||
                  json_object_is_type(v, json_type_array))) {
            req_fail(r, 400, "invalid_field", "metadata values are strings");
            return false;
        }
        if (!s3meta_add(m, k, v ? json_object_get_string(v) : NULL, err, sizeof err)) {
            req_fail(r, 400, "invalid_field", "%s", err);
            return false;
        }
    }
    return true;
}

/* Metadata of a query: metadata[NAME]=VALUE. */
static bool meta_from_query(struct req *r, const struct query *q, struct s3meta *m)
{
    char err[160], name[S3META_MAX_NAME + 2];

    for (size_t i = 0; i < q->n; i++) {
        const char *k = q->params[i].name;
        size_t n = strlen(k);
        if (strncmp(k, "metadata[", 9) != 0 || k[n - 1] != ']')
            continue;
        if (n - 10 > S3META_MAX_NAME) {
            req_fail(r, 400, "invalid_field", "metadata names are 1 to %d characters",
                     S3META_MAX_NAME);
            return false;
        }
        memcpy(name, k + 9, n - 10);
        name[n - 10] = '\0';
        if (!s3meta_add(m, name, q->params[i].value, err, sizeof err)) {
            req_fail(r, 400, "invalid_field", "%s", err);
            return false;
        }
    }
    return true;
}

/* S3's refusal of a multipart call, as the API's error. */
void s3h_fail_multipart(struct req *r, const struct s3_result *res)
{
    const char *code = res->code ? res->code : "";

    if (res->status == S3_NOT_FOUND || strcmp(code, "NoSuchUpload") == 0) {
        req_fail(r, 404, "upload_not_found", "no multipart upload %s for %s",
                 r->audit.upload_id ? r->audit.upload_id : "", r->key ? r->key : "");
    } else if (res->status == S3_ERROR && (strcmp(code, "InvalidPart") == 0 ||
                                           strcmp(code, "InvalidPartOrder") == 0)) {
        req_fail(r, 400, "invalid_part", "S3 refused the part list (%s)", code);
    } else if (res->status == S3_ERROR && strcmp(code, "EntityTooSmall") == 0) {
        req_fail(r, 400, "part_too_small", "every part but the last must hold at least "
                 "5 MiB (%s)", code);
    } else {
        req_fail_s3(r, res);
    }
}

/* --------------------------------------------- presigned single uploads */

/* The fields of a POST policy as a JSON object, in the order to send. */
static struct json_object *fields_json(const struct s3_posted *p)
{
    struct json_object *f = json_object_new_object();

    for (size_t i = 0; i < p->n_fields; i++)
        s3h_add_string(f, p->fields[i].name, p->fields[i].value);
    return f;
}

/*
 * GET /s3/params: a presigned POST policy, which every Uppy major uploads
 * with (6.x always form-POSTs the fields; 4.x and 5.x follow "method", whose
 * default is POST), and which lets S3 itself enforce the size range.
 *
 * A presigned PUT instead (Content-Length signed: the exact size) for a
 * client that asks with method=PUT, or that sends Accept: application/json
 * and the file's size (size, or metadata[size]): Uppy 4 and 5 do the first
 * on every call, and follow "method" and "headers", while Uppy 6 never
 * sends that Accept here. That is what makes Uppy 4 and 5 work with S3
 * servers that answer a form POST without an ETag header (Ceph RGW), which
 * they wait for forever.
 */
void handle_s3_params(struct req *r)
{
    const struct cfg *cfg = r->api->cfg;
    struct query q;
    struct s3meta meta;
    char err[256], *key = NULL;
    const char *type;

    s3meta_init(&meta);
    if (!read_query(r, &q))
        return;
    const char *filename = query_get(&q, "filename");
    const char *ctype = query_get(&q, "type");
    const char *method = query_get(&q, "method");
    const char *size_s = query_get(&q, "size");
    if (!size_s)
        size_s = query_get(&q, "metadata[size]");
    int64_t size = -1;
    if (!filename || !*filename) {
        req_fail(r, 400, "missing_field", "query parameter 'filename' is required");
        goto out;
    }
    if (method && strcasecmp(method, "PUT") && strcasecmp(method, "POST")) {
        req_fail(r, 400, "invalid_field", "method must be POST or PUT");
        goto out;
    }
    if (size_s && (!*size_s || strlen(size_s) > 18 ||
                   strspn(size_s, "0123456789") != strlen(size_s))) {
        req_fail(r, 400, "invalid_field", "size must be a whole number of bytes");
        goto out;
    }
    if (size_s)
        size = strtoll(size_s, NULL, 10);
    if (!meta_from_query(r, &q, &meta) ||
        !handle_new_upload(r, filename, ctype && *ctype ? ctype : NULL, &key, &type))
        goto out;
    const char *accept = req_header(r, "Accept");
    bool put = (method && !strcasecmp(method, "PUT")) ||
               (!method && size >= 0 && accept && http_media_type_is(accept, "application/json"));
    if (!handle_size_ok(r, size >= 0, size, cfg->presign.max_file_size,
                        put && cfg->uploads.require_size))
        goto out;
    r->audit.size = size;

    struct json_object *o = json_object_new_object();
    time_t now = (time_t)clock_wall();
    if (put) {
        /* Content-Length last: it is signed, but not among the headers the
         * client is told to set (a browser sets it, and refuses to be told). */
        char clen[24], names[S3META_MAX_ITEMS][S3META_MAX_NAME + 12];
        struct s3_param h[3 + S3META_MAX_ITEMS] = { { "Content-Type", type } };
        size_t nh = 1;
        if (!cfg->uploads.overwrite)
            h[nh++] = (struct s3_param){ "If-None-Match", "*" };
        nh += s3meta_headers(&meta, h + nh, names);
        size_t shown = nh;
        if (size >= 0) {
            snprintf(clen, sizeof clen, "%" PRId64, size);
            h[nh++] = (struct s3_param){ "Content-Length", clen };
        }
        struct s3_presign_req pr = { .method = "PUT", .key = key, .headers = h,
                                     .n_headers = nh, .expires = cfg->presign.expires };
        struct s3_presigned p = { 0 };
        enum s3_status st = s3_presign(r->api->s3, &pr, &p, err, sizeof err);
        if (st != S3_OK) {
            json_object_put(o);
            req_fail_presign(r, st, err);
            goto out;
        }
        struct json_object *hdrs = json_object_new_object();
        for (size_t i = 0; i < shown; i++)
            s3h_add_string(hdrs, h[i].name, h[i].value);
        s3h_add_string(o, "method", "PUT");
        s3h_add_string(o, "url", p.url);
        json_object_object_add(o, "fields", json_object_new_object());
        json_object_object_add(o, "headers", hdrs);
        json_object_object_add(o, "expires", json_object_new_int64(p.expires_in));
        r->audit.expires_at = (double)(now + p.expires_in);
        s3_presigned_free(&p);
    } else {
        struct s3_post_req pr = {
            .key = key, .content_type = type,
            .min_size = size >= 0 ? size : 0,
            .max_size = size >= 0 ? size : cfg->presign.max_file_size,
            .meta = meta.items, .n_meta = meta.n, .expires = cfg->presign.expires,
        };
        struct s3_posted p = { 0 };
        enum s3_status st = s3_presign_post(r->api->s3, &pr, &p, err, sizeof err);
        if (st != S3_OK) {
            json_object_put(o);
            req_fail_presign(r, st, err);
            goto out;
        }
        /* No "headers": Uppy 4 and 5 would set them on the form POST. */
        s3h_add_string(o, "method", "POST");
        s3h_add_string(o, "url", p.url);
        json_object_object_add(o, "fields", fields_json(&p));
        json_object_object_add(o, "expires", json_object_new_int64(p.expires_in));
        r->audit.expires_at = (double)(now + p.expires_in);
        s3_posted_free(&p);
    }
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    req_audit_subject(r, key);
    req_reply_json(r, 200, o, REQ_NO_STORE);
out:
    free(key);
    s3meta_free(&meta);
    query_free(&q);
}

/* ---------------------------------------------------------- multipart */

static void create_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status != S3_OK) {
        s3h_fail_multipart(r, res);
        return;
    }
    r->audit.upload_id = strdup(res->upload_id);
    struct json_object *o = json_object_new_object();
    s3h_add_string(o, "key", r->key);
    s3h_add_string(o, "uploadId", res->upload_id);
    s3h_add_string(o, "bucket", r->api->cfg->s3.bucket);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

/* POST /s3/multipart {filename, type, metadata} -> {key, uploadId, bucket} */
void handle_s3_create(struct req *r)
{
    bool failed = false;
    struct s3meta meta;
    struct s3_param hdrs[S3META_MAX_ITEMS];
    char names[S3META_MAX_ITEMS][S3META_MAX_NAME + 12];
    char *key = NULL;
    const char *type;

    s3meta_init(&meta);
    const char *filename = body_string(r, "filename", BODY_REQUIRED, &failed);
    const char *ctype = failed ? NULL : body_string(r, "type", BODY_EMPTY_IS_ABSENT, &failed);
    struct json_object *mo = NULL;
    json_object_object_get_ex(r->body, "metadata", &mo);
    if (failed || !meta_from_json(r, mo, &meta) ||
        !handle_new_upload(r, filename, ctype, &key, &type))
        goto out;
    r->key = key;
    key = NULL;
    req_audit_subject(r, r->key);
    size_t n = s3meta_headers(&meta, hdrs, names);
    req_wait(r);
    r->op = s3_create_multipart(r->api->s3, r->key, type, hdrs, n, create_done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
out:
    free(key);
    s3meta_free(&meta);
}

static void list_done(struct req *r, struct s3walk *w)
{
    struct json_object *a = json_object_new_array();
    char quoted[160];

    for (size_t i = 0; i < w->n; i++) {
        struct json_object *p = json_object_new_object();
        /* A number: Uppy 4 and 5 compare it with ===. The ETag quoted, as
         * S3 (and Companion) give it. */
        json_object_object_add(p, "PartNumber", json_object_new_int(w->parts[i].number));
        json_object_object_add(p, "Size", json_object_new_int64(w->parts[i].size));
        snprintf(quoted, sizeof quoted, "\"%s\"", w->parts[i].etag);
        s3h_add_string(p, "ETag", quoted);
        json_object_array_add(a, p);
    }
    r->audit.size = s3walk_total(w);
    req_reply_json(r, 200, a, REQ_NO_STORE);
}

/* GET /s3/multipart/{uploadId}?key= -> [{PartNumber, Size, ETag}] */
void handle_s3_list_parts(struct req *r)
{
    struct query q;
    char *upload_id = NULL;

    if (!read_query(r, &q))
        return;
    bool ok = upload_of(r, &q, &upload_id);
    query_free(&q);
    if (ok)
        s3walk_start(r, upload_id, NULL, 0, list_done);
    else
        free(upload_id);
}

/* A presigned UploadPart: no Content-Type (a Blob slice has none). */
static char *sign_part(struct req *r, const char *upload_id, int n, long *expires_in)
{
    char num[8], err[256];
    struct s3_param qp[2] = { { "partNumber", num }, { "uploadId", upload_id } };
    struct s3_presign_req pr = { .method = "PUT", .key = r->key, .query = qp, .n_query = 2,
                                 .expires = r->api->cfg->presign.expires };
    struct s3_presigned p = { 0 };

    snprintf(num, sizeof num, "%d", n);
    enum s3_status st = s3_presign(r->api->s3, &pr, &p, err, sizeof err);
    if (st != S3_OK) {
        req_fail_presign(r, st, err);
        return NULL;
    }
    *expires_in = p.expires_in;
    return p.url;
}

/* GET /s3/multipart/{uploadId}/{partNumber}?key= -> {url, expires} */
void handle_s3_sign_part(struct req *r)
{
    struct query q;
    char *upload_id = NULL, *pn = NULL;
    long expires = 0;

    if (!read_query(r, &q))
        return;
    if (!upload_of(r, &q, &upload_id) || !(pn = handle_path_param(r, "partNumber")))
        goto out;
    int n = part_number(pn);
    if (n < 0) {
        req_fail(r, 400, "invalid_field", "partNumber must be 1 to %d", MAX_PARTS);
        goto out;
    }
    if (!s3h_part_fits(r, n))
        goto out;
    char *url = sign_part(r, upload_id, n, &expires);
    if (!url)
        goto out;
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    r->audit.expires_at = clock_wall() + (double)expires;
    struct json_object *o = json_object_new_object();
    s3h_add_string(o, "url", url);
    json_object_object_add(o, "expires", json_object_new_int64(expires));
    free(url);
    req_reply_json(r, 200, o, REQ_NO_STORE);
out:
    free(upload_id);
    free(pn);
    query_free(&q);
}

/* GET /s3/multipart/{uploadId}/batch?key=&partNumbers=1,2 ->
 * {presignedUrls: {"1": url, ...}} (Companion serves it for older Uppys) */
void handle_s3_sign_batch(struct req *r)
{
    struct query q;
    char *upload_id = NULL;
    long expires = 0;

    if (!read_query(r, &q))
        return;
    if (!upload_of(r, &q, &upload_id))
        goto out;
    const char *list = query_get(&q, "partNumbers");
    if (!list || !*list) {
        req_fail(r, 400, "missing_field", "query parameter 'partNumbers' is required");
        goto out;
    }
    struct json_object *urls = json_object_new_object();
    size_t count = 0;
    for (const char *p = list; p && *p; count++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char num[8];
        int n = -1;
        if (len > 0 && len < sizeof num) {
            memcpy(num, p, len);
            num[len] = '\0';
            n = part_number(num);
        }
        if (n < 0 || count >= MAX_BATCH) {
            json_object_put(urls);
            req_fail(r, 400, "invalid_field", "partNumbers must list part numbers 1 to %d",
                     MAX_PARTS);
            goto out;
        }
        if (!s3h_part_fits(r, n)) {
            json_object_put(urls);
            goto out;
        }
        char *url = sign_part(r, upload_id, n, &expires);
        if (!url) {
            json_object_put(urls);
            goto out;
        }
        s3h_add_string(urls, num, url);
        free(url);
        p = comma ? comma + 1 : NULL;
    }
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "presignedUrls", urls);
    req_reply_json(r, 200, o, REQ_NO_STORE);
out:
    free(upload_id);
    query_free(&q);
}

static void abort_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;

    r->op = NULL;
    req_s3_account(r, res);
    /* Gone already is what the client wants. */
    if (res->status != S3_OK && res->status != S3_NOT_FOUND) {
        s3h_fail_multipart(r, res);
        return;
    }
    req_reply_json(r, 200, json_object_new_object(), REQ_NO_STORE);
}

/* DELETE /s3/multipart/{uploadId}?key= -> {} */
void handle_s3_abort(struct req *r)
{
    struct query q;
    char *upload_id = NULL;

    if (!read_query(r, &q))
        return;
    if (upload_of(r, &q, &upload_id)) {
        req_wait(r);
        r->op = s3_abort_multipart(r->api->s3, r->key, upload_id, abort_done, r);
        if (!r->op)
            req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
    }
    free(upload_id);
    query_free(&q);
}

/* ETags compared without their quotes, in any case. */
static bool same_etag(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la >= 2 && a[0] == '"' && a[la - 1] == '"') {
        a++;
        la -= 2;
    }
    if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"') {
        b++;
        lb -= 2;
    }
    return la == lb && strncasecmp(a, b, la) == 0;
}

static void over_limit_aborted(const struct s3_result *res, void *arg)
{
    struct req *r = arg;

    r->op = NULL;
    req_s3_account(r, res);
    req_fail(r, 413, "file_too_large", "the upload holds %" PRId64 " bytes, more than the "
             "maximum of %" PRId64 ": it was aborted%s", r->audit.size,
             cfg_multipart_limit(r->api->cfg),
             res->status == S3_OK || res->status == S3_NOT_FOUND ? ""
                                                                 : " (the abort failed)");
}

/* Over the limit: abort it (its parts cost storage) and say why. */
void s3h_abort_over_limit(struct req *r, const struct s3walk *w, int64_t total)
{
    r->audit.size = total;
    req_wait(r);
    r->op = s3_abort_multipart(r->api->s3, r->key, w->upload_id, over_limit_aborted, r);
    if (!r->op)
        req_fail(r, 413, "file_too_large", "the upload holds %" PRId64 " bytes, more than "
                 "the maximum of %" PRId64, total, cfg_multipart_limit(r->api->cfg));
}

static void complete_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status != S3_OK) {
        s3h_fail_multipart(r, res);
        return;
    }
    struct json_object *o = json_object_new_object();
    s3h_add_string(o, "location", res->location);
    s3h_add_string(o, "key", r->key);
    s3h_add_string(o, "bucket", r->api->cfg->s3.bucket);
    if (res->etag)
        s3h_add_string(o, "etag", res->etag);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

static void complete_listed(struct req *r, struct s3walk *w)
{
    int64_t total = 0;

    /* The object is made of the parts S3 has, as listed now: each must be
     * there with the ETag the client saw. */
    for (size_t i = 0; i < w->n_wanted; i++) {
        const struct s3_part *p = s3walk_part(w, w->wanted[i].number);
        if (!p || !same_etag(p->etag, w->wanted[i].etag)) {
            req_fail(r, 400, "invalid_part", "part %d %s", w->wanted[i].number,
                     p ? "has another ETag in S3" : "was not uploaded");
            return;
        }
        total += p->size > 0 ? p->size : 0;
    }
    if (total > cfg_multipart_limit(r->api->cfg)) {
        s3h_abort_over_limit(r, w, total);
        return;
    }
    r->audit.size = total;
    req_wait(r);
    r->op = s3_complete_multipart(r->api->s3, r->key, w->upload_id, w->wanted, w->n_wanted,
                                  complete_done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
}

static int by_number(const void *a, const void *b)
{
    const struct s3_part *x = a, *y = b;

    return (x->number > y->number) - (x->number < y->number);
}

/* The client's part list: [{PartNumber, ETag}], sorted. False after
 * answering; *OUT and *N are the caller's to free either way. */
static bool wanted_parts(struct req *r, struct s3_part **out, size_t *n)
{
    struct json_object *a = NULL;

    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(r->body, "parts", &a) || !a) {
        req_fail(r, 400, "missing_field", "field 'parts' is required");
        return false;
    }
    size_t len = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
    if (len == 0 || len > MAX_PARTS) {
        req_fail(r, 400, "invalid_field", "field 'parts' must list 1 to %d parts", MAX_PARTS);
        return false;
    }
    if (!(*out = calloc(len, sizeof **out))) {
        req_fail(r, 500, "internal_error", "out of memory");
        return false;
    }
    struct s3_part *p = *out;
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(a, i), *num = NULL, *etag = NULL;
        if (!json_object_is_type(e, json_type_object) ||
            !json_object_object_get_ex(e, "PartNumber", &num) ||
            !json_object_object_get_ex(e, "ETag", &etag) ||
            !json_object_is_type(num, json_type_int) ||
            !json_object_is_type(etag, json_type_string) ||
            json_object_get_int64(num) < 1 || json_object_get_int64(num) > MAX_PARTS) {
            req_fail(r, 400, "invalid_field", "each part is {\"PartNumber\": 1..%d, "
                     "\"ETag\": \"...\"}", MAX_PARTS);
            return false;
        }
        p[i].number = (int)json_object_get_int64(num);
        p[i].size = -1;
        p[i].etag = strdup(json_object_get_string(etag));
        *n = i + 1;
        if (!p[i].etag) {
            req_fail(r, 500, "internal_error", "out of memory");
            return false;
        }
    }
    qsort(p, len, sizeof *p, by_number);
    for (size_t i = 1; i < len; i++)
        if (p[i].number == p[i - 1].number) {
            req_fail(r, 400, "invalid_field", "part %d is listed twice", p[i].number);
            return false;
        }
    return true;
}

/* POST /s3/multipart/{uploadId}/complete?key= {parts} -> {location, key, bucket} */
void handle_s3_complete(struct req *r)
{
    struct query q;
    char *upload_id = NULL;
    struct s3_part *parts = NULL;
    size_t n = 0;

    if (!read_query(r, &q))
        return;
    if (!upload_of(r, &q, &upload_id) || !wanted_parts(r, &parts, &n)) {
        free(upload_id);
        for (size_t i = 0; i < n; i++)
            free(parts[i].etag);
        free(parts);
        query_free(&q);
        return;
    }
    query_free(&q);
    s3walk_start(r, upload_id, parts, n, complete_listed);
}

/* GET and DELETE share /s3/multipart/{uploadId}. */
void handle_s3_multipart(struct req *r)
{
    if (r->cmd == ROUTE_DELETE) {
        r->audit.action = "multipart_abort";
        handle_s3_abort(r);
    } else {
        r->audit.action = "multipart_list_parts";
        handle_s3_list_parts(r);
    }
}
