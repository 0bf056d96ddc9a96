/*
 * ratelimit.c - shared token buckets (see ratelimit.h).
 *
 * The zone: a header with a process-shared, robust mutex, the heads of a
 * hash table's chains, and the entries, each on a hash chain and on one
 * LRU list (most recent first); entries are linked by index, never by
 * pointer, since a zone is mapped at different addresses in different
 * processes only in theory but by index costs nothing. Every operation is
 * a few dozen instructions under the mutex.
 *
 * A worker killed while holding the mutex leaves it "owner died": the next
 * locker gets EOWNERDEAD and, since the dead worker may have been half-way
 * through relinking an entry, starts the table afresh (every bucket full
 * again) rather than trust it.
 */
#include "ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "errbuf.h"
#include "shm.h"

#define NIL UINT32_MAX

struct rl_entry {
    uint64_t hash;
    uint32_t chain;                 /* next on the hash chain */
    uint32_t prev, next;            /* LRU list */
    double tokens;
    uint64_t last_us;               /* monotonic (the same clock in every process) */
    char key[RATELIMIT_KEY_MAX];
};

struct rl_zone {
    pthread_mutex_t lock;
    uint32_t n_entries, n_used, n_heads;
    uint32_t lru_first, lru_last;
    /* then: uint32_t heads[n_heads]; struct rl_entry entries[n_entries] */
};

static struct rl_zone *zone;
static uint32_t *heads;
static struct rl_entry *entries;

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;    /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void reset(void)
{
    zone->n_used = 0;
    zone->lru_first = zone->lru_last = NIL;
    for (uint32_t i = 0; i < zone->n_heads; i++)
        heads[i] = NIL;
}

static void lru_unlink(uint32_t i)
{
    struct rl_entry *e = &entries[i];

    if (e->prev != NIL)
        entries[e->prev].next = e->next;
    else
        zone->lru_first = e->next;
    if (e->next != NIL)
        entries[e->next].prev = e->prev;
    else
        zone->lru_last = e->prev;
}

static void lru_push_front(uint32_t i)
{
    struct rl_entry *e = &entries[i];

    e->prev = NIL;
    e->next = zone->lru_first;
    if (zone->lru_first != NIL)
        entries[zone->lru_first].prev = i;
    zone->lru_first = i;
    if (zone->lru_last == NIL)
        zone->lru_last = i;
}

static void chain_unlink(uint32_t i)
{
    uint32_t *p = &heads[entries[i].hash & (zone->n_heads - 1)];

    while (*p != NIL && *p != i)
        p = &entries[*p].chain;
    if (*p == i)
        *p = entries[i].chain;
}

/* The entry of KEY, found or made (the least recently used one evicted). */
static uint32_t lookup(const char *key, uint64_t h, int burst, uint64_t now)
{
    uint32_t *head = &heads[h & (zone->n_heads - 1)];

    for (uint32_t i = *head; i != NIL; i = entries[i].chain)
        if (entries[i].hash == h && strcmp(entries[i].key, key) == 0) {
            lru_unlink(i);
            lru_push_front(i);
            return i;
        }
    uint32_t i;
    if (zone->n_used < zone->n_entries) {
        i = zone->n_used++;
    } else {
        i = zone->lru_last;
        lru_unlink(i);
        chain_unlink(i);
    }
    struct rl_entry *e = &entries[i];
    e->hash = h;
    snprintf(e->key, sizeof e->key, "%s", key);
    e->tokens = burst;
    e->last_us = now;
    e->chain = *head;
    *head = i;
    lru_push_front(i);
    return i;
}

int ratelimit_init(int n, char *err, size_t errlen)
{
    uint32_t n_heads = 1;
    bool fresh;

    while (n_heads < (uint32_t)n)
        n_heads <<= 1;
    size_t size = sizeof(struct rl_zone) + n_heads * sizeof(uint32_t) +
                  (size_t)n * sizeof(struct rl_entry);
    struct rl_zone *z = shm_zone("ratelimit", size, &fresh, err, errlen);
    if (!z)
        return -1;
    zone = z;
    heads = (uint32_t *)(z + 1);
    entries = (struct rl_entry *)(heads + n_heads);
    if (fresh) {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        int rc = pthread_mutex_init(&z->lock, &a);
        pthread_mutexattr_destroy(&a);
        if (rc != 0) {
            errbuf_set(err, errlen, "rate limit zone: mutex: %s", strerror(rc));
            zone = NULL;
            return -1;
        }
        z->n_entries = (uint32_t)n;
        z->n_heads = n_heads;
        reset();
    }
    return 0;
}

int ratelimit_take(const char *key, double rate, int burst)
{
    int wait = 0;

    if (!zone || rate <= 0)
        return 0;
    int rc = pthread_mutex_lock(&zone->lock);
    if (rc == EOWNERDEAD) {
        reset();
        pthread_mutex_consistent(&zone->lock);
    } else if (rc != 0) {
        return 0;   /* a broken lock must not stop the service */
    }
    uint64_t now = clock_mono_us();
    struct rl_entry *e = &entries[lookup(key, hash_key(key), burst, now)];
    if (now > e->last_us)
        e->tokens += (double)(now - e->last_us) / 1e6 * rate;
    e->last_us = now;
    if (e->tokens > burst)
        e->tokens = burst;
    if (e->tokens >= 1.0)
        e->tokens -= 1.0;
    else
        wait = (int)ceil((1.0 - e->tokens) / rate);
    pthread_mutex_unlock(&zone->lock);
    return wait > 0 ? wait : 0;
}
