/*
 * shm.c - named shared-memory zones (see shm.h).
 */
#include "shm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "errbuf.h"

#define SHM_MAX_ZONES 8

static struct {
    char name[32];
    void *addr;
    size_t size;
} zones[SHM_MAX_ZONES];

void *shm_zone(const char *name, size_t size, bool *fresh, char *err, size_t errlen)
{
    int slot = -1;

    if (fresh)
        *fresh = false;
    for (int i = 0; i < SHM_MAX_ZONES; i++) {
        if (zones[i].addr && strcmp(zones[i].name, name) == 0) {
            if (zones[i].size == size)
                return zones[i].addr;
            slot = i;
            break;
        }
        if (!zones[i].addr && slot < 0)
            slot = i;
    }
    if (slot < 0 || strlen(name) >= sizeof zones[0].name) {
        errbuf_set(err, errlen, "shared memory zone %s: no room for another zone", name);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errbuf_set(err, errlen, "shared memory zone %s (%zu bytes): %s", name, size,
                   strerror(errno));
        return NULL;
    }
    /* A zone that changed size: the workers forked earlier keep their own
     * mapping of the old one; the master needs it no more. */
    if (zones[slot].addr)
        munmap(zones[slot].addr, zones[slot].size);
    strcpy(zones[slot].name, name);
    zones[slot].addr = p;
    zones[slot].size = size;
    if (fresh)
        *fresh = true;
    return p;
}
