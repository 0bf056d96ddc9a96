/*
 * shm.h - named zones of memory shared by the master and every worker
 * (nginx's ngx_shared_memory_add): metrics counters, rate-limit buckets.
 *
 * Only the master asks for zones, and only before it forks the workers
 * that use them: a zone is an anonymous MAP_SHARED mapping, which a child
 * inherits at fork and nothing else can reach. Asking again for a zone of
 * the same name and size (a reload) returns the same memory, so counters
 * outlive reloads; another size gives a new, zeroed mapping for the
 * workers forked from then on, while workers forked earlier keep theirs.
 */
#ifndef PRESIGND_SHM_H
#define PRESIGND_SHM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The zone NAME of SIZE bytes, zero-filled when new (*FRESH set then; FRESH
 * may be NULL). NULL with ERR filled when it cannot be mapped.
 */
void *shm_zone(const char *name, size_t size, bool *fresh, char *err, size_t errlen);

#endif
