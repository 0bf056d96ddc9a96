/*
 * assets.S - the files presignd serves as they are, built into the binary
 * (see assets.h). The Makefile names them as prerequisites of this object
 * (ASSETS) and passes -Wa,-I so that .incbin finds them under daemon/.
 * They sit in .rodata: mapped read-only from the executable, shared by
 * every process running it, and read from disk only once served.
 */
#define ASSET(sym, file)            \
    .section .rodata;               \
    .balign 16;                     \
    .global sym;                    \
sym:                                \
    .incbin file;                   \
    .global sym##_end;              \
sym##_end:                          \
    .byte 0

ASSET(asset_openapi_json, "openapi.json")

/* The documentation pages (handle_docs.c) and presignd's own files of them. */
ASSET(asset_docs_html, "docs.html")
ASSET(asset_redoc_html, "redoc.html")
ASSET(asset_docs_js, "docs.js")
ASSET(asset_redoc_js, "redoc.js")
ASSET(asset_docs_css, "docs.css")

/* Swagger UI and ReDoc as npm ships them (vendor/PACKAGES, SHA256SUMS),
 * with their licenses. */
ASSET(asset_swagger_ui_bundle_js, "vendor/swagger-ui-dist/swagger-ui-bundle.js")
ASSET(asset_swagger_ui_css, "vendor/swagger-ui-dist/swagger-ui.css")
ASSET(asset_swagger_ui_bundle_licenses, "vendor/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt")
ASSET(asset_swagger_ui_license, "vendor/swagger-ui-dist/LICENSE")
ASSET(asset_swagger_ui_notice, "vendor/swagger-ui-dist/NOTICE")
ASSET(asset_redoc_standalone_js, "vendor/redoc/redoc.standalone.js")
ASSET(asset_redoc_standalone_licenses, "vendor/redoc/redoc.standalone.js.LICENSE.txt")
ASSET(asset_redoc_worker_licenses, "vendor/redoc/d87bcbdbea8f8f5aa26f.worker.js.LICENSE.txt")
ASSET(asset_redoc_license, "vendor/redoc/LICENSE")

    .section .note.GNU-stack,"",%progbits
