/*
 * master.h - the master process: owns the listen sockets, forks and
 * supervises generations of workers, turns signals into reloads and stops,
 * and is the only process that talks to systemd.
 */
#ifndef PRESIGND_MASTER_H
#define PRESIGND_MASTER_H

struct cfg;

/*
 * Run the master in the foreground with CFG (already validated, owned by the
 * master from now on). Returns the process exit code.
 */
int master_run(struct cfg *cfg);

#endif
