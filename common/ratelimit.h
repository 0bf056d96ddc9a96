/*
 * ratelimit.h - request rates shared by every worker, nginx's limit_req
 * style: one token bucket per principal (or client address), in a
 * fixed-size table inside a shared-memory zone (shm.h) that the master
 * maps before forking, so that N workers together allow the configured
 * rate, not N times it. When the table is full the least recently used
 * entry is evicted (a principal that has been quiet that long starts with
 * a full bucket, which is what a quiet principal has anyway).
 */
#ifndef PRESIGND_RATELIMIT_H
#define PRESIGND_RATELIMIT_H

#include <stddef.h>

#define RATELIMIT_KEY_MAX 128

/* Master, before forking: the zone for ENTRIES buckets (a reload with the
 * same number keeps the buckets). 0, or -1 with ERR filled. */
int ratelimit_init(int entries, char *err, size_t errlen);

/*
 * One request of KEY under RATE requests per second with bursts of BURST:
 * 0 when it may go ahead (a token is taken), else the whole seconds until
 * a token will be there (Retry-After, at least 1). Without a zone (not
 * initialised) everything goes ahead.
 */
int ratelimit_take(const char *key, double rate, int burst);

#endif
