/*
 * handle_files.c - the objects themselves: GET /files (ListObjectsV2 under
 * a prefix, paged), DELETE /files/{file_key} (DeleteObject) and POST
 * /upload-complete (HeadObject: is the upload there, and is it what the
 * upload URL was signed for). Keys and prefixes a client sends pass the key
 * rules (keys.h) before anything reaches S3.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <json-c/json.h>

#include "api.h"
#include "b64.h"
#include "body.h"
#include "config.h"
#include "http.h"
#include "keys.h"
#include "query.h"
#include "req.h"
#include "s3.h"

#define MAX_TOKEN_BYTES 1024

const char *const handle_complete_fields[] = {
    "file_key", "size", "content_type", "md5", NULL
};

static void add_string(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void list_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;
    char lm[40];

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status != S3_OK) {
        if (res->status == S3_NOT_FOUND)
            req_fail(r, 502, "s3_error", "the bucket does not exist (%s)",
                     res->code ? res->code : "NoSuchBucket");
        else
            req_fail_s3(r, res);
        return;
    }
    struct json_object *o = json_object_new_object(), *files = json_object_new_array();
    for (size_t i = 0; i < res->n_objects; i++) {
        const struct s3_object *ob = &res->objects[i];
        struct json_object *f = json_object_new_object();
        add_string(f, "key", ob->key);
        json_object_object_add(f, "size", json_object_new_int64(ob->size));
        if (ob->last_modified && http_time_normalize(ob->last_modified, lm, sizeof lm))
            add_string(f, "last_modified", lm);
        else
            add_string(f, "last_modified", ob->last_modified);
        add_string(f, "etag", ob->etag);
        json_object_array_add(files, f);
    }
    json_object_object_add(o, "files", files);
    json_object_object_add(o, "count", json_object_new_int64((int64_t)res->n_objects));
    json_object_object_add(o, "is_truncated", json_object_new_boolean(res->truncated));
    add_string(o, "next_continuation_token",
               res->truncated && res->next_token && *res->next_token ? res->next_token : NULL);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

static int parse_max_keys(const char *s, int *out)
{
    long v = 0;

    if (!*s || strlen(s) > 4)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 1000)
        return -1;
    *out = (int)v;
    return 0;
}

static bool token_sane(const char *token)
{
    size_t n = strlen(token);

    if (n == 0 || n > MAX_TOKEN_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
            return false;
    return true;
}

void handle_list_files(struct req *r)
{
    const struct cfg *cfg = r->api->cfg;
    struct query q;
    int max_keys = 100;
    char err[256];

    if (query_parse(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev)), &q) < 0) {
        req_fail(r, 400, "invalid_field", "malformed query string");
        return;
    }
    const char *prefix = query_get(&q, "prefix");
    const char *mk = query_get(&q, "max_keys");
    const char *token = query_get(&q, "continuation_token");
    if (mk && parse_max_keys(mk, &max_keys) != 0) {
        req_fail(r, 400, "invalid_field", "max_keys must be an integer from 1 to 1000");
        goto out;
    }
    if (!prefix)
        prefix = r->who.prefix;
    req_audit_subject(r, prefix);
    switch (keys_list_access(prefix, cfg->uploads.prefix, r->who.prefix, err, sizeof err)) {
    case KEYS_INVALID:
        req_fail(r, 400, "invalid_prefix", "invalid prefix: %s", err);
        goto out;
    case KEYS_FORBIDDEN:
        req_fail(r, 403, "forbidden", "prefix %s", err);
        goto out;
    case KEYS_ALLOWED:
        break;
    }
    if (token && !token_sane(token)) {
        req_fail(r, 400, "invalid_field", "invalid continuation_token");
        goto out;
    }
    req_wait(r);
    r->op = s3_list_objects(r->api->s3, prefix, max_keys, token, list_done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
out:
    query_free(&q);
}

static void delete_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status != S3_OK) {
        /* DeleteObject of a missing key succeeds on S3; a 404 here means
         * the bucket itself is gone, which is S3's problem, not the key's. */
        if (res->status == S3_NOT_FOUND)
            req_fail(r, 502, "s3_error", "S3 answered HTTP 404 (%s)",
                     res->code ? res->code : "NoSuchBucket");
        else
            req_fail_s3(r, res);
        return;
    }
    char msg[KEYS_MAX_KEY_BYTES + 64];
    snprintf(msg, sizeof msg, "File %s deleted successfully", r->key);
    struct json_object *o = json_object_new_object();
    add_string(o, "message", msg);
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

bool handle_key_allowed(struct req *r, const char *key)
{
    char err[256];

    switch (keys_access(key, r->api->cfg->uploads.prefix, r->who.prefix, err, sizeof err)) {
    case KEYS_INVALID:
        req_fail(r, 400, "invalid_file_key", "invalid file_key: %s", err);
        return false;
    case KEYS_FORBIDDEN:
        req_fail(r, 403, "forbidden", "file_key %s", err);
        return false;
    default:
        return true;
    }
}

void handle_head_object(struct req *r, const char *key, s3_done_cb done)
{
    req_audit_subject(r, key);
    if (!handle_key_allowed(r, key))
        return;
    if (!(r->key = strdup(key))) {
        req_fail(r, 500, "internal_error", "out of memory");
        return;
    }
    req_wait(r);
    r->op = s3_head_object(r->api->s3, r->key, done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
}

char *handle_path_param(struct req *r, const char *name)
{
    size_t raw_len = 0, len = 0;
    const char *raw = route_param(&r->match, name, &raw_len);
    char *enc = strndup(raw ? raw : "", raw_len);

    /* Path decoding: '+' stays '+' (it is not a space in a path). */
    char *v = enc ? evhttp_uridecode(enc, 0, &len) : NULL;
    free(enc);
    if (!v) {
        req_fail(r, 500, "internal_error", "out of memory");
        return NULL;
    }
    if (strlen(v) != len) {
        free(v);
        req_fail(r, 400, strcmp(name, "file_key") ? "invalid_field" : "invalid_file_key",
                 "invalid %s: contains NUL", name);
        return NULL;
    }
    return v;
}

void handle_delete_file(struct req *r)
{
    char *key = handle_path_param(r, "file_key");

    if (!key)
        return;
    r->key = key;
    req_audit_subject(r, key);
    if (!handle_key_allowed(r, key))
        return;
    req_wait(r);
    r->op = s3_delete_object(r->api->s3, r->key, delete_done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
}

/* Does ETAG (quotes removed) say the object's MD5 is MD5 (base64)? NULL:
 * it cannot say. Only a single-part upload without SSE-KMS has the MD5 of
 * its bytes as ETag; a multipart one's ETag ends in "-N". */
static struct json_object *md5_matches(const char *etag, const char *md5)
{
    unsigned char raw[BODY_MD5_BYTES + 3];
    size_t n = 0;
    char hex[2 * BODY_MD5_BYTES + 1];

    if (!etag || strlen(etag) != 2 * BODY_MD5_BYTES ||
        !b64_decode(md5, strlen(md5), false, raw, &n) || n != BODY_MD5_BYTES)
        return NULL;
    for (size_t i = 0; i < BODY_MD5_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    return json_object_new_boolean(strcasecmp(hex, etag) == 0);
}

static void complete_head_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;
    char lm[40];
    bool failed = false, all = true;
    int64_t size = -1;

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status == S3_NOT_FOUND) {
        req_fail(r, 404, "file_not_found", "file %s not found: the upload has not "
                 "completed", r->key);
        return;
    }
    if (res->status != S3_OK) {
        req_fail_s3(r, res);
        return;
    }
    r->audit.size = res->content_length;
    /* What the client expects, checked by the handler already. */
    bool want_size = body_int64(r, "size", 0, &size, &failed);
    const char *ctype = body_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
    const char *md5 = body_string(r, "md5", BODY_OPTIONAL, &failed);

    struct json_object *o = json_object_new_object(), *checks = json_object_new_object();
    add_string(o, "file_key", r->key);
    json_object_object_add(o, "size", json_object_new_int64(res->content_length));
    add_string(o, "content_type", res->content_type);
    add_string(o, "etag", res->etag);
    if (res->last_modified && http_time_normalize(res->last_modified, lm, sizeof lm))
        add_string(o, "last_modified", lm);
    else
        add_string(o, "last_modified", res->last_modified);
    if (want_size) {
        bool ok = size == res->content_length;
        json_object_object_add(checks, "size", json_object_new_boolean(ok));
        all = all && ok;
    }
    if (ctype) {
        bool ok = res->content_type && strcasecmp(ctype, res->content_type) == 0;
        json_object_object_add(checks, "content_type", json_object_new_boolean(ok));
        all = all && ok;
    }
    if (md5) {
        struct json_object *m = md5_matches(res->etag, md5);
        json_object_object_add(checks, "md5", m);
        all = all && (!m || json_object_get_boolean(m));
    }
    json_object_object_add(o, "checks", checks);
    json_object_object_add(o, "matches", json_object_new_boolean(all));
    req_reply_json(r, 200, o, REQ_NO_STORE);
}

void handle_upload_complete(struct req *r)
{
    bool failed = false;
    int64_t size;

    const char *key = body_string(r, "file_key", BODY_REQUIRED, &failed);
    if (!failed)
        body_int64(r, "size", 0, &size, &failed);
    if (!failed)
        body_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
    if (!failed)
        body_digest(r, "md5", BODY_MD5_BYTES, &failed);
    if (failed)
        return;
    handle_head_object(r, key, complete_head_done);
}
