/*
 * s3meta.h - the user metadata a client sends with an upload (Uppy's
 * `metadata`: name, type, caption...), as the x-amz-meta-* headers or form
 * fields S3 stores with the object.
 *
 * S3 takes US-ASCII only there, names in lower case, and at most 2 KB of
 * names and values together. So names are checked and lower-cased, a value
 * with anything beyond printable ASCII is written as an RFC 2047 encoded
 * word (=?UTF-8?B?...?=, what S3 itself answers for such values), and the
 * limits are enforced here rather than by an S3 error halfway through an
 * upload. A null value, or the string "null" (Uppy 6 writes a null that
 * way in a query), is left out.
 */
#ifndef PRESIGND_S3META_H
#define PRESIGND_S3META_H

#include <stdbool.h>
#include <stddef.h>

#include "s3.h"

#define S3META_MAX_ITEMS     12
#define S3META_MAX_NAME      64
#define S3META_MAX_BYTES     2048      /* S3's limit on names and values together */

struct s3meta {
    struct s3_param items[S3META_MAX_ITEMS];   /* name without the x-amz-meta- prefix */
    size_t n;
    size_t bytes;
    char *owned[2 * S3META_MAX_ITEMS];
    size_t n_owned;
};

void s3meta_init(struct s3meta *m);
void s3meta_free(struct s3meta *m);

/*
 * Add NAME: VALUE (VALUE NULL: left out). False with ERR filled for a name
 * that is not 1..64 of [A-Za-z0-9_-], one given twice (in any case), a
 * value that is not valid UTF-8 or holds a control character, too many
 * entries or too many bytes.
 */
bool s3meta_add(struct s3meta *m, const char *name, const char *value, char *err,
                size_t errlen);

/* The same entries as header names ("x-amz-meta-NAME") for s3_call; OUT
 * has room for S3META_MAX_ITEMS, STORE for the names. Returns the count. */
size_t s3meta_headers(const struct s3meta *m, struct s3_param *out,
                      char store[S3META_MAX_ITEMS][S3META_MAX_NAME + 12]);

#endif
