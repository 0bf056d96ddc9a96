/*
 * handle_s3.h - internal to the /s3 handlers (handle_s3.c, handle_s3sign.c,
 * s3walk.c): the checks and answers that Companion's routes and POST
 * /s3/sign must make alike, so that an upload signed through either is held
 * to the same rules. Defined in handle_s3.c; no other module includes this.
 *
 * A check returns false after it has answered R; the caller then only
 * cleans up.
 */
#ifndef PRESIGND_HANDLE_S3_H
#define PRESIGND_HANDLE_S3_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;
struct req;
struct s3_result;
struct s3walk;

#define S3H_MAX_PARTS 10000     /* S3's: part numbers 1..10000 */

/* K: V in O; a NULL V as JSON null. */
void s3h_add_string(struct json_object *o, const char *k, const char *v);

/* ID is an uploadId as S3 makes them (else 400). */
bool s3h_upload_id_ok(struct req *r, const char *id);

/* Part N can belong to an upload within cfg_multipart_limit (else 413). */
bool s3h_part_fits(struct req *r, int n);

/* Answer R with S3's refusal of a multipart call, as the API's error. */
void s3h_fail_multipart(struct req *r, const struct s3_result *res);

/* W's upload holds TOTAL bytes, over the limit: abort it (its parts cost
 * storage) and answer 413, once the abort has ended. */
void s3h_abort_over_limit(struct req *r, const struct s3walk *w, int64_t total);

#endif
