/*
 * rnd.h - random bytes for every process: upload keys and request ids
 * (uuid4), retry jitter. They come from a pool of kernel CSPRNG output
 * (getrandom) refilled 4 KiB at a time, so that one costs no system call.
 * The pool is emptied in a forked child, so two workers never hand out the
 * same bytes, and is per thread, so threads need no lock.
 */
#ifndef PRESIGND_RND_H
#define PRESIGND_RND_H

#include <stdbool.h>
#include <stddef.h>

/* N bytes (N <= 4096) into OUT. False when getrandom(2) failed. */
bool rnd_bytes(void *out, size_t n);

/* Uniform in [0, 1). */
double rnd_uniform(void);

#endif
