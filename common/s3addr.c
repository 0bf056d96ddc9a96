/*
 * s3addr.c - where S3 requests go (see s3addr.h).
 */
#include "s3addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errbuf.h"
#include "url.h"

void s3addr_free(struct s3addr *a)
{
    free(a->scheme);
    free(a->host);
    free(a->base);
    memset(a, 0, sizeof *a);
}

int s3addr_init(struct s3addr *a, const char *endpoint, const struct cfg_s3 *s3,
                char *err, size_t errlen)
{
    struct url u;
    const char *why;
    int n1, n2;

    memset(a, 0, sizeof *a);
    if (!endpoint) {
        a->scheme = strdup("https");
        if (s3->path_style) {
            n1 = asprintf(&a->host, "s3.%s.amazonaws.com", s3->region);
            n2 = asprintf(&a->base, "/%s", s3->bucket);
        } else {
            n1 = asprintf(&a->host, "%s.s3.%s.amazonaws.com", s3->bucket, s3->region);
            n2 = (a->base = strdup("")) ? 0 : -1;
        }
    } else {
        if ((why = url_parse(endpoint, true, &u))) {
            errbuf_set(err, errlen, "endpoint %s: %s", endpoint, why);
            return -1;
        }
        a->scheme = strdup(u.scheme);
        if (s3->path_style) {
            n1 = (a->host = strdup(u.authority)) ? 0 : -1;
            n2 = asprintf(&a->base, "%s/%s", u.path, s3->bucket);
        } else {
            n1 = asprintf(&a->host, "%s.%s", s3->bucket, u.authority);
            n2 = (a->base = strdup(u.path)) ? 0 : -1;
        }
        url_free(&u);
    }
    if (n1 < 0 || n2 < 0 || !a->scheme || !a->host || !a->base) {
        if (n1 < 0)
            a->host = NULL;
        if (n2 < 0)
            a->base = NULL;
        s3addr_free(a);
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

char *s3addr_path(const struct s3addr *a, const char *key)
{
    char *p;

    if (key)
        return asprintf(&p, "%s/%s", a->base, key) < 0 ? NULL : p;
    return strdup(*a->base ? a->base : "/");
}
