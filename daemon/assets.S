/*
 * assets.S - the files presignd serves as they are, built into the binary
 * (see assets.h). The Makefile names them as prerequisites of this object
 * and passes -Wa,-I so that .incbin finds them.
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
ASSET(asset_docs_html, "docs.html")

    .section .note.GNU-stack,"",%progbits
