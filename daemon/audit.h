/*
 * audit.h - the audit log: one JSON line per decision to sign, list or
 * delete (every answer of a route with a permission, route.h), granted or
 * refused: when, which request, who (principal and how it authenticated),
 * what (action, key or prefix, size and content type when known), from
 * where (the client address), the outcome ("granted" or the refusal's
 * error code) and, for a granted URL, when it expires. Never a URL, a
 * signature, a token, an API key or a secret.
 */
#ifndef PRESIGND_AUDIT_H
#define PRESIGND_AUDIT_H

struct req;

/* The line of R, answered with STATUS (499: the client went away). */
void audit_write(const struct req *r, int status);

#endif
