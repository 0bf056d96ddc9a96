/*
 * openapi.c - the OpenAPI document presignd serves (see openapi.h).
 *
 * The document is daemon/openapi.json, built into the binary (assets.h),
 * parsed with json-c at start and completed with what depends on the
 * config, so the text clients read always matches the limits the handlers
 * enforce.
 */
#include "openapi.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "config.h"

/* The object at the '|'-separated PATH below ROOT, or NULL ('|' because
 * the names of OpenAPI paths contain '/'). */
static struct json_object *walk(struct json_object *root, const char *path)
{
    struct json_object *cur = root;
    char part[128];

    while (cur && *path) {
        size_t n = strcspn(path, "|");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        struct json_object *next = NULL;
        if (!json_object_object_get_ex(cur, part, &next))
            return NULL;
        cur = next;
        path += n;
        if (*path == '|')
            path++;
    }
    return cur;
}

static int set_at(struct json_object *root, const char *path, const char *field,
                  struct json_object *val)
{
    struct json_object *obj = walk(root, path);

    if (!obj || !json_object_is_type(obj, json_type_object) || !val) {
        json_object_put(val);
        return -1;
    }
    return json_object_object_add(obj, field, val);
}

char *openapi_build(const struct cfg *cfg, const char *version, size_t *len)
{
    struct json_object *root = json_tokener_parse(asset_openapi_json);
    struct json_object *types;
    char example[1024];
    int rc = 0;

    if (!root)
        return NULL;

    rc |= set_at(root, "info", "version", json_object_new_string(version));
    types = json_object_new_object();
    for (size_t i = 0; types && i < cfg->uploads.n_types; i++)
        json_object_object_add(types, cfg->uploads.types[i].ext,
                               json_object_new_string(cfg->uploads.types[i].type));
    rc |= set_at(root, "info", "x-allowed-file-types", types);
    rc |= set_at(root, "info", "x-max-file-size",
                 json_object_new_int64(cfg->presign.max_file_size));
    rc |= set_at(root, "info", "x-upload-expires", json_object_new_int(cfg->presign.expires));

    rc |= set_at(root, "components|schemas|UploadRequest|properties|size", "maximum",
                 json_object_new_int64(cfg->presign.max_file_size));

    /* Allowed extensions as the description of filename, so a generated
     * client shows them where the field is filled in. */
    size_t cap = 128;
    for (size_t i = 0; i < cfg->uploads.n_types; i++)
        cap += strlen(cfg->uploads.types[i].ext) + 2;
    char *desc = malloc(cap);
    if (desc) {
        size_t pos = (size_t)snprintf(desc, cap, "Its extension must be one of:");
        for (size_t i = 0; i < cfg->uploads.n_types && pos < cap; i++)
            pos += (size_t)snprintf(desc + pos, cap - pos, "%s%s", i ? ", " : " ",
                                    cfg->uploads.types[i].ext);
        rc |= set_at(root, "components|schemas|UploadRequest|properties|filename",
                     "description", json_object_new_string(desc));
        free(desc);
    }

    /* The list default and the examples show the configured prefix. */
    struct json_object *params = walk(root, "paths|/files|get|parameters");
    for (size_t i = 0; params && i < json_object_array_length(params); i++) {
        struct json_object *p = json_object_array_get_idx(params, i), *name, *schema;
        if (json_object_object_get_ex(p, "name", &name) &&
            strcmp(json_object_get_string(name), "prefix") == 0 &&
            json_object_object_get_ex(p, "schema", &schema))
            json_object_object_add(schema, "default", json_object_new_string(cfg->uploads.prefix));
    }
    snprintf(example, sizeof example, "%s0b7c2a58-7f8e-4c57-9a1d-2f6f8f0e9d11-report.pdf",
             cfg->uploads.prefix);
    rc |= set_at(root, "components|schemas|DownloadRequest|properties|file_key",
                 "example", json_object_new_string(example));
    char msg[1100];
    snprintf(msg, sizeof msg, "File %s deleted successfully", example);
    rc |= set_at(root, "components|schemas|DeleteResponse|properties|message",
                 "example", json_object_new_string(msg));

    /* Credentials everywhere but on the public routes, which say
     * "security": [] themselves. */
    if (cfg->auth.mode != CFG_AUTH_NONE) {
        struct json_object *sec = json_object_new_array(), *req = json_object_new_object();
        json_object_object_add(req, "bearer", json_object_new_array());
        json_object_array_add(sec, req);
        json_object_object_add(root, "security", sec);
    }

    /* /metrics is on its own socket then, not on the API's. */
    struct json_object *paths = walk(root, "paths");
    if (paths && cfg->server.metrics_listen)
        json_object_object_del(paths, "/metrics");

    char *out = NULL;
    if (rc == 0) {
        size_t n = 0;
        const char *s = json_object_to_json_string_length(
            root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        out = s ? malloc(n + 1) : NULL;
        if (out) {
            memcpy(out, s, n + 1);
            *len = n;
        }
    }
    json_object_put(root);
    return out;
}

