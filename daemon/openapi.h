/*
 * openapi.h - the OpenAPI 3.0.3 description of presignd's HTTP API: the
 * document daemon/openapi.json (built into the binary) completed once per
 * worker from the config (allowed file types, size limit, prefix; /metrics
 * left out when it lives on server.metrics_listen).
 */
#ifndef PRESIGND_OPENAPI_H
#define PRESIGND_OPENAPI_H

#include <stddef.h>

struct cfg;

/* The document as malloc'd JSON text (*LEN its length); NULL on failure. */
char *openapi_build(const struct cfg *cfg, const char *version, size_t *len);

#endif
