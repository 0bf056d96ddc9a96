/*
 * fuzz_body.c - libFuzzer harness for JSON request bodies: daemon/body.c's
 * body_parse and field readers (body_string, body_int64, body_digest) as
 * each route's handler calls them, and the two structured fields, the part
 * list of POST /s3/multipart/{uploadId}/complete and the metadata object of
 * POST /s3/multipart (daemon/handle_s3.c's wanted_parts and meta_from_json,
 * which feed common/s3meta.c's s3meta_add and common/s3xml.c's
 * s3xml_complete_body).
 *
 * How it drives the real code without a connection: body_parse reads the
 * body from r->ev's input buffer, and a libevent request made with
 * evhttp_request_new() has one without any connection, so the body goes
 * through evbuffer_pullup exactly as in the daemon. The rest of struct req
 * that body.c touches is r->api (the tokener of body_tokener_new and the
 * configuration, server.max_body_size 2048 here so that 413 is reachable)
 * and req_header/req_fail, which fuzz_stubs.h provides. handle_s3.c is
 * compiled into this file (#include) to reach its static parsers; nothing
 * in it is changed.
 *
 * Input: byte 0 picks the route (its field list and the reads its handler
 * makes), byte 1 the Content-Type header, the rest is the body.
 *
 * Besides memory errors it checks: the worker's tokener carries nothing
 * from one body to the next (a fixed body parsed after each input means
 * what it says); each refusal answers exactly once with
 * 400/413/415; an accepted body is a JSON object of valid UTF-8 with only
 * the route's fields, and json-c's serialization of it is accepted again
 * and equal (no body is accepted whose meaning the daemon then reads
 * differently); a string read is as long as json-c says (no NUL) and not
 * empty; a digest decodes to the digest's length; an accepted part list is
 * sorted, unique, 1..10000, and its CompleteMultipartUpload body either
 * refused or well formed; accepted metadata is within S3's limits, names
 * lower-case, values printable ASCII that decode to what the client sent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "fuzz_stubs.h"
#include "fuzz_complete.h"

#include "handle_s3.c"

#include "b64.h"
#include "buf.h"
#include "config.h"
#include "keys.h"
#include "s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The field lists of the routes outside handle_s3.c, as in
 * daemon/handle_presign.c and daemon/handle_files.c (not linked here: they
 * would bring the whole request pipeline). */
static const char *const upload_fields[] = {
    "filename", "content_type", "size", "md5", "sha256", NULL
};
static const char *const form_fields[] = { "filename", "content_type", "size", NULL };
static const char *const download_fields[] = { "file_key", "disposition", "filename", NULL };
static const char *const complete_fields[] = {
    "file_key", "size", "content_type", "md5", NULL
};

enum route_kind { R_UPLOAD, R_FORM, R_DOWNLOAD, R_COMPLETE, R_S3_CREATE, R_S3_COMPLETE,
                  R_S3_SIGN, R_COUNT };

static const char *const *const route_fields[R_COUNT] = {
    upload_fields, form_fields, download_fields, complete_fields,
    handle_s3_create_fields, handle_s3_complete_fields, handle_s3_sign_fields,
};

static const char *const content_types[] = {
    NULL, "application/json", "application/json; charset=utf-8", "Application/JSON",
    " application/json ;x=y", "text/plain", "application/jsonx", "",
};

#define MAX_BODY 2048

static const char config_text[] =
    "server:\n  listen: \"127.0.0.1:8000\"\n  max_body_size: 2048\n"
    "s3:\n  bucket: fuzz-bucket\n  region: us-east-1\n"
    "  access_key_id: AKIDFUZZ\n  secret_access_key: fuzzsecret\n"
    "uploads:\n  prefix: \"uploads/\"\n";

static struct api api;
static struct evhttp_request *ev;

static void setup(void)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = cfg_load_string("fuzz.yaml", config_text, sizeof config_text - 1, &errs);

    fuzz_check(cfg != NULL, "the harness's configuration loads");
    fuzz_check(cfg->server.max_body_size == MAX_BODY, "max_body_size as configured");
    cfg_errors_free(&errs);
    api.cfg = cfg;
    api.tok = body_tokener_new();
    ev = evhttp_request_new(NULL, NULL);
    fuzz_check(api.tok && ev, "setup");
}

/* Run body_parse on TEXT (LEN bytes) for FIELDS; R is reset first. */
static bool parse(struct req *r, const char *text, size_t len, const char *const *fields)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);

    evbuffer_drain(in, evbuffer_get_length(in));
    evbuffer_add(in, text, len);
    memset(r, 0, sizeof *r);
    r->api = &api;
    r->ev = ev;
    fuzz_answer_reset();
    bool ok = body_parse(r, fields);
    if (ok) {
        fuzz_check(fuzz_answer.n == 0, "an accepted body is not answered");
        fuzz_check(r->body && json_object_is_type(r->body, json_type_object),
                   "an accepted body is an object");
    } else {
        fuzz_check(fuzz_answer.n == 1, "a refused body is answered");
        fuzz_check(fuzz_answer.status == 400 || fuzz_answer.status == 413 ||
                   fuzz_answer.status == 415, "a refusal is 400, 413 or 415");
        fuzz_check(r->body == NULL, "a refused body is not kept");
        fuzz_check(keys_utf8_valid(fuzz_answer.detail, strlen(fuzz_answer.detail)),
                   "the detail is UTF-8 (it goes into a JSON answer)");
    }
    return ok;
}

/* After a reader: FAILED and the answers agree. */
static void check_read(bool failed, int answers_before)
{
    if (failed)
        fuzz_check(fuzz_answer.n == answers_before + 1 && fuzz_answer.status == 400,
                   "a failed read answers 400 once");
    else
        fuzz_check(fuzz_answer.n == answers_before, "a good read does not answer");
}

static const char *read_string(struct req *r, const char *name, enum body_want want,
                               bool *failed)
{
    int before = fuzz_answer.n;
    const char *s = body_string(r, name, want, failed);
    check_read(*failed, before);
    if (s) {
        struct json_object *v = NULL;
        fuzz_check(json_object_object_get_ex(r->body, name, &v) && v, "a string read exists");
        fuzz_check(strlen(s) == (size_t)json_object_get_string_len(v) && s[0],
                   "a string read is whole and not empty");
    }
    return s;
}

static bool read_int(struct req *r, const char *name, int64_t min, int64_t *out, bool *failed)
{
    int before = fuzz_answer.n;
    bool got = body_int64(r, name, min, out, failed);
    check_read(*failed, before);
    fuzz_check(!got || *out >= min, "an integer read is at least its minimum");
    return got;
}

static const char *read_digest(struct req *r, const char *name, size_t bytes, bool *failed)
{
    int before = fuzz_answer.n;
    const char *d = body_digest(r, name, bytes, failed);
    check_read(*failed, before);
    if (d) {
        unsigned char raw[80];
        size_t n = 0;
        fuzz_check(strlen(d) < 4 * sizeof raw / 3 - 4, "a digest is short");
        fuzz_check(b64_decode(d, strlen(d), false, raw, &n) && n == bytes,
                   "a digest decodes to its length");
    }
    return d;
}

/* The reads each handler makes, in its order, stopping at a failure. */
static void read_fields(struct req *r, enum route_kind k)
{
    bool failed = false;
    int64_t size;

    switch (k) {
    case R_UPLOAD:
        read_string(r, "filename", BODY_REQUIRED, &failed);
        if (!failed)
            read_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
        if (!failed)
            read_digest(r, "md5", BODY_MD5_BYTES, &failed);
        if (!failed)
            read_digest(r, "sha256", BODY_SHA256_BYTES, &failed);
        if (!failed)
            read_int(r, "size", 0, &size, &failed);
        break;
    case R_FORM:
        read_string(r, "filename", BODY_REQUIRED, &failed);
        if (!failed)
            read_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
        if (!failed)
            read_int(r, "size", 0, &size, &failed);
        break;
    case R_DOWNLOAD:
        read_string(r, "file_key", BODY_REQUIRED, &failed);
        if (!failed)
            read_string(r, "disposition", BODY_OPTIONAL, &failed);
        if (!failed)
            read_string(r, "filename", BODY_OPTIONAL, &failed);
        break;
    case R_COMPLETE:
        read_string(r, "file_key", BODY_REQUIRED, &failed);
        if (!failed)
            read_int(r, "size", 0, &size, &failed);
        if (!failed)
            read_string(r, "content_type", BODY_EMPTY_IS_ABSENT, &failed);
        if (!failed)
            read_digest(r, "md5", BODY_MD5_BYTES, &failed);
        break;
    case R_S3_CREATE:
        read_string(r, "filename", BODY_REQUIRED, &failed);
        if (!failed)
            read_string(r, "type", BODY_EMPTY_IS_ABSENT, &failed);
        break;
    case R_S3_SIGN:
        read_string(r, "method", BODY_REQUIRED, &failed);
        if (!failed)
            read_string(r, "key", BODY_REQUIRED, &failed);
        if (!failed)
            read_string(r, "uploadId", BODY_OPTIONAL, &failed);
        if (!failed)
            read_int(r, "partNumber", 1, &size, &failed);
        if (!failed)
            read_string(r, "filename", BODY_OPTIONAL, &failed);
        if (!failed)
            read_string(r, "type", BODY_EMPTY_IS_ABSENT, &failed);
        if (!failed)
            read_string(r, "contentType", BODY_EMPTY_IS_ABSENT, &failed);
        if (!failed)
            read_int(r, "size", 0, &size, &failed);
        if (!failed)
            read_int(r, "expiresIn", 1, &size, &failed);
        break;
    default:
        break;
    }
}

/* ---- metadata (POST /s3/multipart) */

static void check_meta(struct json_object *src, const struct s3meta *m)
{
    struct s3_param hdrs[S3META_MAX_ITEMS];
    char store[S3META_MAX_ITEMS][S3META_MAX_NAME + 12];
    size_t bytes = 0;

    fuzz_check(m->n <= S3META_MAX_ITEMS && m->bytes <= S3META_MAX_BYTES, "metadata limits");
    for (size_t i = 0; i < m->n; i++) {
        const char *name = m->items[i].name, *v = m->items[i].value;
        size_t nl = strlen(name), vl = strlen(v);
        fuzz_check(nl >= 1 && nl <= S3META_MAX_NAME, "metadata name length");
        for (size_t j = 0; j < nl; j++)
            fuzz_check((name[j] >= 'a' && name[j] <= 'z') || (name[j] >= '0' && name[j] <= '9') ||
                       name[j] == '-' || name[j] == '_', "metadata name: lower-case token");
        for (size_t j = 0; j < vl; j++)
            fuzz_check(v[j] >= 0x20 && v[j] <= 0x7e, "metadata value: printable ASCII");
        bytes += nl + vl;
        /* What the client sent under this name (any case), leaving out
         * what s3meta skips: null and "null" (another case of the name may
         * be one of those). */
        const char *orig = NULL;
        json_object_object_foreach(src, k, jv) {
            if (strcasecmp(k, name) == 0 && jv && strcmp(json_object_get_string(jv), "null"))
                orig = json_object_get_string(jv);
        }
        fuzz_check(orig != NULL, "a stored entry was sent");
        size_t ol = strlen(orig);
        bool plain = true;
        for (size_t j = 0; j < ol; j++)
            plain = plain && orig[j] >= 0x20 && orig[j] <= 0x7e;
        if (plain) {
            fuzz_check(strcmp(v, orig) == 0, "a plain value is stored as sent");
        } else {
            unsigned char raw[S3META_MAX_BYTES + 3];
            size_t n = 0;
            fuzz_check(vl > 12 && strncmp(v, "=?UTF-8?B?", 10) == 0 &&
                       strcmp(v + vl - 2, "?=") == 0, "an RFC 2047 encoded word");
            fuzz_check(vl - 12 <= 4 * sizeof raw / 3 - 4, "encoded value fits");
            fuzz_check(b64_decode(v + 10, vl - 12, false, raw, &n) && n == ol &&
                       memcmp(raw, orig, ol) == 0, "the encoded word decodes to the value");
        }
    }
    fuzz_check(bytes == m->bytes, "metadata byte count");
    size_t nh = s3meta_headers(m, hdrs, store);
    fuzz_check(nh == m->n, "one header per entry");
    for (size_t i = 0; i < nh; i++)
        fuzz_check(strncmp(hdrs[i].name, "x-amz-meta-", 11) == 0 &&
                   strcmp(hdrs[i].name + 11, m->items[i].name) == 0, "x-amz-meta- headers");
}

static void fuzz_meta(struct req *r)
{
    struct json_object *mo = NULL;
    struct s3meta m;

    json_object_object_get_ex(r->body, "metadata", &mo);
    s3meta_init(&m);
    int before = fuzz_answer.n;
    bool ok = meta_from_json(r, mo, &m);
    check_read(!ok, before);
    if (ok && mo)
        check_meta(mo, &m);
    s3meta_free(&m);
}

/* ---- the part list (POST /s3/multipart/{uploadId}/complete) */

static void fuzz_parts(struct req *r)
{
    struct s3_part *parts = NULL;
    size_t n = 0;
    int before = fuzz_answer.n;
    bool ok = wanted_parts(r, &parts, &n);

    check_read(!ok, before);
    if (ok) {
        fuzz_check(n >= 1 && n <= MAX_PARTS, "1 to 10000 parts");
        for (size_t i = 0; i < n; i++) {
            fuzz_check(parts[i].number >= 1 && parts[i].number <= MAX_PARTS, "part numbers");
            fuzz_check(i == 0 || parts[i].number > parts[i - 1].number, "sorted, unique");
            fuzz_check(parts[i].etag != NULL, "each part has an ETag");
        }
        check_complete_body(parts, n);
    }
    for (size_t i = 0; i < n; i++)
        free(parts[i].etag);
    free(parts);
}

/* A body after the fuzzed one: its escapes decode to what they say. */
static void probe_next_body(void)
{
    static const char probe[] = "{\"filename\": \"\\u0041\\u00e9\\ud83d\\ude00.pdf\"}";
    struct req r;
    struct json_object *v = NULL;

    const char *ct = fuzz_content_type;

    fuzz_content_type = "application/json";
    fuzz_check(parse(&r, probe, sizeof probe - 1, upload_fields), "the probe body is accepted");
    fuzz_content_type = ct;
    fuzz_check(json_object_object_get_ex(r.body, "filename", &v) &&
               strcmp(json_object_get_string(v), "A\xc3\xa9\xf0\x9f\x98\x80.pdf") == 0,
               "a body means the same whatever the body before it was");
    json_object_put(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct req r, again;

    if (!api.cfg)
        setup();
    if (size < 2)
        return 0;
    enum route_kind k = (enum route_kind)(data[0] % R_COUNT);
    fuzz_content_type = content_types[data[1] % (sizeof content_types / sizeof *content_types)];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    bool ok = parse(&r, text, len, route_fields[k]);
    /* Whatever the body was, the next one on the worker's tokener means
     * what it says. */
    probe_next_body();
    if (!ok)
        return 0;
    fuzz_check(fuzz_content_type == NULL || http_is_json_media_type(fuzz_content_type),
               "only JSON (or no Content-Type) is accepted");
    fuzz_check(len <= MAX_BODY && keys_utf8_valid(text, len), "an accepted body is UTF-8");
    json_object_object_foreach(r.body, key, val) {
        (void)val;
        bool known = false;
        for (const char *const *f = route_fields[k]; *f; f++)
            known = known || strcmp(*f, key) == 0;
        fuzz_check(known, "only the route's fields");
    }

    /* What json-c makes of it reads back the same. */
    size_t slen;
    const char *ser = json_object_to_json_string_length(r.body, JSON_C_TO_STRING_PLAIN, &slen);
    if (ser && slen <= MAX_BODY) {
        char *copy = strndup(ser, slen);
        fuzz_check(copy != NULL, "memory");
        fuzz_check(parse(&again, copy, slen, route_fields[k]), "the serialization is accepted");
        fuzz_check(json_object_equal(r.body, again.body), "and means the same");
        json_object_put(again.body);
        free(copy);
    }

    fuzz_answer_reset();
    read_fields(&r, k);
    if (k == R_S3_CREATE) {
        fuzz_answer_reset();
        fuzz_meta(&r);
    } else if (k == R_S3_COMPLETE) {
        fuzz_answer_reset();
        fuzz_parts(&r);
    }
    json_object_put(r.body);
    return 0;
}
