/*
 * gen.h - generations of workers: the workers forked with one
 * configuration, on the listen sockets it names, each in a slot (pid, ready
 * pipe, in-flight metrics slot, respawn back-off). Every generation is on
 * one list, gen_all: the current one, at most one starting (a reload's)
 * and any number draining.
 *
 * The master (master.c) decides when a generation starts, serves, drains
 * or goes; this module binds, forks, signals and counts.
 */
#ifndef PRESIGND_GEN_H
#define PRESIGND_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "proc.h"

struct cfg;

struct slot {
    pid_t pid;                  /* 0: no process */
    int ready_fd;               /* master's end of the ready pipe, -1 closed */
    int metric_slot;            /* its in-flight slot (metrics.h), -1 none */
    bool ready;
    int64_t started;            /* monotonic ms */
    int64_t respawn_at;         /* monotonic ms, 0 = nothing scheduled */
    int backoff_ms;
};

enum gen_state {
    GEN_STARTING,               /* forked, waiting for every worker to be ready */
    GEN_ACTIVE,                 /* the current generation */
    GEN_DRAINING,               /* replaced (or failed): TERM sent, waiting */
};

struct gen {
    TAILQ_ENTRY(gen) link;
    unsigned long id;
    struct cfg *cfg;            /* owned */
    int *fds;                   /* listen sockets this generation serves */
    size_t n_fds;
    int metrics_fd;             /* -1: /metrics on the main listeners */
    int *tls_fds;               /* server.tls.listen sockets */
    size_t n_tls_fds;
    struct proc_user user;
    struct slot *slots;
    int n_slots;
    enum gen_state state;
    int64_t deadline;           /* STARTING: ready by; DRAINING: SIGKILL at */
    bool killed;
};

TAILQ_HEAD(gen_list, gen);
extern struct gen_list gen_all;

/* A generation for CFG (owned from now on, freed with it), not on the
 * list; NULL when out of memory (CFG is freed). */
struct gen *gen_new(struct cfg *cfg);
void gen_free(struct gen *g);

/* Bind (or reuse) everything G's config listens on. 0, or -1 with ERR. */
int gen_bind(struct gen *g, char *err, size_t errlen);

/* Close the listen sockets no generation on the list uses. */
void gen_close_unused_sockets(void);

/* Fork the worker of slot I. MASTER is the master's pid (the child checks
 * it is still its parent). 0, or -1 (logged). */
int gen_spawn(struct gen *g, int i, pid_t master);

/* A worker of slot I has exited: the slot is free again. */
void gen_slot_exited(struct gen *g, int i);

/* When slot I, whose worker just died, gets a new one: now, or after a
 * back-off that doubles while workers keep dying young. */
void gen_schedule_respawn(struct gen *g, int i, int64_t now);

void gen_signal(struct gen *g, int sig);
int gen_live(const struct gen *g);
int gen_total_live(void);
bool gen_all_ready(const struct gen *g);
bool gen_find_worker(pid_t pid, struct gen **gp, int *ip);

#endif
