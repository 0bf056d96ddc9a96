/*
 * handlers.h - the handler of every route (route.c's table names them) and
 * the per-worker state some of them keep. One file per resource:
 *   handle_presign.c   POST /upload-url, POST /upload-form, POST /download-url
 *   handle_s3.c        /s3/params, /s3/multipart... (Uppy's routes)
 *   handle_s3sign.c    POST /s3/sign (Uppy 6's signRequest)
 *   handle_files.c     GET /files, DELETE /files/{file_key}, POST /upload-complete
 *   handle_health.c    GET /health (one shared, cached S3 probe)
 *   handle_meta.c      GET /, /openapi.json, /metrics
 *   handle_docs.c      GET /docs, /redoc, /docs/assets/{hash}/{name}
 *
 * A handler gets a request that has passed the pipeline (route, CORS,
 * method, body: see api.c) and must answer it, now or from an S3 callback,
 * with req_reply/req_fail (req.h).
 */
#ifndef PRESIGND_HANDLERS_H
#define PRESIGND_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3.h"

struct api;
struct req;

void handle_upload_url(struct req *r);
void handle_download_url(struct req *r);
void handle_list_files(struct req *r);
void handle_delete_file(struct req *r);
void handle_upload_complete(struct req *r);
void handle_upload_form(struct req *r);
void handle_s3_params(struct req *r);
void handle_s3_create(struct req *r);
void handle_s3_multipart(struct req *r);   /* GET: list parts, DELETE: abort */
void handle_s3_list_parts(struct req *r);
void handle_s3_sign_part(struct req *r);
void handle_s3_sign_batch(struct req *r);
void handle_s3_complete(struct req *r);
void handle_s3_abort(struct req *r);
void handle_s3_sign(struct req *r);
void handle_health(struct req *r);
void handle_root(struct req *r);
void handle_openapi(struct req *r);
void handle_docs(struct req *r);
void handle_redoc(struct req *r);
void handle_docs_asset(struct req *r);
void handle_metrics(struct req *r);

/*
 * May R's principal touch the object KEY a client sent? True, or false
 * after answering: 400 invalid_file_key (not a valid key inside
 * uploads.prefix), 403 forbidden (outside the principal's prefix).
 */
bool handle_key_allowed(struct req *r, const char *key);

/*
 * A route about the one object KEY a client sent: KEY becomes the audit
 * subject, passes handle_key_allowed, and S3 HEADs it; DONE gets the result
 * with R as its argument (r->key holds the key). Answers the errors itself.
 */
void handle_head_object(struct req *r, const char *key, s3_done_cb done);

/*
 * A new upload of FILENAME (a client's) whose client says its type is CTYPE
 * (NULL: it did not): the name sanitized, its extension among
 * uploads.allowed_types, CTYPE accepted for it. On success *KEY is the new
 * key under the principal's prefix (malloc'd) and *TYPE the Content-Type to
 * sign (CTYPE itself, or the canonical type); false after answering 400.
 */
bool handle_new_upload(struct req *r, const char *filename, const char *ctype, char **key,
                       const char **type);

/* SIZED/SIZE (a client's declared size) against LIMIT: 413 above it, 400
 * size_required without one when REQUIRED. False after answering. */
bool handle_size_ok(struct req *r, bool sized, int64_t size, int64_t limit, bool required);

/* Path parameter NAME of R's route, percent-decoded ('+' stays '+'):
 * malloc'd, or NULL after answering (400 for a NUL in it). */
char *handle_path_param(struct req *r, const char *name);

/* The JSON body fields of the routes that take one. */
extern const char *const handle_upload_fields[];
extern const char *const handle_download_fields[];
extern const char *const handle_complete_fields[];
extern const char *const handle_form_fields[];
extern const char *const handle_s3_create_fields[];
extern const char *const handle_s3_complete_fields[];
extern const char *const handle_s3_sign_fields[];

/* State of the handlers of one worker (documents built from the config,
 * the health probe): set up with the api, freed with it. 0, or -1 with ERR. */
int handle_meta_init(struct api *api, char *err, size_t errlen);
void handle_meta_free(struct api *api);
int handle_health_init(struct api *api, char *err, size_t errlen);
void handle_health_free(struct api *api);

#endif
