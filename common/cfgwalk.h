/*
 * cfgwalk.h - the YAML half of the configuration loader: a document loaded
 * with libyaml's document API (every node keeps its position), walked
 * section by section against tables of keys, typed reads of values, and the
 * collection of every problem as "FILE:LINE:COL: message".
 *
 * config.c owns the schema: the tables (names, handlers, ranges and
 * defaults), the handlers that know what a value means and the rules that
 * tie keys together. Nothing here knows a key of presignd.
 *
 * Typing is stricter than YAML's: an integer is a plain (unquoted) decimal
 * scalar, a boolean is a plain true/false. A quoted "2" is a string, and
 * saying so beats guessing what was meant.
 */
#ifndef PRESIGND_CFGWALK_H
#define PRESIGND_CFGWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

struct cfgw;
struct cfgw_key;

typedef void (*cfgw_handler)(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k,
                             yaml_node_t *v);

/* One key of a section. */
struct cfgw_key {
    const char *name;
    cfgw_handler fn;
    size_t off;             /* field offset in the section's struct (generic handlers) */
    long long min, max;     /* range of integer keys */
    const char *def;        /* default as YAML text (flow style for lists and maps), or NULL */
};

/* One top-level section: "server", "s3", ... */
struct cfgw_section {
    const char *name;
    const struct cfgw_key *keys;
    size_t n;
    size_t off;             /* offset of the section's struct in the target */
};

struct cfgw_err {
    size_t line, col;       /* 1-based */
    size_t seq;             /* discovery order, keeps the sort stable */
    char *msg;
};

/* The walker's state; handlers read path, cur_key and target. */
struct cfgw {
    const char *name;               /* file name for the messages */
    yaml_document_t *doc;
    void *target;                   /* the struct the sections live in */
    const struct cfgw_section *secs;
    size_t n_secs;

    char path[96];                  /* "section.key" being read */
    yaml_node_t *cur_key;           /* its key node: where a missing value is reported */
    char *base;                     /* the struct the keys being walked write into */
    yaml_node_t *sec_key[16];       /* per section: its key node in the file, or NULL */
    bool sec_bad[16];               /* per section: present but not a mapping */
    bool root_bad;                  /* the document is not a mapping */
    bool defaults;                  /* walking the built-in defaults, not the file */

    struct cfgw_err *errs;
    size_t n_errs, cap_errs;
    size_t dropped;                 /* errors past the limit */
    struct cfgw_err first_dropped;
    bool oom;
};

void cfgw_init(struct cfgw *w, const char *name, void *target,
               const struct cfgw_section *secs, size_t n_secs);

/*
 * Apply the defaults of every table (the def strings), through the same
 * handlers as the file. A default that does not pass its own handler is a
 * bug, reported with "built-in default:" before the message.
 */
void cfgw_apply_defaults(struct cfgw *w);

/*
 * Parse TEXT as exactly one YAML document and walk it (the file). Syntax
 * errors, unknown sections and keys (with "did you mean"), duplicate keys
 * and application tags are recorded. AFTER (may be NULL) runs once the
 * walk is done, while the document's nodes (which handlers may have kept
 * to report at) still exist: the place for rules that tie keys together.
 */
void cfgw_walk_text(struct cfgw *w, const char *text, size_t len,
                    void (*after)(struct cfgw *w));

/* Record a problem at node N (NULL: 1:1), or at LINE:COL. */
void cfgw_err(struct cfgw *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cfgw_err_at(struct cfgw *w, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool cfgw_failed(const struct cfgw *w);

/* Sorted "FILE:LINE:COL: message" lines appended to *LINES (realloc'd), and
 * the walker's errors freed. */
void cfgw_flush(struct cfgw *w, char ***lines, size_t *n_lines);

/* ---- for handlers */

yaml_node_t *cfgw_node(struct cfgw *w, int id);
bool cfgw_is_scalar(const yaml_node_t *n);
bool cfgw_is_null(const yaml_node_t *n);
const char *cfgw_sval(const yaml_node_t *n);
size_t cfgw_slen(const yaml_node_t *n);
/* A short printable rendition of a value for messages (never on secrets). */
const char *cfgw_describe(const yaml_node_t *n, char *buf, size_t size);

/* The field a generic handler writes: the struct being walked + KD->off. */
void *cfgw_field(struct cfgw *w, const struct cfgw_key *kd);

/*
 * Walk the mapping MAP (null: nothing to do) against KEYS, writing into
 * BASE; PATH names it in messages ("auth.jwt", "auth.api_keys[2]"). For a
 * key whose value is itself a mapping, or a list of mappings, of fields of
 * their own. The walker's path, key and base are restored afterwards.
 */
void cfgw_walk_map(struct cfgw *w, yaml_node_t *map, const char *path,
                   const struct cfgw_key *keys, size_t n, void *base);

/* A string: 1 with *OUT set, 0 for null (*OUT NULL), -1 after an error. */
int cfgw_str(struct cfgw *w, yaml_node_t *v, const char **out);
/* An integer in MIN..MAX; WHAT names it in messages ("an integer"). */
bool cfgw_int(struct cfgw *w, yaml_node_t *v, long long min, long long max,
              const char *what, long long *out);
bool cfgw_bool(struct cfgw *w, yaml_node_t *v, bool *out);
/* Replace *SLOT with a copy of S (NULL clears). */
void cfgw_set_str(struct cfgw *w, char **slot, const char *s);
/* The items of a sequence V (*N of them) or V itself as a list of one;
 * NULL with *N = 0 for an empty sequence. Caller frees the array. */
yaml_node_t **cfgw_items(struct cfgw *w, yaml_node_t *v, size_t *n);

/* Generic handlers: int, size_t, int64_t, bool, optional string ("" = unset). */
void cfgw_h_int(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v);
void cfgw_h_size(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v);
void cfgw_h_i64(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v);
void cfgw_h_bool(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v);
void cfgw_h_opt_str(struct cfgw *w, const struct cfgw_key *kd, yaml_node_t *k, yaml_node_t *v);

#endif
