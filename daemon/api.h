/*
 * api.h - the HTTP API of presignd, served by each worker's evhttp: routing,
 * JSON bodies and errors, CORS, request ids, access log lines and request
 * metrics. The S3 work goes through the worker's s3 client.
 */
#ifndef PRESIGND_API_H
#define PRESIGND_API_H

#include <stdbool.h>
#include <stddef.h>

struct evhttp;
struct event_base;
struct cfg;
struct s3_client;
struct api;

/*
 * Register the API as HTTP's generic callback. CFG and S3 must outlive the
 * api. Returns NULL with ERR filled on failure.
 */
struct api *api_new(struct event_base *base, struct evhttp *http,
                    const struct cfg *cfg, struct s3_client *s3,
                    char *err, size_t errlen);

/* Register only GET /metrics on a second evhttp (server.metrics_listen). */
int api_attach_metrics(struct api *api, struct evhttp *http);

/* From now on every response carries "Connection: close". */
void api_drain(struct api *api);

/* Requests received and not yet answered. */
size_t api_inflight(const struct api *api);

void api_free(struct api *api);

#endif
