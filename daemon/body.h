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
#include <stdint.h>

struct req;
struct json_tokener;

#define BODY_MAX_DEPTH 8

/* A tokener for body_parse, one per worker. */
struct json_tokener *body_tokener_new(void);

/* Parse R's body into r->body, allowing the NULL-terminated FIELDS.
 * False after answering with the error. */
bool body_parse(struct req *r, const char *const *fields);

/*
 * String field NAME of r->body: returns it (owned by the body), NULL when
 * absent or null and not REQUIRED, or NULL after answering with the error
 * (*FAILED set). Empty strings and strings with NUL are refused.
 */
const char *body_string(struct req *r, const char *name, bool required, bool *failed);

/*
 * Integer field NAME: true with *OUT set; false when absent or null (not an
 * error), or after answering with the error (*FAILED set): not an integer,
 * or below MIN.
 */
bool body_int64(struct req *r, const char *name, int64_t min, int64_t *out, bool *failed);

#endif
