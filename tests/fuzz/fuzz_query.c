/*
 * fuzz_query.c - libFuzzer harness for query strings: daemon/query.c's
 * query_parse and query_get (application/x-www-form-urlencoded: '&', '=',
 * '+' as a space, %-escapes), and the metadata[NAME]=VALUE parameters of
 * GET /s3/params that daemon/handle_s3.c's meta_from_query turns into S3
 * user metadata (common/s3meta.c). handle_s3.c is compiled into this file
 * to reach that static function; fuzz_stubs.h stands in for req.c.
 *
 * Input: the query string (what follows '?'; evhttp hands it over as a C
 * string, so it ends at the first NUL byte).
 *
 * Checks, besides memory errors: query_parse keeps one parameter per
 * '&'-separated piece (a trailing empty piece aside), each name and value
 * decoded as an independent decoder here says, and refuses exactly the
 * strings where one decodes to a NUL byte; query_get finds the last
 * parameter of a name; metadata accepted from a query is within S3's
 * limits, lower-case names, printable ASCII values that decode to what the
 * query said.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_stubs.h"

#include "handle_s3.c"

#include "b64.h"
#include "query.h"
#include "s3meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* S (N bytes) form-decoded into OUT (room for N + 1); -1 when a byte
 * decodes to NUL, else the length. A '%' not followed by two hex digits
 * stays as it is. */
static long form_decode_ref(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
        if (out[o - 1] == '\0')
            return -1;
    }
    out[o] = '\0';
    return (long)o;
}

static void check_meta(const struct query *q, const struct s3meta *m)
{
    fuzz_check(m->n <= S3META_MAX_ITEMS && m->bytes <= S3META_MAX_BYTES, "metadata limits");
    for (size_t i = 0; i < m->n; i++) {
        const char *name = m->items[i].name, *v = m->items[i].value;
        size_t nl = strlen(name), vl = strlen(v);
        fuzz_check(nl >= 1 && nl <= S3META_MAX_NAME, "metadata name length");
        for (size_t j = 0; j < nl; j++)
            fuzz_check((name[j] >= 'a' && name[j] <= 'z') || (name[j] >= '0' && name[j] <= '9') ||
                       name[j] == '-' || name[j] == '_', "metadata name: lower-case token");
        for (size_t j = 0; j < vl; j++)
            fuzz_check(v[j] >= 0x20 && v[j] <= 0x7e, "metadata value: printable ASCII");
        /* The parameter it came from: metadata[NAME] in any case (names
         * that differ only in case are refused, so there is one). */
        const char *orig = NULL;
        for (size_t p = 0; p < q->n; p++) {
            const char *k = q->params[p].name;
            size_t kl = strlen(k);
            if (kl == nl + 10 && strncmp(k, "metadata[", 9) == 0 && k[kl - 1] == ']' &&
                strncasecmp(k + 9, name, nl) == 0 && strcmp(q->params[p].value, "null") != 0)
                orig = q->params[p].value;
        }
        fuzz_check(orig != NULL, "a stored entry was sent");
        size_t ol = strlen(orig);
        bool plain = true;
        for (size_t j = 0; j < ol; j++)
            plain = plain && orig[j] >= 0x20 && orig[j] <= 0x7e;
        if (plain) {
            fuzz_check(strcmp(v, orig) == 0, "a plain value is stored as sent");
        } else {
            unsigned char raw[S3META_MAX_BYTES + 3];
            size_t n = 0;
            fuzz_check(vl > 12 && strncmp(v, "=?UTF-8?B?", 10) == 0 &&
                       strcmp(v + vl - 2, "?=") == 0 && vl - 12 <= 4 * sizeof raw / 3 - 4,
                       "an RFC 2047 encoded word");
            fuzz_check(b64_decode(v + 10, vl - 12, false, raw, &n) && n == ol &&
                       memcmp(raw, orig, ol) == 0, "the encoded word decodes to the value");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *qs = strndup((const char *)data, size);   /* up to the first NUL */
    struct query q;

    if (!qs)
        return 0;
    size_t len = strlen(qs);
    char *ref = malloc(len + 1);
    fuzz_check(ref != NULL, "memory");

    /* The pieces, decoded here independently. */
    size_t pieces = 0;
    bool nul = false;
    for (const char *p = qs; *p;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        nul = nul || form_decode_ref(p, klen, ref) < 0 ||
              (eq && form_decode_ref(eq + 1, plen - klen - 1, ref) < 0);
        pieces++;
        p = amp ? amp + 1 : p + plen;
    }

    int rc = query_parse(qs, &q);
    if (rc < 0) {
        fuzz_check(nul, "refused only when something decodes to NUL");
        fuzz_check(q.n == 0 && q.params == NULL, "a refused query is empty");
        goto out;
    }
    fuzz_check(!nul, "a NUL byte is refused");
    fuzz_check(q.n == pieces, "one parameter per piece");
    size_t i = 0;
    for (const char *p = qs; *p; i++) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        long n = form_decode_ref(p, klen, ref);
        fuzz_check(n >= 0 && strcmp(q.params[i].name, ref) == 0, "names decode as forms do");
        if (eq) {
            n = form_decode_ref(eq + 1, plen - klen - 1, ref);
            fuzz_check(n >= 0 && strcmp(q.params[i].value, ref) == 0,
                       "values decode as forms do");
        } else {
            fuzz_check(q.params[i].value[0] == '\0', "a name alone has an empty value");
        }
        p = amp ? amp + 1 : p + plen;
    }
    for (i = 0; i < q.n; i++) {
        const char *v = query_get(&q, q.params[i].name);
        size_t last = i;
        for (size_t j = i + 1; j < q.n; j++)
            if (strcmp(q.params[j].name, q.params[i].name) == 0)
                last = j;
        fuzz_check(v == q.params[last].value, "query_get: the last one wins");
    }
    (void)query_get(&q, "key");

    /* GET /s3/params?metadata[name]=...: */
    struct s3meta m;
    struct req r = { 0 };
    s3meta_init(&m);
    fuzz_answer_reset();
    bool ok = meta_from_query(&r, &q, &m);
    fuzz_check(ok ? fuzz_answer.n == 0 : fuzz_answer.n == 1 && fuzz_answer.status == 400,
               "metadata: accepted silently, or refused with one 400");
    if (ok)
        check_meta(&q, &m);
    s3meta_free(&m);
    /* and the part numbers of /s3/multipart/{uploadId}/{partNumber}. */
    for (i = 0; i < q.n; i++) {
        int pn = part_number(q.params[i].value);
        fuzz_check(pn == -1 || (pn >= 1 && pn <= MAX_PARTS), "part numbers 1..10000");
        if (pn > 0) {
            char again[8];
            snprintf(again, sizeof again, "%d", pn);
            const char *v = q.params[i].value;
            while (*v == '0' && v[1])
                v++;
            fuzz_check(strcmp(again, v) == 0, "a part number is its digits");
        }
    }
    query_free(&q);
out:
    free(ref);
    free(qs);
    return 0;
}
