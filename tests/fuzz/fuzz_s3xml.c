/*
 * fuzz_s3xml.c - libFuzzer harness for the S3 answers presignd parses
 * (common/s3xml.c, expat): s3xml_parse_list (ListObjectsV2),
 * s3xml_parse_error, s3xml_parse_parts (ListParts), s3xml_parse_upload with
 * either root (InitiateMultipartUploadResult, CompleteMultipartUploadResult),
 * and s3xml_complete_body on the parts a ListParts answer lists, so that
 * ETags come from the input as they do when presignd completes an upload
 * with the parts S3 listed.
 *
 * Input: byte 0 picks the document (0 list, 1 error, 2 parts, 3 initiate,
 * 4 complete, modulo 5); the rest is the XML.
 *
 * Checks, besides memory errors: a refusal leaves the result empty (and
 * says why, but for error documents, which have no message); what a parser
 * accepts is UTF-8 and within its ranges (sizes >= 0, part numbers
 * 1..10000, markers 0..10000), and survives a round trip: written back as
 * XML by this harness (escaped) and parsed again, it is the same. The
 * CompleteMultipartUpload body is checked by fuzz_complete.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "keys.h"
#include "s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_s3xml: contract broken: %s\n", what);
        abort();
    }
}

#include "fuzz_complete.h"

/* ---- writing documents back */

static void text(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_add(b, "&amp;"); break;
        case '<': buf_add(b, "&lt;"); break;
        case '>': buf_add(b, "&gt;"); break;
        case '\r': buf_add(b, "&#13;"); break;     /* else read back as \n */
        default: buf_addc(b, *s); break;
        }
    }
}

static void elem(struct buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    buf_printf(b, "<%s>", name);
    text(b, value);
    buf_printf(b, "</%s>", name);
}

/* An ETag as S3 writes it, quoted (the parsers take one pair off). */
static void etag_elem(struct buf *b, const char *value)
{
    if (!value)
        return;
    buf_add(b, "<ETag>\"");
    text(b, value);
    buf_add(b, "\"</ETag>");
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_utf8(const char *s)
{
    fuzz_check(!s || keys_utf8_valid(s, strlen(s)), "parsed text is UTF-8");
}

/* ---- the documents */

static void fuzz_list(const char *xml, size_t len)
{
    struct s3xml_list l, again;
    char err[256] = "";
    struct buf b;

    if (s3xml_parse_list(xml, len, &l, err, sizeof err) < 0) {
        fuzz_check(err[0] && l.n_objects == 0 && !l.objects && !l.next_token,
                   "a refused listing is empty and says why");
        return;
    }
    fuzz_check(l.key_count >= -1, "KeyCount");
    check_utf8(l.next_token);
    buf_init(&b, NULL, 0);
    buf_add(&b, "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    buf_printf(&b, "<IsTruncated>%s</IsTruncated>", l.truncated ? "true" : "false");
    elem(&b, "NextContinuationToken", l.next_token);
    if (l.key_count >= 0)
        buf_printf(&b, "<KeyCount>%d</KeyCount>", l.key_count);
    for (size_t i = 0; i < l.n_objects; i++) {
        const struct s3_object *o = &l.objects[i];
        fuzz_check(o->key != NULL && o->size >= 0, "an object has a key and a size");
        check_utf8(o->key);
        check_utf8(o->etag);
        check_utf8(o->last_modified);
        buf_add(&b, "<Contents>");
        elem(&b, "Key", o->key);
        elem(&b, "LastModified", o->last_modified);
        etag_elem(&b, o->etag);
        buf_printf(&b, "<Size>%lld</Size>", (long long)o->size);
        buf_add(&b, "</Contents>");
    }
    buf_add(&b, "</ListBucketResult>");
    fuzz_check(!buf_failed(&b), "memory");
    fuzz_check(s3xml_parse_list(b.p, b.len, &again, err, sizeof err) == 0,
               "a listing written back parses");
    fuzz_check(again.truncated == l.truncated && again.key_count == l.key_count &&
               same(again.next_token, l.next_token) && again.n_objects == l.n_objects,
               "a listing reads back the same");
    for (size_t i = 0; i < l.n_objects; i++) {
        const struct s3_object *o = &l.objects[i], *p = &again.objects[i];
        fuzz_check(same(o->key, p->key) && o->size == p->size && same(o->etag, p->etag) &&
                   same(o->last_modified, p->last_modified), "objects read back the same");
    }
    s3xml_list_free(&again);
    s3xml_list_free(&l);
    buf_free(&b);
}

static void fuzz_error(const char *xml, size_t len)
{
    struct s3xml_error e, again;
    struct buf b;

    if (s3xml_parse_error(xml, len, &e) < 0) {
        fuzz_check(!e.code && !e.message, "a refused error document is empty");
        return;
    }
    check_utf8(e.code);
    check_utf8(e.message);
    buf_init(&b, NULL, 0);
    buf_add(&b, "<Error>");
    elem(&b, "Code", e.code);
    elem(&b, "Message", e.message);
    buf_add(&b, "<RequestId>tx0</RequestId></Error>");
    fuzz_check(!buf_failed(&b), "memory");
    fuzz_check(s3xml_parse_error(b.p, b.len, &again) == 0 && same(again.code, e.code) &&
               same(again.message, e.message), "an error document reads back the same");
    s3xml_error_free(&again);
    s3xml_error_free(&e);
    buf_free(&b);
}

static void fuzz_parts(const char *xml, size_t len)
{
    struct s3xml_parts p, again;
    char err[256] = "";
    struct buf b;

    if (s3xml_parse_parts(xml, len, &p, err, sizeof err) < 0) {
        fuzz_check(err[0] && p.n_parts == 0 && !p.parts, "a refused part list is empty");
        return;
    }
    fuzz_check(p.next_marker >= 0 && p.next_marker <= 10000, "NextPartNumberMarker");
    buf_init(&b, NULL, 0);
    buf_add(&b, "<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>");
    buf_printf(&b, "<IsTruncated>%s</IsTruncated>", p.truncated ? "true" : "false");
    if (p.next_marker)
        buf_printf(&b, "<NextPartNumberMarker>%d</NextPartNumberMarker>", p.next_marker);
    for (size_t i = 0; i < p.n_parts; i++) {
        const struct s3_part *q = &p.parts[i];
        fuzz_check(q->number >= 1 && q->number <= 10000 && q->etag && q->size >= -1,
                   "a part has a number, an ETag and a size or none");
        check_utf8(q->etag);
        buf_printf(&b, "<Part><PartNumber>%d</PartNumber>", q->number);
        etag_elem(&b, q->etag);
        if (q->size >= 0)
            buf_printf(&b, "<Size>%lld</Size>", (long long)q->size);
        buf_add(&b, "</Part>");
    }
    buf_add(&b, "</ListPartsResult>");
    fuzz_check(!buf_failed(&b), "memory");
    fuzz_check(s3xml_parse_parts(b.p, b.len, &again, err, sizeof err) == 0,
               "a part list written back parses");
    fuzz_check(again.truncated == p.truncated && again.next_marker == p.next_marker &&
               again.n_parts == p.n_parts, "a part list reads back the same");
    for (size_t i = 0; i < p.n_parts; i++)
        fuzz_check(again.parts[i].number == p.parts[i].number &&
                   again.parts[i].size == p.parts[i].size &&
                   same(again.parts[i].etag, p.parts[i].etag), "parts read back the same");
    /* Completing with the parts S3 listed. */
    check_complete_body(p.parts, p.n_parts);
    s3xml_parts_free(&again);
    s3xml_parts_free(&p);
    buf_free(&b);
}

static void fuzz_upload(const char *xml, size_t len, const char *root)
{
    struct s3xml_upload u, again;
    char err[256] = "";
    struct buf b;

    if (s3xml_parse_upload(xml, len, root, &u, err, sizeof err) < 0) {
        fuzz_check(err[0] && !u.upload_id && !u.location && !u.bucket && !u.key && !u.etag,
                   "a refused upload answer is empty");
        return;
    }
    buf_init(&b, NULL, 0);
    buf_printf(&b, "<%s>", root);
    elem(&b, "Location", u.location);
    elem(&b, "Bucket", u.bucket);
    elem(&b, "Key", u.key);
    elem(&b, "UploadId", u.upload_id);
    etag_elem(&b, u.etag);
    buf_printf(&b, "</%s>", root);
    fuzz_check(!buf_failed(&b), "memory");
    fuzz_check(s3xml_parse_upload(b.p, b.len, root, &again, err, sizeof err) == 0 &&
               same(again.location, u.location) && same(again.bucket, u.bucket) &&
               same(again.key, u.key) && same(again.upload_id, u.upload_id) &&
               same(again.etag, u.etag), "an upload answer reads back the same");
    s3xml_upload_free(&again);
    s3xml_upload_free(&u);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *xml = (const char *)data + 1;
    size_t len = size - 1;

    switch (data[0] % 5) {
    case 0: fuzz_list(xml, len); break;
    case 1: fuzz_error(xml, len); break;
    case 2: fuzz_parts(xml, len); break;
    case 3: fuzz_upload(xml, len, "InitiateMultipartUploadResult"); break;
    default: fuzz_upload(xml, len, "CompleteMultipartUploadResult"); break;
    }
    return 0;
}
