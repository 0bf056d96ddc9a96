/*
 * s3meta.c - user metadata for S3 (see s3meta.h).
 */
#include "s3meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "errbuf.h"
#include "keys.h"
#include "str.h"

void s3meta_init(struct s3meta *m)
{
    memset(m, 0, sizeof *m);
}

void s3meta_free(struct s3meta *m)
{
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    memset(m, 0, sizeof *m);
}

static bool plain_ascii(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

bool s3meta_add(struct s3meta *m, const char *name, const char *value, char *err,
                size_t errlen)
{
    size_t nl = name ? strlen(name) : 0;

    if (!value || strcmp(value, "null") == 0)
        return true;
    if (nl == 0 || nl > S3META_MAX_NAME) {
        errbuf_set(err, errlen, "metadata names are 1 to %d characters", S3META_MAX_NAME);
        return false;
    }
    for (size_t i = 0; i < nl; i++)
        if (!str_is_alnum(name[i]) && name[i] != '-' && name[i] != '_') {
            errbuf_set(err, errlen, "metadata name '%.64s': only letters, digits, '-' and "
                       "'_'", name);
            return false;
        }
    for (size_t i = 0; i < m->n; i++)
        if (strcasecmp(m->items[i].name, name) == 0) {
            errbuf_set(err, errlen, "metadata name '%s' given twice", name);
            return false;
        }
    if (m->n == S3META_MAX_ITEMS) {
        errbuf_set(err, errlen, "at most %d metadata entries", S3META_MAX_ITEMS);
        return false;
    }
    size_t vl = strlen(value);
    if (!keys_utf8_valid(value, vl) || str_has_ctl(value, vl)) {
        errbuf_set(err, errlen, "metadata '%s': the value is not valid UTF-8 text", name);
        return false;
    }
    char *lname = strdup(name), *v = NULL;
    if (lname)
        str_lower(lname);
    if (plain_ascii(value)) {
        v = strdup(value);
    } else if (vl <= S3META_MAX_BYTES) {
        /* RFC 2047: "=?UTF-8?B?" base64 "?=". */
        v = malloc(4 * ((vl + 2) / 3) + 13);
        if (v) {
            memcpy(v, "=?UTF-8?B?", 10);
            size_t n = b64_encode((const unsigned char *)value, vl, v + 10);
            memcpy(v + 10 + n, "?=", 3);
        }
    } else {
        free(lname);
        errbuf_set(err, errlen, "metadata above %d bytes (names and values, as stored)",
                   S3META_MAX_BYTES);
        return false;
    }
    if (!lname || !v) {
        free(lname);
        free(v);
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    size_t bytes = m->bytes + nl + strlen(v);
    if (bytes > S3META_MAX_BYTES) {
        free(lname);
        free(v);
        errbuf_set(err, errlen, "metadata above %d bytes (names and values, as stored)",
                   S3META_MAX_BYTES);
        return false;
    }
    m->owned[m->n_owned++] = lname;
    m->owned[m->n_owned++] = v;
    m->items[m->n++] = (struct s3_param){ lname, v };
    m->bytes = bytes;
    return true;
}

size_t s3meta_headers(const struct s3meta *m, struct s3_param *out,
                      char store[S3META_MAX_ITEMS][S3META_MAX_NAME + 12])
{
    for (size_t i = 0; i < m->n; i++) {
        snprintf(store[i], S3META_MAX_NAME + 12, "x-amz-meta-%s", m->items[i].name);
        out[i] = (struct s3_param){ store[i], m->items[i].value };
    }
    return m->n;
}
