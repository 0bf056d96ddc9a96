/*
 * handle_meta.c - the routes about the service itself: GET / (name,
 * version, endpoints from the route table, the upload rules), GET
 * /openapi.json and GET /metrics (the pages that render the document are
 * handle_docs.c's). The documents depend only on the config, so they are
 * built once per worker.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "config.h"
#include "errbuf.h"
#include "metrics.h"
#include "openapi.h"
#include "req.h"
#include "route.h"

#ifndef PRESIGND_VERSION
#define PRESIGND_VERSION "0.0.0"
#endif

struct meta_state {
    char *root_json;
    size_t root_len;
    char *openapi;
    size_t openapi_len;
};

static char *build_root(const struct cfg *cfg, size_t *len)
{
    const struct route *routes = route_table();
    struct json_object *o = json_object_new_object();
    struct json_object *eps = json_object_new_array(), *types = json_object_new_object();
    size_t n_eps;
    const struct route_endpoint *listed = route_endpoints(&n_eps);

    json_object_object_add(o, "message", json_object_new_string(
        "presignd: presigned S3 URLs for direct uploads and downloads"));
    json_object_object_add(o, "service", json_object_new_string("presignd"));
    json_object_object_add(o, "version", json_object_new_string(PRESIGND_VERSION));
    for (size_t i = 0; i < n_eps; i++) {
        /* /metrics is not on the API's sockets when it has its own. */
        if ((routes[listed[i].index].flags & ROUTE_METRICS) && cfg->server.metrics_listen)
            continue;
        /* Nor the documentation with server.docs: false (route_match). */
        if ((routes[listed[i].index].flags & ROUTE_DOCS) && !cfg->server.docs)
            continue;
        json_object_array_add(eps, json_object_new_string(listed[i].text));
    }
    json_object_object_add(o, "endpoints", eps);
    for (size_t i = 0; i < cfg->uploads.n_types; i++)
        json_object_object_add(types, cfg->uploads.types[i].ext,
                               json_object_new_string(cfg->uploads.types[i].type));
    json_object_object_add(o, "allowed_file_types", types);
    /* Every content type a client may send per extension, the canonical
     * one (above) first. */
    struct json_object *accepted = json_object_new_object();
    for (size_t i = 0; i < cfg->uploads.n_types; i++) {
        struct json_object *list = json_object_new_array();
        for (size_t j = 0; j < cfg->uploads.types[i].n_aliases; j++)
            json_object_array_add(list,
                                  json_object_new_string(cfg->uploads.types[i].aliases[j]));
        json_object_object_add(accepted, cfg->uploads.types[i].ext, list);
    }
    json_object_object_add(o, "accepted_content_types", accepted);
    json_object_object_add(o, "require_size", json_object_new_boolean(cfg->uploads.require_size));
    json_object_object_add(o, "overwrite", json_object_new_boolean(cfg->uploads.overwrite));
    json_object_object_add(o, "max_file_size", json_object_new_int64(cfg->presign.max_file_size));
    json_object_object_add(o, "upload_expires", json_object_new_int(cfg->presign.expires));

    size_t n = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = s ? malloc(n + 1) : NULL;
    if (out) {
        memcpy(out, s, n + 1);
        *len = n;
    }
    json_object_put(o);
    return out;
}

int handle_meta_init(struct api *api, char *err, size_t errlen)
{
    struct meta_state *m = calloc(1, sizeof *m);

    api->meta = m;
    if (m) {
        m->root_json = build_root(api->cfg, &m->root_len);
        m->openapi = openapi_build(api->cfg, PRESIGND_VERSION, &m->openapi_len);
    }
    if (!m || !m->root_json || !m->openapi) {
        errbuf_set(err, errlen, "cannot build the API documents (out of memory?)");
        return -1;
    }
    return 0;
}

void handle_meta_free(struct api *api)
{
    if (!api->meta)
        return;
    free(api->meta->root_json);
    free(api->meta->openapi);
    free(api->meta);
    api->meta = NULL;
}

void handle_root(struct req *r)
{
    const struct meta_state *m = r->api->meta;

    req_reply(r, 200, "application/json", m->root_json, m->root_len, REQ_NO_STORE);
}

void handle_openapi(struct req *r)
{
    const struct meta_state *m = r->api->meta;

    req_reply(r, 200, "application/json", m->openapi, m->openapi_len, 0);
}

void handle_metrics(struct req *r)
{
    size_t len = 0;
    char *text = metrics_render(&len);

    if (!text) {
        req_fail(r, 500, "internal_error", "cannot render metrics");
        return;
    }
    req_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, REQ_NO_STORE);
    free(text);
}
