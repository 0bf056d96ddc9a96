/*
 * handle_s3sign.c - POST /s3/sign, Uppy 6's signRequest: a presigned URL
 * for one S3 request of an upload, which the browser then makes itself.
 * It holds those uploads to the rules of Companion's routes (handle_s3.c)
 * with the same checks (handle_s3.h): new keys minted by presignd, keys
 * sent back passing the key rules, part numbers within the multipart
 * limit, and a completion signed only when the parts S3 lists are within
 * it (an upload over it is aborted instead).
 */
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "body.h"
#include "clock.h"
#include "config.h"
#include "handle_s3.h"
#include "keys.h"
#include "metrics.h"
#include "req.h"
#include "s3.h"
#include "s3walk.h"

const char *const handle_s3_sign_fields[] = {
    "method", "key", "uploadId", "partNumber", "filename", "type", "contentType", "size",
    "expiresIn", NULL
};

/* A presigned URL for R's key: METHOD, query Q (N_Q), headers H (N_H). */
static void reply_signed(struct req *r, const char *method, const struct s3_param *q,
                         size_t n_q, const struct s3_param *h, size_t n_h, bool with_key)
{
    char err[256];
    struct s3_presign_req pr = { .method = method, .key = r->key, .query = q, .n_query = n_q,
                                 .headers = h, .n_headers = n_h,
                                 .expires = r->api->cfg->presign.expires };
    struct s3_presigned p = { 0 };

    enum s3_status st = s3_presign(r->api->s3, &pr, &p, err, sizeof err);
    if (st != S3_OK) {
        req_fail_presign(r, st, err);
        return;
    }
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    r->audit.expires_at = clock_wall() + (double)p.expires_in;
    struct json_object *o = json_object_new_object(), *hdrs = json_object_new_object();
    s3h_add_string(o, "url", p.url);
    if (with_key)
        s3h_add_string(o, "key", r->key);
    for (size_t i = 0; i < n_h; i++)
        s3h_add_string(hdrs, h[i].name, h[i].value);
    json_object_object_add(o, "headers", hdrs);
    json_object_object_add(o, "expires", json_object_new_int64(p.expires_in));
    s3_presigned_free(&p);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

static void sign_complete_listed(struct req *r, struct s3walk *w)
{
    int64_t total = s3walk_total(w);

    if (total > cfg_multipart_limit(r->api->cfg)) {
        s3h_abort_over_limit(r, w, total);
        return;
    }
    r->audit.size = total;
    struct s3_param q[1] = { { "uploadId", w->upload_id } };
    reply_signed(r, "POST", q, 1, NULL, 0, false);
}

/* A new upload through /s3/sign: PutObject (MULTIPART false) or
 * CreateMultipartUpload, under a key presignd mints and returns (Uppy 6
 * takes it in place of its own proposal). */
static void sign_new_upload(struct req *r, const char *proposal, bool multipart)
{
    const struct cfg *cfg = r->api->cfg;
    bool failed = false;
    int64_t size = -1;
    const char *type;
    char *key = NULL;

    const char *filename = body_string(r, "filename", BODY_OPTIONAL, &failed);
    const char *ctype = failed ? NULL : body_string(r, "type", BODY_EMPTY_IS_ABSENT, &failed);
    if (!ctype && !failed)
        ctype = body_string(r, "contentType", BODY_EMPTY_IS_ABSENT, &failed);
    bool sized = !failed && body_int64(r, "size", 0, &size, &failed);
    if (failed)
        return;
    /* Uppy proposes "<uuid>-<file name>": the name, when the page did not
     * send it. */
    if (!filename)
        filename = keys_original_filename(proposal);
    if (!handle_new_upload(r, filename, ctype, &key, &type))
        return;
    r->key = key;
    int64_t limit = multipart ? cfg_multipart_limit(cfg) : cfg->presign.max_file_size;
    if (!handle_size_ok(r, sized, size, limit, !multipart && cfg->uploads.require_size))
        return;
    r->audit.size = sized ? size : -1;
    req_audit_subject(r, key);
    char clen[24];
    struct s3_param h[2] = { { "Content-Type", type } };
    size_t nh = 1;
    if (multipart) {
        struct s3_param q[1] = { { "uploads", "" } };
        reply_signed(r, "POST", q, 1, h, nh, true);
        return;
    }
    if (sized) {
        snprintf(clen, sizeof clen, "%" PRId64, size);
        h[nh++] = (struct s3_param){ "Content-Length", clen };
    }
    reply_signed(r, "PUT", NULL, 0, h, nh, true);
}

void handle_s3_sign(struct req *r)
{
    bool failed = false;
    int64_t part = 0;

    const char *method = body_string(r, "method", BODY_REQUIRED, &failed);
    const char *key = failed ? NULL : body_string(r, "key", BODY_REQUIRED, &failed);
    const char *upload_id = failed ? NULL : body_string(r, "uploadId", BODY_OPTIONAL, &failed);
    bool has_part = !failed && body_int64(r, "partNumber", 1, &part, &failed);
    if (failed)
        return;
    if (strcmp(method, "GET") && strcmp(method, "PUT") && strcmp(method, "POST") &&
        strcmp(method, "DELETE")) {
        req_fail(r, 400, "invalid_field", "method must be GET, PUT, POST or DELETE");
        return;
    }
    if (has_part && (part > S3H_MAX_PARTS || !upload_id)) {
        req_fail(r, 400, "invalid_field", "partNumber must be 1 to %d, with an uploadId",
                 S3H_MAX_PARTS);
        return;
    }
    if (!upload_id) {
        if (!strcmp(method, "PUT") || !strcmp(method, "POST")) {
            r->audit.action = !strcmp(method, "PUT") ? "upload" : "multipart_create";
            sign_new_upload(r, key, !strcmp(method, "POST"));
        } else {
            /* Reading and deleting objects go through /download-url and
             * DELETE /files, with their own permissions. */
            req_fail(r, 400, "invalid_field", "%s without an uploadId is not an upload",
                     method);
        }
        return;
    }
    if (!s3h_upload_id_ok(r, upload_id))
        return;
    r->audit.upload_id = strdup(upload_id);
    req_audit_subject(r, key);
    if (!handle_key_allowed(r, key))
        return;
    if (!(r->key = strdup(key))) {
        req_fail(r, 500, "internal_error", "out of memory");
        return;
    }
    struct s3_param q[2] = { { "uploadId", upload_id } };
    if (!strcmp(method, "PUT")) {
        r->audit.action = "multipart_sign_part";
        if (!has_part) {
            req_fail(r, 400, "missing_field", "an UploadPart needs a partNumber");
            return;
        }
        if (!s3h_part_fits(r, (int)part))
            return;
        char num[8];
        snprintf(num, sizeof num, "%d", (int)part);
        q[1] = (struct s3_param){ "partNumber", num };
        reply_signed(r, "PUT", q, 2, NULL, 0, false);
    } else if (!strcmp(method, "GET")) {
        r->audit.action = "multipart_list_parts";
        reply_signed(r, "GET", q, 1, NULL, 0, false);
    } else if (!strcmp(method, "DELETE")) {
        r->audit.action = "multipart_abort";
        reply_signed(r, "DELETE", q, 1, NULL, 0, false);
    } else {
        r->audit.action = "multipart_complete";
        char *id = strdup(upload_id);
        if (!id) {
            req_fail(r, 500, "internal_error", "out of memory");
            return;
        }
        s3walk_start(r, id, NULL, 0, sign_complete_listed);
    }
}
