/*
 * cfgwalk.c - YAML loading, walking and error collection for the
 * configuration (see cfgwalk.h).
 *
 * The whole file is loaded with libyaml's document API, then walked
 * section by section against the caller's key tables. Nothing stops at the
 * first problem: every error is recorded with the 1-based line and column
 * of the key or value it is about, sorted by position and handed back as
 * "FILE:LINE:COL: message" lines, so an operator fixes a file in one round
 * instead of one reload per mistake.
 */
#include "cfgwalk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "str.h"

#define CFGW_ERRORS_MAX 50      /* past this, more lines only bury the first ones */

/* ---------------------------------------------------------------- errors */

static void add_err_v(struct cfgw *w, size_t line, size_t col, const char *fmt, va_list ap)
{
    char msg[1024];
    size_t off = 0;

    /* A default that fails its own handler is a bug in the tables. */
    if (w->defaults)
        off = (size_t)snprintf(msg, sizeof msg, "built-in default: ");
    vsnprintf(msg + off, sizeof msg - off, fmt, ap);
    if (w->n_errs >= CFGW_ERRORS_MAX) {
        if (w->dropped++ == 0) {
            w->first_dropped.line = line;
            w->first_dropped.col = col;
        }
        return;
    }
    if (w->n_errs == w->cap_errs) {
        size_t ncap = w->cap_errs ? w->cap_errs * 2 : 8;
        struct cfgw_err *n = realloc(w->errs, ncap * sizeof *n);
        if (!n) {
            w->oom = true;
            return;
        }
        w->errs = n;
        w->cap_errs = ncap;
    }
    struct cfgw_err *e = &w->errs[w->n_errs];
    if (!(e->msg = strdup(msg))) {
        w->oom = true;
        return;
    }
    e->line = line;
    e->col = col;
    e->seq = w->n_errs++;
}

void cfgw_err_at(struct cfgw *w, size_t line, size_t col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_err_v(w, line, col, fmt, ap);
    va_end(ap);
}

/*
 * libyaml marks are 0-based; people count from 1. An empty plain value
 * ("workers:" and nothing after) is marked after the colon, at the end of
 * the line; its key is where the reader's eye goes, so report it there.
 */
void cfgw_err(struct cfgw *w, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0 &&
        n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && w->cur_key)
        n = w->cur_key;
    if (n)
        add_err_v(w, n->start_mark.line + 1, n->start_mark.column + 1, fmt, ap);
    else
        add_err_v(w, 1, 1, fmt, ap);
    va_end(ap);
}

bool cfgw_failed(const struct cfgw *w)
{
    return w->n_errs || w->dropped || w->oom;
}

static int cmp_err(const void *a, const void *b)
{
    const struct cfgw_err *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void push_line(char ***lines, size_t *n, char *line)
{
    if (!line)
        return;
    char **nl = realloc(*lines, (*n + 1) * sizeof *nl);
    if (!nl) {
        free(line);
        return;
    }
    *lines = nl;
    (*lines)[(*n)++] = line;
}

static char *line_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *line_of(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

void cfgw_flush(struct cfgw *w, char ***lines, size_t *n_lines)
{
    if (w->n_errs > 1)
        qsort(w->errs, w->n_errs, sizeof *w->errs, cmp_err);
    for (size_t i = 0; i < w->n_errs; i++) {
        if (lines)
            push_line(lines, n_lines, line_of("%s:%zu:%zu: %s", w->name, w->errs[i].line,
                                              w->errs[i].col, w->errs[i].msg));
        free(w->errs[i].msg);
    }
    if (lines && w->dropped)
        push_line(lines, n_lines, line_of("%s:%zu:%zu: too many errors, %zu more not shown",
                                          w->name, w->first_dropped.line,
                                          w->first_dropped.col, w->dropped));
    if (lines && w->oom)
        push_line(lines, n_lines, line_of("%s:1:1: out of memory while reading the "
                                          "configuration", w->name));
    free(w->errs);
    w->errs = NULL;
    w->n_errs = w->cap_errs = 0;
}

/* ------------------------------------------------------------ node helpers */

yaml_node_t *cfgw_node(struct cfgw *w, int id)
{
    return yaml_document_get_node(w->doc, id);
}

bool cfgw_is_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE;
}

const char *cfgw_sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

size_t cfgw_slen(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

static bool is_plain(const yaml_node_t *n)
{
    return cfgw_is_scalar(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML 1.2 core schema null: an empty plain value, ~ or null. */
bool cfgw_is_null(const yaml_node_t *n)
{
    if (!n)
        return true;
    if (!is_plain(n))
        return false;
    const char *s = cfgw_sval(n);
    return cfgw_slen(n) == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *cfgw_describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (cfgw_is_null(n))
        return "nothing";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type != YAML_SCALAR_NODE)
        return "nothing";

    const unsigned char *s = n->data.scalar.value;
    size_t len = cfgw_slen(n), o = 0, shown = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        bool lead = (s[i] & 0xc0) != 0x80;
        /* Cut only between characters; 12 bytes keep room for one more
         * escape or UTF-8 sequence, the "...", the quote and the NUL. */
        if (lead && (shown == 40 || o + 12 >= size)) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (s[i] == '"' || s[i] == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", s[i]);
        else
            buf[o++] = (char)s[i];
        if (lead)
            shown++;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void *cfgw_field(struct cfgw *w, const struct cfgw_key *kd)
{
    return w->base + kd->off;
}

/*
 * Any scalar style counts as a string: a plain 12345 for an access key is
 * still the string "12345".
 */
int cfgw_str(struct cfgw *w, yaml_node_t *v, const char **out)
{
    char d[64];

    *out = NULL;
    if (cfgw_is_null(v))
        return 0;
    if (!cfgw_is_scalar(v)) {
        cfgw_err(w, v, "%s: expected a string, got %s", w->path, cfgw_describe(v, d, sizeof d));
        return -1;
    }
    if (str_has_ctl(cfgw_sval(v), cfgw_slen(v))) {
        cfgw_err(w, v, "%s: must not contain control characters", w->path);
        return -1;
    }
    *out = cfgw_sval(v);
    return 1;
}

bool cfgw_int(struct cfgw *w, yaml_node_t *v, long long min, long long max,
              const char *what, long long *out)
{
    char d[64];

    if (!cfgw_is_scalar(v) || cfgw_is_null(v)) {
        cfgw_err(w, v, "%s: expected %s, got %s", w->path, what, cfgw_describe(v, d, sizeof d));
        return false;
    }
    const char *s = cfgw_sval(v);
    size_t len = cfgw_slen(v);
    bool neg = len > 0 && s[0] == '-';
    bool numeric = str_is_digits(s + neg, len - neg);
    if (!is_plain(v)) {
        cfgw_err(w, v, "%s: expected %s, got the quoted string %s%s", w->path, what,
                 cfgw_describe(v, d, sizeof d), numeric ? " (write numbers without quotes)" : "");
        return false;
    }
    if (!numeric) {
        cfgw_err(w, v, "%s: expected %s, got %s", w->path, what, cfgw_describe(v, d, sizeof d));
        return false;
    }
    errno = 0;
    long long x = strtoll(s, NULL, 10);
    if (errno == ERANGE || x < min || x > max) {
        cfgw_err(w, v, "%s: %.40s is out of range (%lld..%lld)", w->path, s, min, max);
        return false;
    }
    *out = x;
    return true;
}

bool cfgw_bool(struct cfgw *w, yaml_node_t *v, bool *out)
{
    char d[64];

    if (is_plain(v)) {
        const char *s = cfgw_sval(v);
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            *out = true;
            return true;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            *out = false;
            return true;
        }
    }
    cfgw_err(w, v, "%s: expected true or false, got %s", w->path, cfgw_describe(v, d, sizeof d));
    return false;
}

void cfgw_set_str(struct cfgw *w, char **slot, const char *s)
{
    char *n = NULL;

    if (s && !(n = strdup(s))) {
        w->oom = true;
        return;
    }
    free(*slot);
    *slot = n;
}

yaml_node_t **cfgw_items(struct cfgw *w, yaml_node_t *v, size_t *n)
{
    yaml_node_t **items;

    *n = 0;
    if (v && v->type == YAML_SEQUENCE_NODE) {
        size_t total = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (total == 0)
            return NULL;
        if (!(items = calloc(total, sizeof *items))) {
            w->oom = true;
            return NULL;
        }
        for (size_t i = 0; i < total; i++)
            items[i] = cfgw_node(w, v->data.sequence.items.start[i]);
        *n = total;
        return items;
    }
    if (!(items = calloc(1, sizeof *items))) {
        w->oom = true;
        return NULL;
    }
    items[0] = v;
    *n = 1;
    return items;
}

void cfgw_h_int(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;

    (void)k;
    if (cfgw_int(w, v, kd->min, kd->max, "an integer", &x))
        *(int *)cfgw_field(w, kd) = (int)x;
}

void cfgw_h_size(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;

    (void)k;
    if (cfgw_int(w, v, kd->min, kd->max, "an integer", &x))
        *(size_t *)cfgw_field(w, kd) = (size_t)x;
}

void cfgw_h_i64(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    long long x;

    (void)k;
    if (cfgw_int(w, v, kd->min, kd->max, "an integer", &x))
        *(int64_t *)cfgw_field(w, kd) = (int64_t)x;
}

void cfgw_h_bool(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    bool b;

    (void)k;
    if (cfgw_bool(w, v, &b))
        *(bool *)cfgw_field(w, kd) = b;
}

void cfgw_h_opt_str(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v)
{
    const char *s;

    (void)k;
    if (cfgw_str(w, v, &s) < 0)
        return;
    cfgw_set_str(w, (char **)cfgw_field(w, kd), s && *s ? s : NULL);
}

/* ------------------------------------------------------------- walking */

/* Edit distance, for "did you mean" on a misspelt key. Names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The candidate within edit distance 2 of NAME, or NULL. */
static const char *suggest(const char *name, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (size_t i = 0; i < n; i++) {
        size_t dd = distance(name, cands[i]);
        if (dd < bestd) {
            bestd = dd;
            best = cands[i];
        }
    }
    return best;
}

/* Key names of a mapping: a non-null scalar without control characters.
 * Returns the name, or NULL after reporting. */
static const char *key_name(struct cfgw *w, const char *where, yaml_node_t *k)
{
    char d[80];

    if (!cfgw_is_scalar(k) || cfgw_is_null(k)) {
        cfgw_err(w, k, "%s: expected a key name, got %s", where, cfgw_describe(k, d, sizeof d));
        return NULL;
    }
    if (str_has_ctl(cfgw_sval(k), cfgw_slen(k)) || strlen(cfgw_sval(k)) != cfgw_slen(k)) {
        cfgw_err(w, k, "%s: unknown key %s", where, cfgw_describe(k, d, sizeof d));
        return NULL;
    }
    return cfgw_sval(k);
}

/* True (after reporting) when PAIR's key repeats an earlier key of MAP. */
static bool duplicate_key(struct cfgw *w, const char *where, yaml_node_t *map,
                          yaml_node_pair_t *pair, const char *name)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *k = cfgw_node(w, p->key);
        if (cfgw_is_scalar(k) && cfgw_slen(k) == strlen(name) && !strcmp(cfgw_sval(k), name)) {
            yaml_node_t *dup = cfgw_node(w, pair->key);
            if (where)
                cfgw_err(w, dup, "%s.%s: duplicate key (first at %zu:%zu)", where, name,
                         k->start_mark.line + 1, k->start_mark.column + 1);
            else
                cfgw_err(w, dup, "%s: duplicate key (first at %zu:%zu)", name,
                         k->start_mark.line + 1, k->start_mark.column + 1);
            return true;
        }
    }
    return false;
}

void cfgw_walk_map(struct cfgw *w, yaml_node_t *map, const char *path,
                   const struct cfgw_key *keys, size_t n, void *base)
{
    char d[80], saved_path[sizeof w->path];
    yaml_node_t *saved_key = w->cur_key;
    char *saved_base = w->base;

    if (cfgw_is_null(map))
        return;     /* "cors:" with nothing under it: all defaults */
    if (map->type != YAML_MAPPING_NODE) {
        cfgw_err(w, map, "%s: expected a mapping of keys, got %s", path,
                 cfgw_describe(map, d, sizeof d));
        return;
    }
    memcpy(saved_path, w->path, sizeof saved_path);
    w->base = base;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfgw_node(w, p->key), *v = cfgw_node(w, p->value);
        const char *name = key_name(w, path, k);
        if (!name || duplicate_key(w, path, map, p, name))
            continue;
        const struct cfgw_key *kd = NULL;
        for (size_t i = 0; i < n && !kd; i++)
            if (!strcmp(keys[i].name, name))
                kd = &keys[i];
        if (!kd) {
            const char *cands[64];
            size_t nc = 0;
            for (size_t i = 0; i < n && nc < 64; i++)
                cands[nc++] = keys[i].name;
            const char *s = suggest(name, cands, nc);
            if (s)
                cfgw_err(w, k, "%s.%.60s: unknown key (did you mean \"%s\"?)", path, name, s);
            else
                cfgw_err(w, k, "%s.%.60s: unknown key", path, name);
            continue;
        }
        snprintf(w->path, sizeof w->path, "%s.%s", path, name);
        w->cur_key = k;
        kd->fn(w, kd, k, v);
        w->base = base;     /* a nested walk may have moved it */
    }
    memcpy(w->path, saved_path, sizeof saved_path);
    w->cur_key = saved_key;
    w->base = saved_base;
}

/*
 * Application tags ("!vault abc", "!env X") look like they do something;
 * they would be read as plain strings, so refuse them. The standard
 * tag:yaml.org,2002: tags are what untagged nodes carry anyway.
 */
static void check_tags(struct cfgw *w)
{
    static const char std[] = "tag:yaml.org,2002:";

    for (yaml_node_t *n = w->doc->nodes.start; n < w->doc->nodes.top; n++) {
        const char *tag = (const char *)n->tag;
        if (tag && strncmp(tag, std, sizeof std - 1) != 0)
            cfgw_err(w, n, "YAML tag \"%.40s\" is not supported", tag);
    }
}

/* "server, s3, presign, uploads or cors" (SEP_LAST "or") or with ", ". */
static void section_names(const struct cfgw *w, const char *last_sep, char *out, size_t size)
{
    struct buf b;

    buf_init(&b, out, size);
    b.limit = size - 1;
    for (size_t i = 0; i < w->n_secs; i++) {
        if (i)
            buf_add(&b, i + 1 == w->n_secs ? last_sep : ", ");
        buf_add(&b, w->secs[i].name);
    }
    if (buf_failed(&b))
        snprintf(out, size, "...");
}

static void walk_root(struct cfgw *w, yaml_node_t *root)
{
    char d[80], names[256];

    if (!root || cfgw_is_null(root))
        return;
    if (root->type != YAML_MAPPING_NODE) {
        w->root_bad = true;
        section_names(w, ", ", names, sizeof names);
        cfgw_err(w, root, "expected a mapping of sections (%s) at the top level, got %s",
                 names, cfgw_describe(root, d, sizeof d));
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfgw_node(w, p->key), *v = cfgw_node(w, p->value);
        const char *name = key_name(w, "top level", k);
        if (!name || duplicate_key(w, NULL, root, p, name))
            continue;
        size_t si = w->n_secs;
        for (size_t i = 0; i < w->n_secs && si == w->n_secs; i++)
            if (!strcmp(w->secs[i].name, name))
                si = i;
        if (si == w->n_secs) {
            const char *cands[16];
            for (size_t i = 0; i < w->n_secs && i < 16; i++)
                cands[i] = w->secs[i].name;
            const char *s = suggest(name, cands, w->n_secs < 16 ? w->n_secs : 16);
            if (s) {
                cfgw_err(w, k, "%.60s: unknown section (did you mean \"%s\"?)", name, s);
            } else {
                section_names(w, " or ", names, sizeof names);
                cfgw_err(w, k, "%.60s: unknown section (expected %s)", name, names);
            }
            continue;
        }
        if (si < 16) {
            w->sec_key[si] = k;
            w->sec_bad[si] = !cfgw_is_null(v) && v->type != YAML_MAPPING_NODE;
        }
        cfgw_walk_map(w, v, w->secs[si].name, w->secs[si].keys, w->secs[si].n,
                      (char *)w->target + w->secs[si].off);
    }
}

/* Line and column (1-based, in characters) of byte OFFSET of TEXT. */
static void offset_to_pos(const char *text, size_t len, size_t offset, size_t *line,
                          size_t *col)
{
    *line = 1;
    *col = 1;
    if (offset > len)
        offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static void syntax_error(struct cfgw *w, yaml_parser_t *p, const char *text, size_t len)
{
    size_t line, col;
    const char *problem = p->problem ? p->problem : "unknown problem";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        w->oom = true;
        return;
    case YAML_READER_ERROR:
        offset_to_pos(text, len, p->problem_offset, &line, &col);
        cfgw_err_at(w, line, col, "invalid input: %s", problem);
        return;
    default:
        line = p->problem_mark.line + 1;
        col = p->problem_mark.column + 1;
        if (p->context)
            cfgw_err_at(w, line, col, "YAML syntax error: %s (%s at %zu:%zu)", problem,
                        p->context, p->context_mark.line + 1, p->context_mark.column + 1);
        else
            cfgw_err_at(w, line, col, "YAML syntax error: %s", problem);
        return;
    }
}

void cfgw_init(struct cfgw *w, const char *name, void *target,
               const struct cfgw_section *secs, size_t n_secs)
{
    memset(w, 0, sizeof *w);
    w->name = name ? name : "-";
    w->target = target;
    w->secs = secs;
    w->n_secs = n_secs;
}

/* The text may hold secret_access_key: libyaml's copies of it go wiped,
 * the scalars of a document and the parser's input buffers (its structs
 * are public). */
static void wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
            OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
}

static void wipe_parser(yaml_parser_t *p)
{
    if (p->raw_buffer.start)
        OPENSSL_cleanse(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
    if (p->buffer.start)
        OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
}

void cfgw_walk_text(struct cfgw *w, const char *text, size_t len,
                    void (*after)(struct cfgw *w))
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_doc = false;

    if (!text)
        len = 0;
    if (!yaml_parser_initialize(&parser)) {
        w->oom = true;
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(w, &parser, text, len);
    } else {
        have_doc = true;
        /* A second document would be ignored silently; say so instead. */
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(w, &parser, text, len);
        } else {
            if (yaml_document_get_root_node(&extra))
                cfgw_err_at(w, extra.start_mark.line + 1, extra.start_mark.column + 1,
                            "only one YAML document is allowed in the configuration file");
            wipe_document(&extra);
            yaml_document_delete(&extra);
        }
    }
    wipe_parser(&parser);
    yaml_parser_delete(&parser);
    if (have_doc) {
        w->doc = &doc;
        check_tags(w);
        walk_root(w, yaml_document_get_root_node(&doc));
        if (after)
            after(w);
        w->doc = NULL;
        wipe_document(&doc);
        yaml_document_delete(&doc);
    }
}

void cfgw_apply_defaults(struct cfgw *w)
{
    struct buf b;

    /* The defaults as one YAML document, so that they pass the same
     * handlers (and ranges) as the values of a file. */
    buf_init(&b, NULL, 0);
    for (size_t i = 0; i < w->n_secs; i++) {
        bool any = false;
        for (size_t j = 0; j < w->secs[i].n; j++) {
            const struct cfgw_key *kd = &w->secs[i].keys[j];
            if (!kd->def)
                continue;
            if (!any)
                buf_printf(&b, "%s:\n", w->secs[i].name);
            any = true;
            buf_printf(&b, "  %s: %s\n", kd->name, kd->def);
        }
    }
    if (buf_failed(&b)) {
        w->oom = true;
    } else {
        w->defaults = true;
        cfgw_walk_text(w, b.p, b.len, NULL);
        w->defaults = false;
    }
    buf_free(&b);
    memset(w->sec_key, 0, sizeof w->sec_key);
    memset(w->sec_bad, 0, sizeof w->sec_bad);
}
