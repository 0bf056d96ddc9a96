/*
 * buf.c - growable byte strings (see buf.h).
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void buf_init(struct buf *b, char *storage, size_t size)
{
    memset(b, 0, sizeof *b);
    b->p = storage;
    b->cap = storage ? size : 0;
    if (b->cap)
        b->p[0] = '\0';
}

bool buf_reserve(struct buf *b, size_t more)
{
    if (buf_failed(b))
        return false;
    if (b->limit && b->len + more > b->limit) {
        b->overflow = true;
        return false;
    }
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap * 2 : 256;
    while (ncap < b->len + more + 1)
        ncap *= 2;
    char *np;
    if (b->heap && !b->secret) {
        np = realloc(b->p, ncap);
    } else {
        /* From caller storage, or a secret that realloc would leave behind
         * in the block it frees: copy, then wipe the old bytes. */
        np = malloc(ncap);
        if (np && b->len)
            memcpy(np, b->p, b->len);
        if (np && b->heap) {
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
    }
    if (!np) {
        b->oom = true;
        return false;
    }
    np[b->len] = '\0';
    b->p = np;
    b->cap = ncap;
    b->heap = true;
    return true;
}

void buf_addn(struct buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void buf_add(struct buf *b, const char *s)
{
    buf_addn(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
    if (b->len + 2 > b->cap || b->limit) {
        if (!buf_reserve(b, 1))
            return;
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    if (buf_failed(b))
        return;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        buf_addn(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_add_lower(struct buf *b, const char *s)
{
    size_t n = strlen(s);

    if (!buf_reserve(b, n))
        return;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        o[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    o[n] = '\0';
    b->len += n;
}

size_t buf_end(struct buf *b)
{
    buf_addc(b, '\0');
    return b->len;
}

void buf_clear(struct buf *b)
{
    if (b->secret && b->p && b->len)
        OPENSSL_cleanse(b->p, b->len);
    b->len = 0;
    b->oom = b->overflow = false;
    if (b->cap)
        b->p[0] = '\0';
}

char *buf_take(struct buf *b)
{
    char *s;

    if (buf_failed(b)) {
        buf_free(b);
        return NULL;
    }
    if (b->heap) {
        s = b->p;
    } else {
        s = malloc(b->len + 1);
        if (s) {
            memcpy(s, b->p ? b->p : "", b->len);
            s[b->len] = '\0';
        }
        if (b->secret && b->p && b->len)
            OPENSSL_cleanse(b->p, b->len);
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->heap = false;
    return s;
}

void buf_free(struct buf *b)
{
    if (b->secret && b->p && b->cap)
        OPENSSL_cleanse(b->p, b->heap ? b->cap : b->len);
    if (b->heap)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->heap = false;
}
