/*
 * body.c - JSON request bodies (see body.h).
 */
#include "body.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "api.h"
#include "b64.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "jsonw.h"
#include "keys.h"
#include "req.h"

struct json_tokener *body_tokener_new(void)
{
    struct json_tokener *tok = json_tokener_new_ex(BODY_MAX_DEPTH);

    if (tok)
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    return tok;
}

/* Keys of the top-level object as written, duplicates included. json-c
 * keeps only the last of duplicate keys, so a count above its own means the
 * body repeated a key. TEXT is already known to be valid JSON. */
static size_t count_top_keys(const char *s, size_t n)
{
    int depth = 0, in_str = 0, expect_key = 0;
    size_t keys = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            if (depth == 1 && expect_key) {
                keys++;
                expect_key = 0;
            }
            in_str = 1;
            break;
        case '{':
            if (++depth == 1)
                expect_key = 1;
            break;
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            depth--;
            break;
        case ',':
            if (depth == 1)
                expect_key = 1;
            break;
        default:
            break;
        }
    }
    return keys;
}

/* json-c accepts NaN and Infinity even in strict mode; JSON has neither. */
static bool has_non_finite(struct json_object *o, int depth)
{
    if (depth > BODY_MAX_DEPTH)
        return true;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return !isfinite(json_object_get_double(o));
    case json_type_object: {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (v && has_non_finite(v, depth + 1))
                return true;
        }
        return false;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            struct json_object *v = json_object_array_get_idx(o, i);
            if (v && has_non_finite(v, depth + 1))
                return true;
        }
        return false;
    default:
        return false;
    }
}

/* Refuse OBJ (freed) with 400 invalid_json and DETAIL. */
static bool refuse(struct req *r, struct json_object *obj, const char *detail)
{
    json_object_put(obj);
    req_fail(r, 400, "invalid_json", "%s", detail);
    return false;
}

bool body_parse(struct req *r, const char *const *fields)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    const char *ct = req_header(r, "Content-Type");
    size_t max = r->api->cfg->server.max_body_size;

    if (len > max) {
        req_fail(r, 413, "payload_too_large", "request body larger than %zu bytes", max);
        return false;
    }
    /* A missing Content-Type is accepted, as the previous service did. */
    if (ct && !http_is_json_media_type(ct)) {
        req_fail(r, 415, "unsupported_media_type", "Content-Type must be application/json");
        return false;
    }
    if (len == 0)
        return refuse(r, NULL, "request body is empty; a JSON object is expected");
    const char *text = (const char *)evbuffer_pullup(in, -1);
    if (!text) {
        req_fail(r, 500, "internal_error", "out of memory");
        return false;
    }
    /* JSON is UTF-8 (RFC 8259); json-c's own check lets encoded surrogates
     * and overlong forms through. */
    if (!keys_utf8_valid(text, len))
        return refuse(r, NULL, "malformed JSON: the body is not valid UTF-8");

    struct json_tokener *tok = r->api->tok;
    json_tokener_reset(tok);
    /* json_tokener_reset keeps a \uD800-\uDBFF escape the last body left
     * unpaired (json-c 0.16): this body's first \u escape would get a
     * U+FFFD in front of it. */
    tok->high_surrogate = 0;
    struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (!obj && jerr == json_tokener_continue) {
        /* A bare number or literal waits for more input: the body is all
         * there is, so give json-c its end (the terminating NUL). */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    if (!obj && jerr == json_tokener_success)
        return refuse(r, NULL, "the body must be a JSON object");    /* a JSON null */
    if (!obj || jerr != json_tokener_success) {
        char msg[128];
        snprintf(msg, sizeof msg, "malformed JSON: %s",
                 jerr == json_tokener_continue ? "unexpected end of input"
                                               : json_tokener_error_desc(jerr));
        return refuse(r, obj, msg);
    }
    for (size_t i = end; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            return refuse(r, obj, "malformed JSON: data after the object");
    if (!json_object_is_type(obj, json_type_object))
        return refuse(r, obj, "the body must be a JSON object");
    if (has_non_finite(obj, 0))
        return refuse(r, obj, "malformed JSON: NaN and Infinity are not JSON");
    if (count_top_keys(text, end) != (size_t)json_object_object_length(obj))
        return refuse(r, obj, "malformed JSON: a key appears twice");
    json_object_object_foreach(obj, k, v) {
        (void)v;
        bool known = false;
        for (const char *const *f = fields; *f && !known; f++)
            known = strcmp(k, *f) == 0;
        if (!known) {
            char store[80];
            struct buf shown;
            buf_init(&shown, store, sizeof store);
            shown.limit = sizeof store - 1;
            jsonw_escape_ascii(&shown, k, strlen(k));
            json_object_put(obj);
            req_fail(r, 400, "unknown_field", "unknown field '%s'",
                     buf_failed(&shown) ? "" : shown.p);
            buf_free(&shown);
            return false;
        }
    }
    r->body = obj;
    return true;
}

const char *body_string(struct req *r, const char *name, enum body_want want, bool *failed)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(r->body, name, &v) || v == NULL) {
        if (want == BODY_REQUIRED) {
            req_fail(r, 400, "missing_field", "field '%s' is required", name);
            *failed = true;
        }
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string)) {
        req_fail(r, 400, "invalid_field", "field '%s' must be a string", name);
        *failed = true;
        return NULL;
    }
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n == 0 && want == BODY_EMPTY_IS_ABSENT)
        return NULL;
    if (n == 0) {
        req_fail(r, 400, "invalid_field", "field '%s' must not be empty", name);
        *failed = true;
        return NULL;
    }
    if (strlen(s) != n) {
        req_fail(r, 400, "invalid_field", "field '%s' must not contain NUL", name);
        *failed = true;
        return NULL;
    }
    return s;
}

bool body_int64(struct req *r, const char *name, int64_t min, int64_t *out, bool *failed)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(r->body, name, &v) || v == NULL)
        return false;
    if (!json_object_is_type(v, json_type_int)) {
        req_fail(r, 400, "invalid_field", "field '%s' must be an integer", name);
        *failed = true;
        return false;
    }
    *out = json_object_get_int64(v);
    if (*out < min) {
        req_fail(r, 400, "invalid_field", "field '%s' must be at least %lld", name,
                 (long long)min);
        *failed = true;
        return false;
    }
    return true;
}

const char *body_digest(struct req *r, const char *name, size_t bytes, bool *failed)
{
    unsigned char raw[64];
    size_t n = 0;

    const char *v = body_string(r, name, BODY_OPTIONAL, failed);
    if (!v)
        return NULL;
    size_t len = strlen(v);
    /* Length first: b64_decode's output must fit RAW. */
    if (len != 4 * ((bytes + 2) / 3) || bytes > sizeof raw - 3 ||
        !b64_decode(v, len, false, raw, &n) || n != bytes) {
        req_fail(r, 400, "invalid_field", "field '%s' must be the base64 of a %zu-byte "
                 "digest (%zu characters)", name, bytes, 4 * ((bytes + 2) / 3));
        *failed = true;
        return NULL;
    }
    return v;
}
