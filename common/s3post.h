/*
 * s3post.h - S3 POST policies: the policy document and the form fields of a
 * browser upload with an HTML form ("POST Object", SigV4 signed, sigv4.h).
 *
 * A policy here is always exact: the key, the Content-Type and every
 * x-amz-meta-* field must be what was signed, and the body's length must be
 * within [MIN_SIZE, MAX_SIZE] (content-length-range). S3 checks all of it,
 * so a client cannot widen what presignd decided. Pure: no I/O; the caller
 * supplies the credentials and the time.
 */
#ifndef PRESIGND_S3POST_H
#define PRESIGND_S3POST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "s3.h"

struct sigv4_creds;
struct sigv4_cache;

struct s3post_req {
    const char *bucket;
    const char *region;
    const char *key;
    const char *content_type;
    int64_t min_size, max_size;
    const struct s3_param *meta;        /* NAME (without x-amz-meta-) and value */
    size_t n_meta;
    time_t now;
    long expires;                       /* seconds from NOW */
};

/*
 * The form fields for REQ, in the order to send them (the file goes last):
 * key, Content-Type, x-amz-meta-*, policy, x-amz-algorithm,
 * x-amz-credential, x-amz-date, x-amz-security-token (temporary
 * credentials only), x-amz-signature. Fills *FIELDS (malloc'd, free with
 * s3post_fields_free) and *N. 0, or -1 with ERR filled.
 */
int s3post_fields(const struct s3post_req *req, const struct sigv4_creds *creds,
                  struct sigv4_cache *cache, struct s3_post_field **fields, size_t *n,
                  char *err, size_t errlen);
void s3post_fields_free(struct s3_post_field *fields, size_t n);

#endif
