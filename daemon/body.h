/*
 * body.h - JSON request bodies: checked and parsed once by the pipeline
 * for a route that takes one (route.h: fields), and read field by field
 * by its handler.
 *
 * A body is a UTF-8 JSON object of at most server.max_body_size bytes,
 * with Content-Type application/json (or none), no duplicate keys, no
 * NaN/Infinity, nothing nested deeper than BODY_MAX_DEPTH and no field the
 * route does not know. Each failure answers the request (400, 413, 415).
 */
#ifndef PRESIGND_BODY_H
#define PRESIGND_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct req;
struct json_tokener;

#define BODY_MAX_DEPTH 8

/* A tokener for body_parse, one per worker. */
struct json_tokener *body_tokener_new(void);

/* Parse R's body into r->body, allowing the NULL-terminated FIELDS.
 * False after answering with the error. */
bool body_parse(struct req *r, const char *const *fields);

/* How body_string treats a field. */
enum body_want {
    BODY_OPTIONAL,          /* absent or null: NULL, not an error */
    BODY_REQUIRED,          /* absent or null: 400 missing_field */
    BODY_EMPTY_IS_ABSENT,   /* optional, and "" counts as absent (a browser's
                               File.type when it does not know the type) */
};

/*
 * String field NAME of r->body: returns it (owned by the body), NULL when
 * absent (see WANT), or NULL after answering with the error (*FAILED set).
 * Strings with NUL are refused, and empty ones unless BODY_EMPTY_IS_ABSENT.
 */
const char *body_string(struct req *r, const char *name, enum body_want want, bool *failed);

#define BODY_MD5_BYTES    16
#define BODY_SHA256_BYTES 32

/*
 * Digest field NAME: the standard base64 (with padding) of exactly BYTES
 * bytes, as Content-MD5 and x-amz-checksum-sha256 carry it. Returns it,
 * NULL when absent or null, or NULL after answering 400 invalid_field
 * (*FAILED set).
 */
const char *body_digest(struct req *r, const char *name, size_t bytes, bool *failed);

/*
 * Integer field NAME: true with *OUT set; false when absent or null (not an
 * error), or after answering with the error (*FAILED set): not an integer,
 * or below MIN.
 */
bool body_int64(struct req *r, const char *name, int64_t min, int64_t *out, bool *failed);

#endif
