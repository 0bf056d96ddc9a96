/*
 * accesslog.h - the access log: one JSON object per answered (or
 * abandoned) request, written through log_access() (log.h). Never a query
 * string, a URL, a credential or a key: the path of a route with a key is
 * shown as the route's label.
 */
#ifndef PRESIGND_ACCESSLOG_H
#define PRESIGND_ACCESSLOG_H

#include <stddef.h>

struct req;

/* The line of R answered with STATUS (negative or 499: no answer) and
 * BYTES of body. */
void accesslog_write(const struct req *r, int status, size_t bytes);

#endif
