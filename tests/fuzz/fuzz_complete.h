/*
 * fuzz_complete.h - the check of a CompleteMultipartUpload body that
 * common/s3xml.c's s3xml_complete_body writes for a part list: when it
 * writes one, the body is well-formed XML (expat) and lists every part's
 * ETag, quoted, as the caller gave it (its own quotes removed). Shared by
 * the harnesses whose part lists come from a client (fuzz_body) and from
 * S3 (fuzz_s3xml). Include it once per harness, after fuzz_check is
 * defined (fuzz_stubs.h, or the harness's own).
 */
#ifndef PRESIGND_FUZZ_COMPLETE_H
#define PRESIGND_FUZZ_COMPLETE_H

#include <stdbool.h>
#include <string.h>

#include <expat.h>

#include "buf.h"
#include "s3.h"
#include "s3xml.h"

struct xml_parts {
    int depth;
    size_t n;                   /* <Part>s seen */
    bool in_text;
    struct buf text, number, etag;
    const struct s3_part *want;
    size_t n_want;
    bool bad;
};

static void XMLCALL xp_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct xml_parts *x = ud;

    (void)attrs;
    x->depth++;
    if (x->depth == 3 && (strcmp(name, "ETag") == 0 || strcmp(name, "PartNumber") == 0)) {
        x->in_text = true;
        buf_clear(&x->text);
    }
}

/* The ETag of PART as S3 wants it: without the caller's quotes. */
static void bare_etag(const struct s3_part *part, const char **e, size_t *len)
{
    *e = part->etag ? part->etag : "";
    *len = strlen(*e);
    if (*len >= 2 && (*e)[0] == '"' && (*e)[*len - 1] == '"') {
        (*e)++;
        *len -= 2;
    }
}

static void XMLCALL xp_end(void *ud, const XML_Char *name)
{
    struct xml_parts *x = ud;

    if (x->depth == 3 && x->in_text) {
        buf_clear(strcmp(name, "ETag") == 0 ? &x->etag : &x->number);
        buf_addn(strcmp(name, "ETag") == 0 ? &x->etag : &x->number, x->text.p, x->text.len);
        x->in_text = false;
    } else if (x->depth == 2 && strcmp(name, "Part") == 0) {
        char num[16];
        const char *e;
        size_t el;
        if (x->n >= x->n_want) {
            x->bad = true;
        } else {
            bare_etag(&x->want[x->n], &e, &el);
            snprintf(num, sizeof num, "%d", x->want[x->n].number);
            if (x->etag.len != el + 2 || x->etag.p[0] != '"' || x->etag.p[el + 1] != '"' ||
                memcmp(x->etag.p + 1, e, el) != 0 || strcmp(x->number.p, num) != 0)
                x->bad = true;
        }
        buf_clear(&x->etag);
        buf_clear(&x->number);
        x->n++;
    }
    x->depth--;
}

static void XMLCALL xp_text(void *ud, const XML_Char *s, int len)
{
    struct xml_parts *x = ud;

    if (x->in_text)
        buf_addn(&x->text, s, (size_t)len);
}

static void check_complete_body(const struct s3_part *parts, size_t n)
{
    struct buf b;
    char err[160] = "";

    buf_init(&b, NULL, 0);
    if (s3xml_complete_body(&b, parts, n, err, sizeof err)) {
        XML_Parser p = XML_ParserCreate("UTF-8");
        struct xml_parts x = { .want = parts, .n_want = n };
        buf_init(&x.text, NULL, 0);
        buf_init(&x.number, NULL, 0);
        buf_init(&x.etag, NULL, 0);
        buf_add(&x.number, "");
        XML_SetUserData(p, &x);
        XML_SetElementHandler(p, xp_start, xp_end);
        XML_SetCharacterDataHandler(p, xp_text);
        fuzz_check(XML_Parse(p, b.p, (int)b.len, 1) == XML_STATUS_OK,
                   "the CompleteMultipartUpload body is well-formed XML");
        fuzz_check(!x.bad && x.n == n, "it lists every part: its number, its ETag quoted");
        XML_ParserFree(p);
        buf_free(&x.text);
        buf_free(&x.number);
        buf_free(&x.etag);
    } else {
        /* Refused: some ETag is not hex digits and '-' (1..128 of them). */
        bool odd = false;
        for (size_t i = 0; i < n && !odd; i++) {
            const char *e;
            size_t el;
            bare_etag(&parts[i], &e, &el);
            odd = el == 0 || el > 128 || strspn(e, "0123456789abcdefABCDEF-") < el;
        }
        fuzz_check(odd && err[0], "a part list is refused for an ETag S3 never gives");
    }
    buf_free(&b);
}

#endif
