/*
 * s3walk.h - every part S3 lists for a multipart upload, over as many
 * ListParts pages as it takes. Internal to the /s3 handlers (handle_s3.c,
 * handle_s3sign.c): the size limit of an upload is checked on what S3
 * holds, never on what a client says it uploaded.
 *
 * A walk belongs to its request: it is R's context (freed with R), and the
 * page in flight is R's S3 operation, so a request that goes away cancels
 * it. DONE runs once, when the last page is in; when S3 refuses a page, R
 * is answered instead (s3h_fail_multipart) and DONE never runs.
 */
#ifndef PRESIGND_S3WALK_H
#define PRESIGND_S3WALK_H

#include <stddef.h>
#include <stdint.h>

struct req;
struct s3_part;

struct s3walk {
    char *upload_id;
    struct s3_part *parts;          /* as S3 lists them */
    size_t n, cap;
    int marker;
    void (*done)(struct req *r, struct s3walk *w);
    struct s3_part *wanted;         /* Complete: the client's list, sorted */
    size_t n_wanted;
};

/*
 * List the parts of R's upload UPLOAD_ID (R's key), then DONE; WANTED
 * (N_WANTED, may be NULL) travels along. Takes UPLOAD_ID and WANTED in any
 * case. R may be answered (and gone) when this returns.
 */
void s3walk_start(struct req *r, char *upload_id, struct s3_part *wanted, size_t n_wanted,
                  void (*done)(struct req *r, struct s3walk *w));

/* The bytes of every listed part (sizes S3 did not give count as 0). */
int64_t s3walk_total(const struct s3walk *w);

/* The listed part N, or NULL. */
const struct s3_part *s3walk_part(const struct s3walk *w, int n);

#endif
