/*
 * buf.h - the one growable byte string of presignd.
 *
 * A buf may start in caller-supplied storage (a stack array) and moves to
 * the heap only when that is full, so the common case allocates nothing.
 * The content is always NUL-terminated. Failures stick: after running out
 * of memory (oom) or past LIMIT bytes (overflow) every append is ignored,
 * and the caller checks buf_failed() once at the end instead of after each
 * append. A buf marked secret is wiped (OPENSSL_cleanse) whenever its bytes
 * move or are freed, so credentials never linger in freed memory.
 *
 * Strings kept one after another in a buf (an "arena", see buf_end) are
 * referred to by offset: growing the buf moves it.
 */
#ifndef PRESIGND_BUF_H
#define PRESIGND_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *p;
    size_t len, cap;
    size_t limit;           /* 0: none; else content above LIMIT bytes is an overflow */
    bool heap;              /* P is malloc'd (else the caller's storage or NULL) */
    bool secret;            /* wipe before free and on every move */
    bool oom;
    bool overflow;
};

/* Start empty in STORAGE (SIZE bytes; NULL/0: on the heap when needed). */
void buf_init(struct buf *b, char *storage, size_t size);

/* Make room for MORE bytes (and the NUL). False when the buf has failed. */
bool buf_reserve(struct buf *b, size_t more);

void buf_addn(struct buf *b, const char *s, size_t n);
void buf_add(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* S lower-cased (ASCII only, whatever the locale). */
void buf_add_lower(struct buf *b, const char *s);

/* Arena use: end the string being written (its NUL becomes content) and
 * return the offset where the next one starts. */
size_t buf_end(struct buf *b);

static inline bool buf_failed(const struct buf *b)
{
    return b->oom || b->overflow;
}

/* Empty the content, keep the storage. */
void buf_clear(struct buf *b);

/* The content as a malloc'd string, B emptied; NULL when B failed. */
char *buf_take(struct buf *b);

/* Free heap storage (wiped when secret); B is empty and reusable after
 * buf_init. */
void buf_free(struct buf *b);

#endif
