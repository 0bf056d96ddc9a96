/*
 * route.c - the route table and the router (see route.h).
 */
#include "route.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "handlers.h"

#define GET_HEAD (ROUTE_GET | ROUTE_HEAD)

static struct route routes[] = {
    { .pattern = "/", .methods = GET_HEAD, .handler = handle_root,
      .flags = ROUTE_PUBLIC | ROUTE_UNLISTED },
    { .pattern = "/upload-url", .methods = ROUTE_POST, .handler = handle_upload_url,
      .perm = CFG_PERM_UPLOAD, .fields = handle_upload_fields },
    { .pattern = "/download-url", .methods = ROUTE_POST, .handler = handle_download_url,
      .perm = CFG_PERM_DOWNLOAD, .fields = handle_download_fields },
    { .pattern = "/upload-form", .methods = ROUTE_POST, .handler = handle_upload_form,
      .perm = CFG_PERM_UPLOAD, .fields = handle_form_fields },
    /* Uppy's (Companion's) routes; the literal segments before {partNumber}. */
    { .pattern = "/s3/params", .methods = GET_HEAD, .handler = handle_s3_params,
      .perm = CFG_PERM_UPLOAD, .flags = ROUTE_MESSAGE },
    { .pattern = "/s3/multipart", .methods = ROUTE_POST, .handler = handle_s3_create,
      .perm = CFG_PERM_UPLOAD, .fields = handle_s3_create_fields, .flags = ROUTE_MESSAGE,
      .action = "multipart_create" },
    { .pattern = "/s3/multipart/{uploadId}", .methods = GET_HEAD | ROUTE_DELETE,
      .handler = handle_s3_multipart, .perm = CFG_PERM_UPLOAD, .flags = ROUTE_MESSAGE },
    { .pattern = "/s3/multipart/{uploadId}/batch", .methods = GET_HEAD,
      .handler = handle_s3_sign_batch, .perm = CFG_PERM_UPLOAD, .flags = ROUTE_MESSAGE,
      .action = "multipart_sign_part" },
    { .pattern = "/s3/multipart/{uploadId}/complete", .methods = ROUTE_POST,
      .handler = handle_s3_complete, .perm = CFG_PERM_UPLOAD, .flags = ROUTE_MESSAGE,
      .fields = handle_s3_complete_fields, .action = "multipart_complete" },
    { .pattern = "/s3/multipart/{uploadId}/{partNumber}", .methods = GET_HEAD,
      .handler = handle_s3_sign_part, .perm = CFG_PERM_UPLOAD, .flags = ROUTE_MESSAGE,
      .action = "multipart_sign_part" },
    { .pattern = "/s3/sign", .methods = ROUTE_POST, .handler = handle_s3_sign,
      .perm = CFG_PERM_UPLOAD, .fields = handle_s3_sign_fields, .flags = ROUTE_MESSAGE },
    { .pattern = "/upload-complete", .methods = ROUTE_POST, .handler = handle_upload_complete,
      .perm = CFG_PERM_UPLOAD, .fields = handle_complete_fields, .action = "upload_complete" },
    { .pattern = "/files", .methods = GET_HEAD, .handler = handle_list_files,
      .perm = CFG_PERM_LIST },
    { .pattern = "/files/{file_key+}", .methods = ROUTE_DELETE, .handler = handle_delete_file,
      .perm = CFG_PERM_DELETE },
    { .pattern = "/health", .methods = GET_HEAD, .handler = handle_health,
      .flags = ROUTE_PUBLIC },
    { .pattern = "/metrics", .methods = GET_HEAD, .handler = handle_metrics,
      .flags = ROUTE_PUBLIC | ROUTE_METRICS },
    /* The documentation: the document, Swagger UI, ReDoc (where the
     * previous service had its two pages) and the files the pages load. */
    { .pattern = "/openapi.json", .methods = GET_HEAD, .handler = handle_openapi,
      .flags = ROUTE_PUBLIC | ROUTE_DOCS },
    { .pattern = "/docs", .methods = GET_HEAD, .handler = handle_docs,
      .flags = ROUTE_PUBLIC | ROUTE_DOCS },
    { .pattern = "/redoc", .methods = GET_HEAD, .handler = handle_redoc,
      .flags = ROUTE_PUBLIC | ROUTE_DOCS },
    { .pattern = "/docs/assets/{hash}/{name}", .methods = GET_HEAD,
      .handler = handle_docs_asset, .flags = ROUTE_PUBLIC | ROUTE_DOCS | ROUTE_UNLISTED },
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

static char labels_store[N_ROUTES][64];
static char allow_store[N_ROUTES][48];
static const char *labels[N_ROUTES + 1];
static char endpoints_store[N_ROUTES * 4][80];
static struct route_endpoint endpoints[N_ROUTES * 4];
static size_t n_endpoints;

static const struct { unsigned bit; const char *name; } method_names[] = {
    { ROUTE_GET, "GET" }, { ROUTE_HEAD, "HEAD" }, { ROUTE_POST, "POST" },
    { ROUTE_PUT, "PUT" }, { ROUTE_DELETE, "DELETE" },
};

void route_init(void)
{
    n_endpoints = 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        struct route *rt = &routes[i];
        size_t o = 0;
        for (const char *p = rt->pattern; *p && o + 1 < sizeof labels_store[i]; p++)
            if (*p != '+')
                labels_store[i][o++] = *p;
        labels_store[i][o] = '\0';
        rt->label = labels[i] = labels_store[i];

        o = 0;
        allow_store[i][0] = '\0';
        for (size_t m = 0; m < sizeof method_names / sizeof method_names[0]; m++) {
            if (!(rt->methods & method_names[m].bit))
                continue;
            o += (size_t)snprintf(allow_store[i] + o, sizeof allow_store[i] - o, "%s, ",
                                  method_names[m].name);
            if (method_names[m].bit != ROUTE_HEAD && !(rt->flags & ROUTE_UNLISTED)) {
                snprintf(endpoints_store[n_endpoints], sizeof endpoints_store[0], "%s %s",
                         method_names[m].name, rt->label);
                endpoints[n_endpoints].text = endpoints_store[n_endpoints];
                endpoints[n_endpoints].index = (unsigned)i;
                n_endpoints++;
            }
        }
        snprintf(allow_store[i] + o, sizeof allow_store[i] - o, "OPTIONS");
        rt->allow = allow_store[i];
    }
    labels[N_ROUTES] = "other";
}

const struct route *route_table(void)
{
    return routes;
}

unsigned route_count(void)
{
    return (unsigned)N_ROUTES;
}

const char *const *route_labels(void)
{
    return labels;
}

const struct route_endpoint *route_endpoints(size_t *n)
{
    *n = n_endpoints;
    return endpoints;
}

/* Does PATH match PATTERN? Parameters into OUT. */
static bool match_one(const char *pattern, const char *path, struct route_match *out)
{
    const char *p = pattern, *s = path;

    out->n_params = 0;
    while (*p) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            bool rest = close[-1] == '+';
            size_t seg = rest ? strlen(s) : strcspn(s, "/");
            if (seg == 0 || out->n_params == ROUTE_MAX_PARAMS)
                return false;
            struct route_param *prm = &out->params[out->n_params++];
            prm->name = p + 1;
            prm->name_len = (size_t)(close - p - 1) - rest;
            prm->value = s;
            prm->len = seg;
            s += seg;
            p = close + 1;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *s == '\0';
}

void route_match(const char *path, bool metrics_only, bool metrics_elsewhere, bool docs,
                 struct route_match *out)
{
    memset(out, 0, sizeof *out);
    out->index = (unsigned)N_ROUTES;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const struct route *rt = &routes[i];
        bool is_metrics = rt->flags & ROUTE_METRICS;
        if (metrics_only ? !is_metrics : (is_metrics && metrics_elsewhere))
            continue;
        if ((rt->flags & ROUTE_DOCS) && !docs)
            continue;
        if (match_one(rt->pattern, path, out)) {
            out->route = rt;
            out->index = (unsigned)i;
            return;
        }
    }
    out->n_params = 0;
}

const char *route_param(const struct route_match *m, const char *name, size_t *len)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < m->n_params; i++) {
        if (m->params[i].name_len == n && memcmp(m->params[i].name, name, n) == 0) {
            *len = m->params[i].len;
            return m->params[i].value;
        }
    }
    *len = 0;
    return NULL;
}
