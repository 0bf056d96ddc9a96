/*
 * assets.h - files built into the binary at compile time (assets.S): the
 * OpenAPI document (daemon/openapi.json, completed from the config at
 * start by openapi.c), and the documentation pages with everything they
 * load (handle_docs.c): presignd's own pages, scripts and styles
 * (daemon/docs.html, redoc.html, docs.js, redoc.js, docs.css) and Swagger
 * UI and ReDoc (daemon/vendor/). They are ordinary files in the source tree
 * so that they can be validated, linted and diffed; each ends with a NUL
 * byte after its END symbol.
 */
#ifndef PRESIGND_ASSETS_H
#define PRESIGND_ASSETS_H

#include <stddef.h>

extern const char asset_openapi_json[], asset_openapi_json_end[];

extern const char asset_docs_html[], asset_docs_html_end[];
extern const char asset_redoc_html[], asset_redoc_html_end[];
extern const char asset_docs_js[], asset_docs_js_end[];
extern const char asset_redoc_js[], asset_redoc_js_end[];
extern const char asset_docs_css[], asset_docs_css_end[];

extern const char asset_swagger_ui_bundle_js[], asset_swagger_ui_bundle_js_end[];
extern const char asset_swagger_ui_css[], asset_swagger_ui_css_end[];
extern const char asset_swagger_ui_bundle_licenses[], asset_swagger_ui_bundle_licenses_end[];
extern const char asset_swagger_ui_license[], asset_swagger_ui_license_end[];
extern const char asset_swagger_ui_notice[], asset_swagger_ui_notice_end[];
extern const char asset_redoc_standalone_js[], asset_redoc_standalone_js_end[];
extern const char asset_redoc_standalone_licenses[], asset_redoc_standalone_licenses_end[];
extern const char asset_redoc_worker_licenses[], asset_redoc_worker_licenses_end[];
extern const char asset_redoc_license[], asset_redoc_license_end[];

static inline size_t asset_len(const char *start, const char *end)
{
    return (size_t)(end - start);
}

#endif
