/*
 * s3walk.c - the ListParts walk of the /s3 handlers (see s3walk.h): one
 * page after another on R's S3 client, gathered into one list.
 */
#include "s3walk.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "handle_s3.h"
#include "req.h"
#include "s3.h"

static void walk_free(void *p)
{
    struct s3walk *w = p;

    for (size_t i = 0; i < w->n; i++)
        free(w->parts[i].etag);
    for (size_t i = 0; i < w->n_wanted; i++)
        free(w->wanted[i].etag);
    free(w->parts);
    free(w->wanted);
    free(w->upload_id);
    free(w);
}

static void walk_page(struct req *r, struct s3walk *w);

static void walk_page_done(const struct s3_result *res, void *arg)
{
    struct req *r = arg;
    struct s3walk *w = r->ctx;

    r->op = NULL;
    req_s3_account(r, res);
    if (res->status != S3_OK) {
        s3h_fail_multipart(r, res);
        return;
    }
    if (w->n + res->n_parts > S3H_MAX_PARTS || w->n + res->n_parts < w->n) {
        req_fail(r, 502, "s3_error", "S3 listed more than %d parts", S3H_MAX_PARTS);
        return;
    }
    if (w->n + res->n_parts > w->cap) {
        size_t cap = w->n + res->n_parts + 64;
        struct s3_part *p = realloc(w->parts, cap * sizeof *p);
        if (!p) {
            req_fail(r, 500, "internal_error", "out of memory");
            return;
        }
        w->parts = p;
        w->cap = cap;
    }
    for (size_t i = 0; i < res->n_parts; i++) {
        struct s3_part p = res->parts[i];
        if (!(p.etag = strdup(p.etag ? p.etag : ""))) {
            req_fail(r, 500, "internal_error", "out of memory");
            return;
        }
        w->parts[w->n++] = p;
    }
    /* A marker that does not move would page forever. */
    if (res->truncated && res->next_part_marker > w->marker) {
        w->marker = res->next_part_marker;
        walk_page(r, w);
        return;
    }
    w->done(r, w);
}

static void walk_page(struct req *r, struct s3walk *w)
{
    req_wait(r);
    r->op = s3_list_parts(r->api->s3, r->key, w->upload_id, w->marker, walk_page_done, r);
    if (!r->op)
        req_fail(r, 503, "s3_unavailable", "cannot start the S3 request");
}

void s3walk_start(struct req *r, char *upload_id, struct s3_part *wanted, size_t n_wanted,
                  void (*done)(struct req *r, struct s3walk *w))
{
    struct s3walk *w = calloc(1, sizeof *w);

    if (!w) {
        free(upload_id);
        for (size_t i = 0; i < n_wanted; i++)
            free(wanted[i].etag);
        free(wanted);
        req_fail(r, 500, "internal_error", "out of memory");
        return;
    }
    w->upload_id = upload_id;
    w->wanted = wanted;
    w->n_wanted = n_wanted;
    w->done = done;
    r->ctx = w;
    r->ctx_free = walk_free;
    walk_page(r, w);
}

int64_t s3walk_total(const struct s3walk *w)
{
    int64_t t = 0;

    for (size_t i = 0; i < w->n; i++)
        t += w->parts[i].size > 0 ? w->parts[i].size : 0;
    return t;
}

const struct s3_part *s3walk_part(const struct s3walk *w, int n)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->parts[i].number == n)
            return &w->parts[i];
    return NULL;
}
