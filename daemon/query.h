/*
 * query.h - the query string of a request, decoded as
 * application/x-www-form-urlencoded ('+' is a space), any number of
 * parameters. Parameters the route does not know are ignored (as FastAPI
 * does); a repeated one: the last wins, as in the previous service.
 */
#ifndef PRESIGND_QUERY_H
#define PRESIGND_QUERY_H

#include <stddef.h>

struct query_param {
    char *name;
    char *value;
};

struct query {
    struct query_param *params;
    size_t n;
};

/* Parse QS (NULL: none) into OUT. -1 when it does not decode (a NUL in a
 * name or value, out of memory); OUT is then empty. */
int query_parse(const char *qs, struct query *out);

/* The value of the last parameter NAME, or NULL. */
const char *query_get(const struct query *q, const char *name);

void query_free(struct query *q);

#endif
