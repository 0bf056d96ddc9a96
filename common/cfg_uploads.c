/*
 * cfg_uploads.c - the presign:, uploads: and cors: sections of the
 * configuration: URL lifetime and size limit, the key prefix and the
 * allowed file types, and who may call the API from a browser (see
 * cfg_schema.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_schema.h"
#include "str.h"
#include "url.h"
#include "keys.h"

#define KEY_UUID_BYTES 37            /* uuid4 + "-" between prefix and file name */
#define PREFIX_MAX     512
#define EXT_MAX        32
#define LIST_MAX       256
#define PUT_MAX        5368709120LL     /* S3 accepts at most 5 GiB in one PUT */
#define MULTIPART_MAX  5497558138880LL  /* and objects of at most 5 TiB */

static const char *check_prefix(const char *p)
{
    size_t len = strlen(p);

    if (len == 0)
        return "must not be empty";
    if (len > PREFIX_MAX)
        return "is longer than 512 bytes";
    if (p[0] == '/')
        return "must not start with '/'";
    if (strchr(p, '\\'))
        return "must not contain '\\'";
    /* Segments: no "." or "..", no empty one (the last may be empty: "uploads/"). */
    const char *seg = p;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);
        if (slash && sl == 0)
            return "must not contain an empty segment (\"//\")";
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return "must not contain a \".\" or \"..\" segment";
        if (!slash)
            break;
        seg = slash + 1;
    }
    return NULL;
}

static void h_prefix(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    (void)kd;
    cfg_ctx(w)->k_prefix = k;
    /* No UTF-8 check: libyaml refuses invalid input and surrogate escapes. */
    cfg_read_checked(w, v, check_prefix, " ", false, &cfg_ctx(w)->cfg->uploads.prefix);
}

static void h_maxfn(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    cfg_ctx(w)->k_maxfn = k;
    cfgw_h_size(w, kd, k, v);
}

static bool restricted_name(const char *s, size_t len)
{
    if (len == 0 || len > 127 || !str_is_alnum(s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!str_is_alnum(s[i]) && !strchr("!#$&-^_.+", s[i]))
            return false;
    return true;
}

static bool valid_media_type(const char *s)
{
    const char *slash = strchr(s, '/');

    return slash && restricted_name(s, (size_t)(slash - s)) &&
           restricted_name(slash + 1, strlen(slash + 1));
}

void cfg_free_types(struct cfg_type *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].ext);
        for (size_t j = 0; j < t[i].n_aliases; j++)
            free(t[i].aliases[j]);
        free(t[i].aliases);
    }
    free(t);
}

/* One ".ext: type" pair into T; false (after reporting) when it is not one. */
static bool read_type(struct cfgw *w, yaml_node_t *kn, yaml_node_t *vn, struct cfg_type *types,
                      yaml_node_t **keys, size_t n)
{
    char d[80];
    const char *ext = cfgw_is_scalar(kn) && !cfgw_is_null(kn) ? cfgw_sval(kn) : NULL;
    size_t elen = ext ? cfgw_slen(kn) : 0;
    bool ok = ext && elen >= 2 && elen <= EXT_MAX + 1 && ext[0] == '.' && strlen(ext) == elen;

    if (!ext) {
        cfgw_err(w, kn, "%s: expected an extension such as .jpg as the key, got %s",
                 w->path, cfgw_describe(kn, d, sizeof d));
        return false;
    }
    for (size_t i = 1; i < elen && ok; i++)
        ok = str_is_alnum(ext[i]);
    if (!ok) {
        cfgw_err(w, kn, "%s: %s is not an extension: expected '.' and 1 to %d letters "
                 "or digits, e.g. .jpg", w->path, cfgw_describe(kn, d, sizeof d), EXT_MAX);
        return false;
    }
    char *lower = strdup(ext);
    if (!lower) {
        w->oom = true;
        return false;
    }
    str_lower(lower);
    for (size_t j = 0; j < n; j++) {
        if (!strcmp(types[j].ext, lower)) {
            cfgw_err(w, kn, "%s: duplicate extension \"%s\" (first at %zu:%zu)", w->path,
                     lower, keys[j]->start_mark.line + 1, keys[j]->start_mark.column + 1);
            free(lower);
            return false;
        }
    }
    /* One content type, or a list whose first is the canonical one and the
     * rest the aliases browsers report for the same files. */
    size_t nv = 0;
    yaml_node_t **vals = (vn && vn->type == YAML_SEQUENCE_NODE) || cfgw_is_scalar(vn)
                         ? cfgw_items(w, vn, &nv) : NULL;
    char **list = nv ? calloc(nv, sizeof *list) : NULL;
    bool good = nv > 0 && list;
    for (size_t i = 0; good && i < nv; i++) {
        yaml_node_t *t = vals[i];
        good = cfgw_is_scalar(t) && !cfgw_is_null(t) && valid_media_type(cfgw_sval(t)) &&
               strlen(cfgw_sval(t)) == cfgw_slen(t);
        if (!good) {
            cfgw_err(w, t ? t : vn, "%s: %s: expected a content type such as image/jpeg "
                     "(type/subtype) or a list of them, got %s", w->path, lower,
                     cfgw_describe(t ? t : vn, d, sizeof d));
            break;
        }
        for (size_t j = 0; j < i && good; j++)
            if (!strcasecmp(list[j], cfgw_sval(t))) {
                cfgw_err(w, t, "%s: %s: %s is listed twice", w->path, lower, cfgw_sval(t));
                good = false;
            }
        if (good && !(list[i] = strdup(cfgw_sval(t)))) {
            w->oom = true;
            good = false;
        }
    }
    if (!good && nv == 0 && !w->oom)
        cfgw_err(w, vn, "%s: %s: expected a content type such as image/jpeg "
                 "(type/subtype) or a list of them, got %s", w->path, lower,
                 vn && vn->type == YAML_SEQUENCE_NODE ? "an empty list"
                                                      : cfgw_describe(vn, d, sizeof d));
    free(vals);
    if (!good) {
        for (size_t i = 0; list && i < nv; i++)
            free(list[i]);
        free(list);
        free(lower);
        return false;
    }
    types[n].ext = lower;
    types[n].type = list[0];
    types[n].aliases = list;
    types[n].n_aliases = nv;
    keys[n] = kn;
    return true;
}

static void h_types(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_uploads *u = &cfg_ctx(w)->cfg->uploads;
    char d[80];

    (void)kd;
    if (!v || v->type != YAML_MAPPING_NODE) {
        cfgw_err(w, v, "%s: expected a mapping of \".ext: type/subtype\", got %s", w->path,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    size_t total = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (total == 0) {
        cfgw_err(w, v, "%s: must list at least one \".ext: type/subtype\"", w->path);
        return;
    }
    struct cfg_type *types = calloc(total, sizeof *types);
    yaml_node_t **keys = calloc(total, sizeof *keys);
    size_t n = 0;
    if (!types || !keys) {
        free(types);
        free(keys);
        w->oom = true;
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cfgw_node(w, p->key), *vn = cfgw_node(w, p->value);
        w->cur_key = kn;
        if (read_type(w, kn, vn, types, keys, n))
            n++;
        if (w->oom)
            break;
    }
    w->cur_key = k;
    free(keys);
    cfg_free_types(u->types, u->n_types);
    u->types = types;
    u->n_types = n;
}

/* ------------------------------------------------------------------ cors */

void cfg_read_str_list(struct cfgw *w, yaml_node_t *v, const char *what,
                       const char *(*parse)(const char *, char **),
                       char ***list_out, size_t *n_out)
{
    char d[80];
    size_t total = 0, n = 0;

    if (!(v && v->type == YAML_SEQUENCE_NODE) && (!cfgw_is_scalar(v) || cfgw_is_null(v))) {
        cfgw_err(w, v, "%s: expected %s or a list of them, got %s", w->path, what,
                 cfgw_describe(v, d, sizeof d));
        return;
    }
    yaml_node_t **items = cfgw_items(w, v, &total);
    if (w->oom)
        return;
    if (total > LIST_MAX) {
        cfgw_err(w, v, "%s: more than %d entries", w->path, LIST_MAX);
        free(items);
        return;
    }
    char **list = total ? calloc(total, sizeof *list) : NULL;
    if (total && !list) {
        free(items);
        w->oom = true;
        return;
    }
    for (size_t i = 0; i < total; i++) {
        const char *s, *why;
        char *norm;
        int r = cfgw_str(w, items[i], &s);
        if (r < 0)
            continue;
        if (r == 0 || !*s) {
            cfgw_err(w, items[i], "%s: expected %s, got %s", w->path, what,
                     cfgw_describe(items[i], d, sizeof d));
            continue;
        }
        if ((why = parse(s, &norm))) {
            cfgw_err(w, items[i], "%s: %s: %s", w->path, cfgw_describe(items[i], d, sizeof d),
                     why);
            continue;
        }
        list[n++] = norm;
    }
    free(items);
    for (size_t i = 0; i < *n_out; i++)
        free((*list_out)[i]);
    free(*list_out);
    *list_out = list;
    *n_out = n;
}

static void h_origins(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_cors *c = &cfg_ctx(w)->cfg->cors;

    (void)kd;
    (void)k;
    cfg_read_str_list(w, v, "\"*\" or an origin", url_parse_origin, &c->allow_origins,
                  &c->n_allow_origins);
}

static const char *parse_header_name(const char *s, char **norm)
{
    *norm = NULL;
    for (const char *p = s; *p; p++)
        if (!str_is_alnum(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return "not a valid header name";
    *norm = strdup(s);
    return *norm ? NULL : "out of memory";
}

static void h_headers(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    struct cfg_cors *c = &cfg_ctx(w)->cfg->cors;

    (void)kd;
    (void)k;
    cfg_read_str_list(w, v, "a header name", parse_header_name, &c->allow_headers,
                  &c->n_allow_headers);
}

#define PRE(f) offsetof(struct cfg_presign, f)
#define UPL(f) offsetof(struct cfg_uploads, f)
#define CRS(f) offsetof(struct cfg_cors, f)

const struct cfgw_key cfg_presign_keys[] = {
    { "expires", cfgw_h_int, PRE(expires), 1, 604800, "600" },
    { "max_file_size", cfgw_h_i64, PRE(max_file_size), 1, PUT_MAX, "52428800" },
};

const size_t cfg_n_presign_keys = CFG_NKEYS(cfg_presign_keys);

const struct cfgw_key cfg_uploads_keys[] = {
    { "prefix", h_prefix, 0, 0, 0, "\"uploads/\"" },
    /* The previous service's list (.doc .docx .mp3 included) and more, with
     * the types browsers actually report for them (Windows calls a .zip
     * application/x-zip-compressed, a .csv with Excel installed is
     * application/vnd.ms-excel). */
    { "allowed_types", h_types, 0, 0, 0,
      "{.jpg: [image/jpeg, image/pjpeg], .jpeg: [image/jpeg, image/pjpeg], "
      ".png: [image/png, image/x-png], .gif: image/gif, "
      ".pdf: [application/pdf, application/x-pdf], .txt: text/plain, "
      ".csv: [text/csv, application/vnd.ms-excel, text/plain, application/csv, text/x-csv], "
      ".json: application/json, "
      ".doc: application/msword, "
      ".docx: application/vnd.openxmlformats-officedocument.wordprocessingml.document, "
      ".zip: [application/zip, application/x-zip-compressed, application/x-zip, "
      "multipart/x-zip], "
      ".mp4: video/mp4, .mp3: [audio/mpeg, audio/mp3]}" },
    { "require_size", cfgw_h_bool, UPL(require_size), 0, 0, "true" },
    { "overwrite", cfgw_h_bool, UPL(overwrite), 0, 0, "false" },
    /* 0: multipart uploads are held to presign.max_file_size like the
     * others; more lets them be larger, up to S3's 5 TiB object limit. */
    { "max_multipart_size", cfgw_h_i64, UPL(max_multipart_size), 0, MULTIPART_MAX, "0" },
    { "max_filename_bytes", h_maxfn, UPL(max_filename_bytes), 1,
      KEYS_MAX_KEY_BYTES - KEY_UUID_BYTES - 1, "200" },
};

const size_t cfg_n_uploads_keys = CFG_NKEYS(cfg_uploads_keys);

const struct cfgw_key cfg_cors_keys[] = {
    { "allow_origins", h_origins, 0, 0, 0, "[\"*\"]" },
    { "allow_headers", h_headers, 0, 0, 0, "[Content-Type, X-Request-Id]" },
    { "max_age", cfgw_h_int, CRS(max_age), 0, 86400, "600" },
};

const size_t cfg_n_cors_keys = CFG_NKEYS(cfg_cors_keys);
