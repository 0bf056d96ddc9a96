/*
 * wipealloc.h - allocators that wipe what they free, for the libraries that
 * hold secrets in memory presignd does not own: libevent (the raw bytes of
 * every request, Authorization headers included, in its buffers) and
 * libcurl (the answers of the instance metadata service: credentials).
 *
 * glibc reuses small freed blocks as they are, so a freed buffer keeps its
 * bytes until something else happens to be put there. Installed once, at
 * start, before either library allocates anything.
 */
#ifndef PRESIGND_WIPEALLOC_H
#define PRESIGND_WIPEALLOC_H

#include <stddef.h>

/* libevent's allocator (event_set_mem_functions): first thing in main(). */
void wipealloc_install_libevent(void);

/* The functions for curl_global_init_mem(). */
void *wipealloc_malloc(size_t n);
void *wipealloc_calloc(size_t n, size_t size);
void *wipealloc_realloc(void *p, size_t n);
char *wipealloc_strdup(const char *s);
void wipealloc_free(void *p);

#endif
