/*
 * wipealloc.c - allocators that wipe what they free (see wipealloc.h).
 *
 * The size of a block comes from malloc_usable_size(), so nothing is kept
 * beside it. Only the first WIPE_MAX bytes of a block are wiped (8 KiB): what these
 * libraries keep secrets in starts a block (a request's headers at the head
 * of a read buffer, an IMDS answer at the head of curl's receive buffer),
 * and wiping all of curl's 16 KiB receive buffer on every call cost more
 * than the call's own work.
 */
#include "wipealloc.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

void *wipealloc_malloc(size_t n)
{
    return malloc(n);
}

void *wipealloc_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

#define WIPE_MAX 8192      /* server.max_header_size's default: a request's headers */

void wipealloc_free(void *p)
{
    if (!p)
        return;
    size_t n = malloc_usable_size(p);
    /* explicit_bzero: a memset the compiler keeps, without the indirect
     * call OPENSSL_cleanse makes (this runs on every free). */
    explicit_bzero(p, n < WIPE_MAX ? n : WIPE_MAX);
    free(p);
}

/* realloc() could move the block and free the old one as it is: move it
 * ourselves. */
void *wipealloc_realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        wipealloc_free(p);
        return NULL;
    }
    size_t have = malloc_usable_size(p);
    if (n <= have)
        return p;
    void *q = malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, have);
    wipealloc_free(p);
    return q;
}

char *wipealloc_strdup(const char *s)
{
    return strdup(s);
}

void wipealloc_install_libevent(void)
{
    event_set_mem_functions(wipealloc_malloc, wipealloc_realloc, wipealloc_free);
}
