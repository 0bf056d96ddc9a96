/*
 * assets.h - files built into the binary at compile time (assets.S): the
 * OpenAPI document (daemon/openapi.json, completed from the config at
 * start by handle_meta.c) and the /docs page (daemon/docs.html). They are
 * ordinary files in the source tree so that they can be validated, linted
 * and diffed; each ends with a NUL byte after its END symbol.
 */
#ifndef PRESIGND_ASSETS_H
#define PRESIGND_ASSETS_H

#include <stddef.h>

extern const char asset_openapi_json[], asset_openapi_json_end[];
extern const char asset_docs_html[], asset_docs_html_end[];

static inline size_t asset_len(const char *start, const char *end)
{
    return (size_t)(end - start);
}

#endif
