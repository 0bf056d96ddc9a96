/*
 * s3xml.c - expat parsers for the S3 answers presignd reads, and the one
 * document it writes (see s3xml.h).
 *
 * Every document is flat: a root, some children, and for a listing one more
 * level under each item (<Contents>, <Part>). So instead of building a tree
 * the handlers track the depth and collect the text of the handful of
 * elements we use; anything else (Owner, StorageClass, CommonPrefixes...)
 * is skipped.
 */
#include "s3xml.h"
#include "buf.h"
#include "errbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

/* S3 keys are at most 1024 bytes and tokens are short; anything far larger
 * is not an S3 document. */
#define S3XML_MAX_TEXT 65536

enum field {
    F_NONE,
    F_KEY, F_SIZE, F_LAST_MODIFIED, F_ETAG,             /* under <Contents> */
    F_IS_TRUNCATED, F_NEXT_TOKEN, F_KEY_COUNT,          /* under the root */
    F_CODE, F_MESSAGE,                                  /* error document */
    F_PART_NUMBER, F_PART_SIZE, F_PART_ETAG,            /* under <Part> */
    F_NEXT_MARKER,                                      /* ListPartsResult */
    F_UPLOAD_ID, F_LOCATION, F_BUCKET, F_UP_KEY, F_UP_ETAG,  /* initiate, complete */
};

enum doc { DOC_LIST, DOC_ERROR, DOC_PARTS, DOC_UPLOAD };

/* The ETags S3 writes: hex digits, a "-N" part count, quotes. */
#define MAX_PART_NUMBER 10000

struct ctx {
    XML_Parser p;
    enum doc doc;
    int depth;
    bool failed;
    char err[160];

    enum field field;          /* element whose text is being collected */
    int field_depth;
    struct buf text;           /* limited to S3XML_MAX_TEXT */

    /* DOC_LIST */
    struct s3xml_list *list;
    size_t cap;
    bool in_contents;
    struct s3_object cur;
    bool cur_has_size;

    /* DOC_ERROR */
    struct s3xml_error *error;

    /* DOC_PARTS */
    struct s3xml_parts *parts;
    bool in_part;
    struct s3_part part;

    /* DOC_UPLOAD */
    struct s3xml_upload *upload;
    const char *root;
};

static void fail(struct ctx *x, const char *msg)
{
    if (!x->failed) {
        x->failed = true;
        snprintf(x->err, sizeof(x->err), "%s", msg);
    }
    XML_StopParser(x->p, XML_FALSE);
}

/* Element name without a namespace prefix ("s3:Key" -> "Key"). */
static const char *local_name(const XML_Char *name)
{
    const char *colon = strrchr(name, ':');
    return colon ? colon + 1 : name;
}

static void begin_text(struct ctx *x, enum field f)
{
    x->field = f;
    x->field_depth = x->depth;
    buf_clear(&x->text);
}

/* The collected text as a new string ("" when empty). */
static char *take_text(struct ctx *x)
{
    char *s = strndup(x->text.p ? x->text.p : "", x->text.len);
    if (!s)
        fail(x, "out of memory");
    return s;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct ctx *x = ud;

    if (x->failed || x->field == F_NONE || x->depth != x->field_depth || len <= 0)
        return;
    buf_addn(&x->text, s, (size_t)len);
    if (x->text.overflow)
        fail(x, "element text too long");
    else if (x->text.oom)
        fail(x, "out of memory");
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct ctx *x = ud;
    const char *n = local_name(name);

    (void)attrs;
    if (x->failed)
        return;
    x->depth++;
    if (x->field != F_NONE) {
        /* Markup inside a text field (<Key><b/></Key>) is not S3's. */
        fail(x, "unexpected element inside a text element");
        return;
    }
    if (x->depth == 1) {
        const char *want = x->doc == DOC_LIST    ? "ListBucketResult"
                           : x->doc == DOC_PARTS ? "ListPartsResult"
                           : x->doc == DOC_UPLOAD ? x->root
                                                  : "Error";
        if (strcmp(n, want) != 0) {
            char msg[120];
            snprintf(msg, sizeof(msg), "root element is not <%s>", want);
            fail(x, msg);
        }
        return;
    }
    if (x->doc == DOC_ERROR) {
        if (x->depth == 2 && strcmp(n, "Code") == 0)
            begin_text(x, F_CODE);
        else if (x->depth == 2 && strcmp(n, "Message") == 0)
            begin_text(x, F_MESSAGE);
        return;
    }
    if (x->doc == DOC_UPLOAD) {
        static const struct { const char *name; enum field f; } fields[] = {
            { "UploadId", F_UPLOAD_ID }, { "Location", F_LOCATION },
            { "Bucket", F_BUCKET }, { "Key", F_UP_KEY }, { "ETag", F_UP_ETAG },
        };
        for (size_t i = 0; x->depth == 2 && i < sizeof fields / sizeof *fields; i++)
            if (strcmp(n, fields[i].name) == 0)
                begin_text(x, fields[i].f);
        return;
    }
    if (x->doc == DOC_PARTS) {
        if (x->depth == 2 && strcmp(n, "Part") == 0) {
            x->in_part = true;
            memset(&x->part, 0, sizeof x->part);
            x->part.size = -1;
        } else if (x->depth == 2 && strcmp(n, "IsTruncated") == 0) {
            begin_text(x, F_IS_TRUNCATED);
        } else if (x->depth == 2 && strcmp(n, "NextPartNumberMarker") == 0) {
            begin_text(x, F_NEXT_MARKER);
        } else if (x->depth == 3 && x->in_part) {
            if (strcmp(n, "PartNumber") == 0)
                begin_text(x, F_PART_NUMBER);
            else if (strcmp(n, "Size") == 0)
                begin_text(x, F_PART_SIZE);
            else if (strcmp(n, "ETag") == 0)
                begin_text(x, F_PART_ETAG);
        }
        return;
    }
    if (x->depth == 2) {
        if (strcmp(n, "Contents") == 0) {
            x->in_contents = true;
            memset(&x->cur, 0, sizeof(x->cur));
            x->cur.size = -1;
            x->cur_has_size = false;
        } else if (strcmp(n, "IsTruncated") == 0) {
            begin_text(x, F_IS_TRUNCATED);
        } else if (strcmp(n, "NextContinuationToken") == 0) {
            begin_text(x, F_NEXT_TOKEN);
        } else if (strcmp(n, "KeyCount") == 0) {
            begin_text(x, F_KEY_COUNT);
        }
    } else if (x->depth == 3 && x->in_contents) {
        if (strcmp(n, "Key") == 0)
            begin_text(x, F_KEY);
        else if (strcmp(n, "Size") == 0)
            begin_text(x, F_SIZE);
        else if (strcmp(n, "LastModified") == 0)
            begin_text(x, F_LAST_MODIFIED);
        else if (strcmp(n, "ETag") == 0)
            begin_text(x, F_ETAG);
    }
}

static bool parse_nonneg(const char *s, long long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Replace *SLOT with the collected text (duplicates: last one wins). */
static void set_text(struct ctx *x, char **slot)
{
    char *s = take_text(x);
    if (!s)
        return;
    free(*slot);
    *slot = s;
}

/* S3 quotes ETags ("\"9b2c...\""); callers want the bare value. */
static void set_etag(struct ctx *x, char **slot)
{
    const char *t = x->text.p ? x->text.p : "";
    size_t a = 0, b = x->text.len;

    if (b >= 2 && t[0] == '"' && t[b - 1] == '"') {
        a = 1;
        b--;
    }
    char *s = strndup(t + a, b - a);
    if (!s) {
        fail(x, "out of memory");
        return;
    }
    free(*slot);
    *slot = s;
}

static void end_field(struct ctx *x)
{
    const char *t = x->text.p ? x->text.p : "";
    long long v;

    switch (x->field) {
    case F_KEY:
        set_text(x, &x->cur.key);
        break;
    case F_SIZE:
        if (!parse_nonneg(t, &v)) {
            fail(x, "invalid <Size>");
            return;
        }
        x->cur.size = v;
        x->cur_has_size = true;
        break;
    case F_LAST_MODIFIED:
        set_text(x, &x->cur.last_modified);
        break;
    case F_ETAG:
        set_etag(x, &x->cur.etag);
        break;
    case F_PART_ETAG:
        set_etag(x, &x->part.etag);
        break;
    case F_UP_ETAG:
        set_etag(x, &x->upload->etag);
        break;
    case F_PART_NUMBER:
        if (!parse_nonneg(t, &v) || v < 1 || v > MAX_PART_NUMBER) {
            fail(x, "invalid <PartNumber>");
            return;
        }
        x->part.number = (int)v;
        break;
    case F_PART_SIZE:
        if (!parse_nonneg(t, &v)) {
            fail(x, "invalid <Size>");
            return;
        }
        x->part.size = v;
        break;
    case F_NEXT_MARKER:
        if (x->text.len == 0)
            break;
        if (!parse_nonneg(t, &v) || v > MAX_PART_NUMBER) {
            fail(x, "invalid <NextPartNumberMarker>");
            return;
        }
        x->parts->next_marker = (int)v;
        break;
    case F_UPLOAD_ID:
        set_text(x, &x->upload->upload_id);
        break;
    case F_LOCATION:
        set_text(x, &x->upload->location);
        break;
    case F_BUCKET:
        set_text(x, &x->upload->bucket);
        break;
    case F_UP_KEY:
        set_text(x, &x->upload->key);
        break;
    case F_IS_TRUNCATED: {
        bool *slot = x->doc == DOC_PARTS ? &x->parts->truncated : &x->list->truncated;
        if (strcmp(t, "true") == 0)
            *slot = true;
        else if (strcmp(t, "false") == 0)
            *slot = false;
        else
            fail(x, "invalid <IsTruncated>");
        break;
    }
    case F_NEXT_TOKEN:
        if (x->text.len > 0)
            set_text(x, &x->list->next_token);
        break;
    case F_KEY_COUNT:
        if (!parse_nonneg(t, &v) || v > INT_MAX) {
            fail(x, "invalid <KeyCount>");
            return;
        }
        x->list->key_count = (int)v;
        break;
    case F_CODE:
        set_text(x, &x->error->code);
        break;
    case F_MESSAGE:
        set_text(x, &x->error->message);
        break;
    case F_NONE:
        break;
    }
}

static void object_free(struct s3_object *o)
{
    free(o->key);
    free(o->last_modified);
    free(o->etag);
    memset(o, 0, sizeof(*o));
}

static void end_contents(struct ctx *x)
{
    struct s3xml_list *l = x->list;

    x->in_contents = false;
    if (!x->cur.key) {
        object_free(&x->cur);
        fail(x, "<Contents> without <Key>");
        return;
    }
    if (!x->cur_has_size)
        x->cur.size = 0;
    if (l->n_objects == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 16;
        struct s3_object *n = realloc(l->objects, ncap * sizeof(*n));
        if (!n) {
            object_free(&x->cur);
            fail(x, "out of memory");
            return;
        }
        l->objects = n;
        x->cap = ncap;
    }
    l->objects[l->n_objects++] = x->cur;
    memset(&x->cur, 0, sizeof(x->cur));
}

static void end_part(struct ctx *x)
{
    struct s3xml_parts *p = x->parts;

    x->in_part = false;
    if (x->part.number == 0 || !x->part.etag) {
        free(x->part.etag);
        memset(&x->part, 0, sizeof x->part);
        fail(x, "<Part> without <PartNumber> or <ETag>");
        return;
    }
    if (p->n_parts == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 64;
        struct s3_part *n = realloc(p->parts, ncap * sizeof *n);
        if (!n) {
            free(x->part.etag);
            memset(&x->part, 0, sizeof x->part);
            fail(x, "out of memory");
            return;
        }
        p->parts = n;
        x->cap = ncap;
    }
    p->parts[p->n_parts++] = x->part;
    memset(&x->part, 0, sizeof x->part);
}

static void on_end(void *ud, const XML_Char *name)
{
    struct ctx *x = ud;

    (void)name;
    if (x->failed)
        return;
    if (x->field != F_NONE && x->depth == x->field_depth) {
        end_field(x);
        x->field = F_NONE;
    } else if (x->doc == DOC_LIST && x->depth == 2 && x->in_contents) {
        end_contents(x);
    } else if (x->doc == DOC_PARTS && x->depth == 2 && x->in_part) {
        end_part(x);
    }
    x->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud, "DTDs are not accepted");
}

static int run(struct ctx *x, const char *xml, size_t len)
{
    buf_init(&x->text, NULL, 0);
    x->text.limit = S3XML_MAX_TEXT;
    if (len > INT_MAX) {
        snprintf(x->err, sizeof(x->err), "document too large");
        return -1;
    }
    x->p = XML_ParserCreate("UTF-8");
    if (!x->p) {
        snprintf(x->err, sizeof(x->err), "out of memory");
        return -1;
    }
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    XML_SetStartDoctypeDeclHandler(x->p, on_doctype);

    enum XML_Status st = XML_Parse(x->p, xml ? xml : "", (int)len, XML_TRUE);
    if (!x->failed && st != XML_STATUS_OK) {
        x->failed = true;
        snprintf(x->err, sizeof(x->err), "malformed XML at line %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(x->p),
                 XML_ErrorString(XML_GetErrorCode(x->p)));
    }
    if (!x->failed && x->depth != 0) {
        x->failed = true;
        snprintf(x->err, sizeof(x->err), "truncated XML");
    }
    XML_ParserFree(x->p);
    x->p = NULL;
    buf_free(&x->text);
    object_free(&x->cur);
    free(x->part.etag);
    x->part.etag = NULL;
    return x->failed ? -1 : 0;
}

void s3xml_objects_free(struct s3_object *objs, size_t n)
{
    if (!objs)
        return;
    for (size_t i = 0; i < n; i++)
        object_free(&objs[i]);
    free(objs);
}

void s3xml_list_free(struct s3xml_list *l)
{
    if (!l)
        return;
    s3xml_objects_free(l->objects, l->n_objects);
    free(l->next_token);
    memset(l, 0, sizeof(*l));
    l->key_count = -1;
}

int s3xml_parse_list(const char *xml, size_t len, struct s3xml_list *out,
                     char *err, size_t errlen)
{
    struct ctx x;

    memset(&x, 0, sizeof(x));
    memset(out, 0, sizeof(*out));
    out->key_count = -1;
    x.doc = DOC_LIST;
    x.list = out;
    if (run(&x, xml, len) < 0) {
        errbuf_set(err, errlen, "ListObjectsV2 response: %s", x.err);
        s3xml_list_free(out);
        return -1;
    }
    return 0;
}

void s3xml_error_free(struct s3xml_error *e)
{
    if (!e)
        return;
    free(e->code);
    free(e->message);
    e->code = e->message = NULL;
}

int s3xml_parse_error(const char *xml, size_t len, struct s3xml_error *out)
{
    struct ctx x;

    memset(&x, 0, sizeof(x));
    memset(out, 0, sizeof(*out));
    x.doc = DOC_ERROR;
    x.error = out;
    if (run(&x, xml, len) < 0) {
        s3xml_error_free(out);
        return -1;
    }
    return 0;
}

void s3xml_parts_free(struct s3xml_parts *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_parts; i++)
        free(p->parts[i].etag);
    free(p->parts);
    memset(p, 0, sizeof *p);
}

int s3xml_parse_parts(const char *xml, size_t len, struct s3xml_parts *out,
                      char *err, size_t errlen)
{
    struct ctx x;

    memset(&x, 0, sizeof x);
    memset(out, 0, sizeof *out);
    x.doc = DOC_PARTS;
    x.parts = out;
    if (run(&x, xml, len) < 0) {
        errbuf_set(err, errlen, "ListParts response: %s", x.err);
        s3xml_parts_free(out);
        return -1;
    }
    return 0;
}

void s3xml_upload_free(struct s3xml_upload *u)
{
    if (!u)
        return;
    free(u->upload_id);
    free(u->location);
    free(u->bucket);
    free(u->key);
    free(u->etag);
    memset(u, 0, sizeof *u);
}

int s3xml_parse_upload(const char *xml, size_t len, const char *root,
                       struct s3xml_upload *out, char *err, size_t errlen)
{
    struct ctx x;

    memset(&x, 0, sizeof x);
    memset(out, 0, sizeof *out);
    x.doc = DOC_UPLOAD;
    x.upload = out;
    x.root = root;
    if (run(&x, xml, len) < 0) {
        errbuf_set(err, errlen, "%s: %s", root, x.err);
        s3xml_upload_free(out);
        return -1;
    }
    return 0;
}

/* An ETag as S3 makes them: hex digits and an optional "-N" (multipart). */
static bool etag_chars_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '-'))
            return false;
    }
    return true;
}

bool s3xml_complete_body(struct buf *b, const struct s3_part *parts, size_t n,
                         char *err, size_t errlen)
{
    buf_add(b, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (size_t i = 0; i < n; i++) {
        const char *e = parts[i].etag ? parts[i].etag : "";
        size_t len = strlen(e);
        /* Clients send them quoted (as S3 gave them) or not: S3 wants them
         * quoted; anything but hex and '-' inside is not an ETag, and would
         * need escaping here. */
        if (len >= 2 && e[0] == '"' && e[len - 1] == '"') {
            e++;
            len -= 2;
        }
        if (!etag_chars_ok(e, len)) {
            errbuf_set(err, errlen, "part %d: the ETag is not one S3 gives", parts[i].number);
            return false;
        }
        buf_printf(b, "<Part><PartNumber>%d</PartNumber><ETag>\"%.*s\"</ETag></Part>",
                   parts[i].number, (int)len, e);
    }
    buf_add(b, "</CompleteMultipartUpload>");
    if (buf_failed(b)) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    return true;
}
