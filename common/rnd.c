/*
 * rnd.c - pooled kernel randomness (see rnd.h).
 */
#include "rnd.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local unsigned char pool[4096];
static _Thread_local size_t pool_left;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    pool_left = 0;
}

static void pool_init(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

bool rnd_bytes(void *out, size_t n)
{
    if (n > sizeof pool)
        return false;
    pthread_once(&pool_once, pool_init);
    if (pool_left < n) {
        size_t got = 0;
        while (got < sizeof pool) {
            ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return false;
            got += (size_t)r;
        }
        pool_left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - pool_left, n);
    /* Used bytes do not stay behind for a later memory disclosure. */
    memset(pool + sizeof pool - pool_left, 0, n);
    pool_left -= n;
    return true;
}

double rnd_uniform(void)
{
    uint64_t x;

    if (!rnd_bytes(&x, sizeof x))
        x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
    return (double)(x >> 11) / 9007199254740992.0;
}
