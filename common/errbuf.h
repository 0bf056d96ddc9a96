/*
 * errbuf.h - the caller-supplied error buffer convention (as in redis's
 * anet.h): a function that can fail takes "char *err, size_t errlen" and,
 * on failure, leaves a one-line message there. NULL or 0 means "don't care".
 */
#ifndef PRESIGND_ERRBUF_H
#define PRESIGND_ERRBUF_H

#include <stddef.h>

void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
