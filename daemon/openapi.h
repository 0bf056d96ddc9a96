/*
 * openapi.h - the OpenAPI 3.0.3 description of presignd's HTTP API, built
 * once per worker from the config (allowed file types, size limit, prefix),
 * and the self-contained /docs page that renders it in a browser.
 */
#ifndef PRESIGND_OPENAPI_H
#define PRESIGND_OPENAPI_H

#include <stddef.h>

struct cfg;

/* The document as malloc'd JSON text (*LEN its length); NULL on failure. */
char *openapi_build(const struct cfg *cfg, const char *version, size_t *len);

/* The /docs HTML page: static, no external resources. */
const char *openapi_docs_html(size_t *len);

#endif
