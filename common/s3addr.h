/*
 * s3addr.h - where S3 requests go: the scheme, the Host and the path of an
 * object, for virtual-hosted addressing (BUCKET.HOST, keys at "/KEY") or
 * path-style (HOST, keys at "/BUCKET/KEY"), on AWS's regional endpoint or
 * an S3-compatible server's. Signatures cover Host and path, so the S3
 * client and every presigner take them from here.
 */
#ifndef PRESIGND_S3ADDR_H
#define PRESIGND_S3ADDR_H

#include <stddef.h>

struct cfg_s3;

struct s3addr {
    char *scheme;      /* "https" / "http" */
    char *host;        /* Host header value; ":port" only when not the default */
    char *base;        /* raw path prefix: "" or "/bucket" */
};

/* The address of S3's bucket through ENDPOINT (NULL: AWS's regional one).
 * 0, or -1 with ERR filled. */
int s3addr_init(struct s3addr *a, const char *endpoint, const struct cfg_s3 *s3,
                char *err, size_t errlen);
void s3addr_free(struct s3addr *a);

/* BASE + "/" + KEY, raw (unencoded), malloc'd; KEY NULL: the bucket. */
char *s3addr_path(const struct s3addr *a, const char *key);

#endif
