/*
 * credprov.h - where a worker's AWS credentials come from, now and later.
 *
 * At start the static part of the chain (creds.h: config, environment,
 * shared credentials file) is read; when it finds nothing, credentials are
 * fetched from EC2 instance metadata (IMDSv2: a session token PUT, the role
 * name, the role's credentials) through the worker's HTTP client, and
 * fetched again before they expire (creds_refresh_at). A failed fetch is
 * retried with back-off while the old credentials, if any, stay in use
 * until they expire. Expired credentials are dropped, never used.
 *
 * The provider never blocks: a caller without credentials asks
 * credprov_kick() whether a fetch is under way and waits for the listener,
 * which runs from the event loop when a fetch ends.
 */
#ifndef PRESIGND_CREDPROV_H
#define PRESIGND_CREDPROV_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct httpc;
struct cfg;
struct creds;
struct credprov;

/* A fetch ended: credentials arrived (credprov_get works now), or it failed
 * and none are usable. */
typedef void (*credprov_cb)(void *arg);

/*
 * The provider for CFG's s3 section. METRIC is the S3 operation index its
 * IMDS calls are counted under. NULL with ERR filled when a source is
 * present but broken (e.g. AWS_ACCESS_KEY_ID without a secret).
 */
struct credprov *credprov_new(struct event_base *base, struct httpc *h, const struct cfg *cfg,
                              unsigned metric, char *err, size_t errlen);
void credprov_free(struct credprov *p);

void credprov_set_listener(struct credprov *p, credprov_cb cb, void *arg);

/* The usable credentials (expired ones are dropped first), or NULL. */
const struct creds *credprov_get(struct credprov *p);

/*
 * None are usable: true when a fetch is under way (now) and the caller
 * should wait for the listener. After a failed fetch, callers do not start
 * fetches of their own (each would wait for IMDS timeouts only to fail
 * again): false until the back-off timer's next try succeeds.
 */
bool credprov_kick(struct credprov *p);

/* True while none are usable and a fetch is under way. */
bool credprov_pending(const struct credprov *p);

/* Unix time the usable credentials expire; 0 = never, -1 = none. */
double credprov_expiry(struct credprov *p);

/* Why there are none, for messages ("instance metadata: ..."). */
const char *credprov_why(const struct credprov *p);

#endif
