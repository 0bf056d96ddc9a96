/*
 * worker.h - one worker process: its own event_base, evhttp on the listen
 * sockets inherited from the master, its own S3 client, and the drain that
 * lets a reload or a stop finish every in-flight request.
 */
#ifndef PRESIGND_WORKER_H
#define PRESIGND_WORKER_H

struct cfg;

/* Exit codes a worker uses; the master does not respawn WORKER_EXIT_CONFIG. */
#define WORKER_EXIT_OK      0
#define WORKER_EXIT_FATAL   1
#define WORKER_EXIT_CONFIG  78   /* EX_CONFIG: this config cannot run */

/* The bytes a worker sends on its status pipe. */
#define WORKER_SAYS_READY          'R'
#define WORKER_SAYS_NOT_ACCEPTING  'S'

/*
 * Run a worker in the child after fork(). FDS are the listen sockets (already
 * bound and listening), TLS_FDS those of server.tls (N_TLS of them, served
 * with cfg->server.tls->ctx), METRICS_FD the metrics listener or -1. SLOT is the
 * worker's slot of shared per-worker counters, unique among live workers.
 * READY_FD is a pipe end to the master: the worker writes WORKER_SAYS_READY
 * once it accepts connections and WORKER_SAYS_NOT_ACCEPTING once it has
 * stopped (draining), then closes it; its exit closes it too.
 * The master forks with its signals blocked; the worker unblocks them once
 * its own (libevent) handlers are in place. Returns the process exit code.
 */
int worker_main(const struct cfg *cfg, const int *fds, int n_fds, const int *tls_fds, int n_tls,
                int metrics_fd, unsigned long generation, int slot, int ready_fd);

#endif
