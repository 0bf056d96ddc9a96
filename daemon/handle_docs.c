/*
 * handle_docs.c - the documentation pages: GET /docs (Swagger UI, where
 * every route can be tried with its body and an Authorization header),
 * GET /redoc (ReDoc) and GET /docs/assets/{hash}/{name}, the files they
 * load. Everything is built into the binary (assets.S): no CDN, nothing
 * fetched at run time, and the version served is the version built.
 *
 * Asset URLs carry the first hex digits of the file's SHA-256, so they can
 * be cached for a year as immutable: a new build has new URLs. The hash is
 * taken the first time a worker needs it (a page naming the file, or a
 * request for it), so the 3 MB of scripts stay untouched on disk in the
 * workers of a presignd whose docs nobody opens. A URL with another hash
 * is 404, never this build's file: during a rolling upgrade, a browser
 * holding a page of the other version must not cache the wrong bytes
 * under that version's URL.
 *
 * The pages have no inline script; their Content-Security-Policy allows
 * only presignd's own origin (see the policies below for why each entry
 * is there). server.docs: false removes these routes (route_match).
 */
#include "handlers.h"

#include <string.h>

#include "assets.h"
#include "buf.h"
#include "digest.h"
#include "req.h"
#include "route.h"

/* Hex digits of the SHA-256 in an asset URL: 64 bits, no collision
 * between two builds worth a thought. */
#define HASH_HEX 16

#define TYPE_JS   "text/javascript; charset=utf-8"
#define TYPE_CSS  "text/css; charset=utf-8"
#define TYPE_TEXT "text/plain; charset=utf-8"
#define TYPE_HTML "text/html; charset=utf-8"

#define IMMUTABLE "public, max-age=31536000, immutable"

struct docs_asset {
    const char *name;               /* its URL name, as the pages write it */
    const char *type;
    const char *start, *end;
    char hash[HASH_HEX + 1];        /* "" until first needed */
};

#define ASSET(name, type, sym) { name, type, sym, sym##_end, "" }

static struct docs_asset assets[] = {
    ASSET("docs.js", TYPE_JS, asset_docs_js),
    ASSET("redoc.js", TYPE_JS, asset_redoc_js),
    ASSET("docs.css", TYPE_CSS, asset_docs_css),
    ASSET("swagger-ui-bundle.js", TYPE_JS, asset_swagger_ui_bundle_js),
    ASSET("swagger-ui.css", TYPE_CSS, asset_swagger_ui_css),
    ASSET("swagger-ui-bundle.js.LICENSE.txt", TYPE_TEXT, asset_swagger_ui_bundle_licenses),
    ASSET("swagger-ui-dist.LICENSE", TYPE_TEXT, asset_swagger_ui_license),
    ASSET("swagger-ui-dist.NOTICE", TYPE_TEXT, asset_swagger_ui_notice),
    ASSET("redoc.standalone.js", TYPE_JS, asset_redoc_standalone_js),
    ASSET("redoc.standalone.js.LICENSE.txt", TYPE_TEXT, asset_redoc_standalone_licenses),
    ASSET("d87bcbdbea8f8f5aa26f.worker.js.LICENSE.txt", TYPE_TEXT,
          asset_redoc_worker_licenses),
    ASSET("redoc.LICENSE", TYPE_TEXT, asset_redoc_license),
};

#define N_ASSETS (sizeof assets / sizeof assets[0])

/*
 * The policies. Shared by both pages:
 *   default-src 'none'    anything not listed below is refused
 *   script-src 'self'     the bundles and the starter scripts, files of
 *                         presignd; no inline script, no eval
 *   img-src data:         Swagger UI's and ReDoc's icons are data: SVGs in
 *                         their styles
 *   connect-src 'self'    openapi.json, and "Try it out" (same origin)
 *   base-uri, form-action 'none'   neither page has a <base> or a form
 *   frame-ancestors 'none'        no other site may frame a page whose
 *                         Authorize box takes credentials (clickjacking)
 * /docs: style-src 'self' (swagger-ui.css, docs.css; the style attributes
 * React sets go through the CSSOM, which the policy does not govern).
 * /redoc: ReDoc styles itself with styled-components, which adds empty
 * <style> elements and fills them through the CSSOM (insertRule): the
 * first hash is that of the empty string, allowing exactly those empty
 * elements. The second is the one stylesheet the bundle inserts as text
 * (perfect-scrollbar's, bundle of ReDoc 2.5.4; another ReDoc version may
 * change it, which the browser test would report as a violation).
 * worker-src blob: its search index runs in a Web Worker made from a
 * blob: of the bundle's own code, a URL of the page's own origin.
 */
#define CSP_COMMON "default-src 'none'; script-src 'self'; img-src data:; connect-src 'self'; " \
                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define CSP_DOCS   CSP_COMMON "; style-src 'self'"
#define CSP_REDOC  CSP_COMMON "; style-src 'self' " \
                   "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' " \
                   "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='; worker-src blob:"

/* The hash of A, taken now if it has not been. */
static const char *asset_hash(struct docs_asset *a)
{
    if (!a->hash[0]) {
        unsigned char md[32];
        char hex[65];
        if (!digest_sha256(a->start, asset_len(a->start, a->end), md))
            return NULL;
        digest_hex(md, sizeof md, hex);
        memcpy(a->hash, hex, HASH_HEX);
        a->hash[HASH_HEX] = '\0';
    }
    return a->hash;
}

static struct docs_asset *asset_named(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ASSETS; i++)
        if (strlen(assets[i].name) == len && memcmp(assets[i].name, name, len) == 0)
            return &assets[i];
    return NULL;
}

/* A page once its @NAME@ marks are asset URLs, relative to the page
 * (docs/assets/HASH/NAME from /docs and /redoc alike), so presignd can sit
 * behind a proxy that adds a path prefix. */
#define PAGE_MAX 4096

struct docs_page {
    const char *tmpl, *tmpl_end;
    const char *csp;
    char *text;                     /* PAGE_MAX bytes (in .bss: no page of the
                                       binary's data is dirtied for it) */
    size_t len;                     /* 0 until made */
};

static char docs_text[PAGE_MAX], redoc_text[PAGE_MAX];
static struct docs_page page_docs = { asset_docs_html, asset_docs_html_end, CSP_DOCS,
                                      docs_text, 0 };
static struct docs_page page_redoc = { asset_redoc_html, asset_redoc_html_end, CSP_REDOC,
                                       redoc_text, 0 };

/* Fill in the URLs of P. False when a mark names no asset or the page
 * does not fit: a build error the tests catch, answered with 500. */
static bool page_make(struct docs_page *p)
{
    struct buf b;
    const char *s = p->tmpl, *end = p->tmpl_end;

    buf_init(&b, p->text, PAGE_MAX);
    b.limit = PAGE_MAX - 1;
    while (s < end) {
        const char *at = memchr(s, '@', (size_t)(end - s));
        if (!at) {
            buf_addn(&b, s, (size_t)(end - s));
            break;
        }
        buf_addn(&b, s, (size_t)(at - s));
        const char *close = memchr(at + 1, '@', (size_t)(end - at - 1));
        struct docs_asset *a = close ? asset_named(at + 1, (size_t)(close - at - 1)) : NULL;
        const char *hash = a ? asset_hash(a) : NULL;
        if (!hash) {
            buf_free(&b);
            return false;
        }
        buf_printf(&b, "docs/assets/%s/%s", hash, a->name);
        s = close + 1;
    }
    bool ok = !buf_failed(&b) && b.p == p->text;
    if (ok)
        p->len = b.len;
    buf_free(&b);
    return ok;
}

static void page_send(struct req *r, struct docs_page *p)
{
    if (!p->len && !page_make(p)) {
        req_fail(r, 500, "internal_error", "the documentation page cannot be made");
        return;
    }
    req_add_header(r, "Content-Security-Policy", p->csp);
    req_add_header(r, "X-Content-Type-Options", "nosniff");
    /* Small, and it names this build's asset URLs: asked again each time,
     * so that an upgrade shows at once. */
    req_add_header(r, "Cache-Control", "no-cache");
    req_reply(r, 200, TYPE_HTML, p->text, p->len, REQ_STATIC);
}

void handle_docs(struct req *r)
{
    page_send(r, &page_docs);
}

void handle_redoc(struct req *r)
{
    page_send(r, &page_redoc);
}

void handle_docs_asset(struct req *r)
{
    size_t hash_len = 0, name_len = 0;
    const char *hash = route_param(&r->match, "hash", &hash_len);
    const char *name = route_param(&r->match, "name", &name_len);
    struct docs_asset *a = name ? asset_named(name, name_len) : NULL;
    const char *want = a ? asset_hash(a) : NULL;

    if (!want || hash_len != HASH_HEX || memcmp(hash, want, HASH_HEX) != 0) {
        req_fail(r, 404, "not_found", "no such file: this build serves %s",
                 a ? "another version of it" : "no file of that name");
        return;
    }
    req_add_header(r, "Cache-Control", IMMUTABLE);
    req_add_header(r, "X-Content-Type-Options", "nosniff");
    req_reply(r, 200, a->type, a->start, asset_len(a->start, a->end), REQ_STATIC);
}
