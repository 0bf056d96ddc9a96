/*
 * query.c - query strings (see query.h).
 */
#include "query.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

/* One form-encoded component, decoded; NULL when it holds a NUL byte. */
static char *form_decode(const char *s, size_t n)
{
    char *raw = strndup(s, n);
    size_t len = 0;

    if (!raw)
        return NULL;
    char *dec = evhttp_uridecode(raw, 1, &len);
    free(raw);
    if (dec && strlen(dec) != len) {
        free(dec);
        return NULL;
    }
    return dec;
}

int query_parse(const char *qs, struct query *out)
{
    size_t cap = 0;

    memset(out, 0, sizeof *out);
    for (const char *p = qs; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char *k = form_decode(p, klen);
        char *v = eq ? form_decode(eq + 1, plen - klen - 1) : strdup("");
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct query_param *np = realloc(out->params, ncap * sizeof *np);
            if (!np) {
                free(k);
                free(v);
                query_free(out);
                return -1;
            }
            out->params = np;
            cap = ncap;
        }
        if (!k || !v) {
            free(k);
            free(v);
            query_free(out);
            return -1;
        }
        out->params[out->n].name = k;
        out->params[out->n++].value = v;
        p = amp ? amp + 1 : p + plen;
    }
    return 0;
}

const char *query_get(const struct query *q, const char *name)
{
    for (size_t i = q->n; i-- > 0;)
        if (strcmp(q->params[i].name, name) == 0)
            return q->params[i].value;
    return NULL;
}

void query_free(struct query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->params[i].name);
        free(q->params[i].value);
    }
    free(q->params);
    q->params = NULL;
    q->n = 0;
}
