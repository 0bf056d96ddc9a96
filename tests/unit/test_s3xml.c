/*
 * test_s3xml.c - the expat parsers of common/s3xml.c: ListObjectsV2 results
 * (entities and UTF-8 in keys, quoted ETags, truncation with a continuation
 * token, empty listings, elements we skip) and S3 error documents, plus the
 * documents they must refuse (malformed, wrong root, DTDs, bad numbers);
 * the multipart answers (ListParts pages, Initiate and Complete results)
 * and the part list presignd writes for CompleteMultipartUpload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "s3xml.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int parse_list(const char *xml, struct s3xml_list *l, char *err, size_t errlen)
{
    return s3xml_parse_list(xml, strlen(xml), l, err, errlen);
}

static void list_two_objects(void **state)
{
    (void)state;
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult " NS ">"
        "<Name>b</Name><Prefix>uploads/</Prefix><KeyCount>2</KeyCount>"
        "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
        "<Contents><Key>uploads/a &amp; b &lt;c&gt; &quot;q&quot;.pdf</Key>"
        "<LastModified>2026-11-28T06:15:55.000Z</LastModified>"
        "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
        "<Size>1234</Size><StorageClass>STANDARD</StorageClass>"
        "<Owner><ID>ignored</ID><DisplayName>x</DisplayName></Owner></Contents>"
        "<Contents><Key>uploads/\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80.txt</Key>"
        "<LastModified>2026-11-28T06:16:00.000Z</LastModified>"
        "<ETag>\"abc-2\"</ETag><Size>0</Size></Contents>"
        "</ListBucketResult>";
    struct s3xml_list l;
    char err[256] = "";

    assert_int_equal(parse_list(xml, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n_objects, 2);
    assert_false(l.truncated);
    assert_null(l.next_token);
    assert_int_equal(l.key_count, 2);
    assert_string_equal(l.objects[0].key, "uploads/a & b <c> \"q\".pdf");
    assert_int_equal(l.objects[0].size, 1234);
    assert_string_equal(l.objects[0].last_modified, "2026-11-28T06:15:55.000Z");
    assert_string_equal(l.objects[0].etag, "9b2cf535f27731c974343645a3985328");
    assert_string_equal(l.objects[1].key,
                        "uploads/\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80.txt");
    assert_int_equal(l.objects[1].size, 0);
    assert_string_equal(l.objects[1].etag, "abc-2");
    s3xml_list_free(&l);
}

static void list_truncated_with_token(void **state)
{
    (void)state;
    const char *xml =
        "<ListBucketResult " NS "><Name>b</Name><Prefix></Prefix>"
        "<ContinuationToken>prev</ContinuationToken>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        "<KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>k1</Key><Size>5</Size></Contents>"
        "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"
        "</ListBucketResult>";
    struct s3xml_list l;

    assert_int_equal(parse_list(xml, &l, NULL, 0), 0);
    assert_true(l.truncated);
    assert_non_null(l.next_token);
    assert_string_equal(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    assert_int_equal(l.n_objects, 1);
    assert_string_equal(l.objects[0].key, "k1");
    assert_int_equal(l.objects[0].size, 5);
    assert_null(l.objects[0].etag);
    assert_null(l.objects[0].last_modified);
    s3xml_list_free(&l);
}

static void list_empty(void **state)
{
    (void)state;
    struct s3xml_list l;
    const char *a = "<ListBucketResult " NS "><Name>b</Name><KeyCount>0</KeyCount>"
                    "<IsTruncated>false</IsTruncated></ListBucketResult>";
    const char *b = "<ListBucketResult/>";

    assert_int_equal(parse_list(a, &l, NULL, 0), 0);
    assert_int_equal(l.n_objects, 0);
    assert_null(l.objects);
    assert_false(l.truncated);
    assert_int_equal(l.key_count, 0);
    s3xml_list_free(&l);

    assert_int_equal(parse_list(b, &l, NULL, 0), 0);
    assert_int_equal(l.n_objects, 0);
    assert_int_equal(l.key_count, -1);
    s3xml_list_free(&l);
}

/* Text split across expat buffers (CDATA, entities, long keys) is joined. */
static void list_cdata_and_long_key(void **state)
{
    (void)state;
    char key[1025];
    char *xml;
    struct s3xml_list l;

    memset(key, 'k', 1024);
    key[1024] = '\0';
    assert_true(asprintf(&xml, "<ListBucketResult><Contents><Key>%s</Key></Contents>"
                               "<Contents><Key><![CDATA[a<b>&c]]>&#x263A;</Key></Contents>"
                               "</ListBucketResult>", key) > 0);
    assert_int_equal(parse_list(xml, &l, NULL, 0), 0);
    assert_int_equal(l.n_objects, 2);
    assert_string_equal(l.objects[0].key, key);
    assert_string_equal(l.objects[1].key, "a<b>&c\xe2\x98\xba");
    s3xml_list_free(&l);
    free(xml);
}

/* Many objects: the array grows past its first allocation. */
static void list_many(void **state)
{
    (void)state;
    size_t cap = 1000 * 64 + 128, len = 0;
    char *xml = malloc(cap);
    struct s3xml_list l;

    assert_non_null(xml);
    len += (size_t)snprintf(xml + len, cap - len, "<ListBucketResult>");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(xml + len, cap - len,
                                "<Contents><Key>k%04d</Key><Size>%d</Size></Contents>", i, i);
    snprintf(xml + len, cap - len, "</ListBucketResult>");
    assert_int_equal(parse_list(xml, &l, NULL, 0), 0);
    assert_int_equal(l.n_objects, 1000);
    assert_string_equal(l.objects[999].key, "k0999");
    assert_int_equal(l.objects[999].size, 999);
    s3xml_list_free(&l);
    free(xml);
}

static void list_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                                                        /* empty */
        "<ListBucketResult><Contents><Key>a</Key>",                /* truncated */
        "<ListBucketResult><Contents><Key>a</Contents></ListBucketResult>", /* mismatched */
        "not xml at all",
        "<Error><Code>NoSuchBucket</Code></Error>",                /* wrong root */
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no key */
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a<b/></Key></Contents></ListBucketResult>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
        "<ListBucketResult><Contents><Key>&b;</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>\xff\xfe</Key></Contents></ListBucketResult>",
        "<ListBucketResult></ListBucketResult><extra/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3xml_list l;
        char err[256] = "";
        int rc = parse_list(bad[i], &l, err, sizeof(err));
        if (rc != -1)
            print_message("accepted bad document %zu: %s\n", i, bad[i]);
        assert_int_equal(rc, -1);
        assert_true(err[0] != '\0');
        assert_int_equal(l.n_objects, 0);
        assert_null(l.objects);
        assert_null(l.next_token);
    }
}

static void list_text_limit(void **state)
{
    (void)state;
    size_t n = 70000;
    char *xml = malloc(n + 100);
    struct s3xml_list l;
    char err[256] = "";

    assert_non_null(xml);
    strcpy(xml, "<ListBucketResult><Contents><Key>");
    size_t off = strlen(xml);
    memset(xml + off, 'x', n);
    strcpy(xml + off + n, "</Key></Contents></ListBucketResult>");
    assert_int_equal(parse_list(xml, &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
    free(xml);
}

static void error_document(void **state)
{
    (void)state;
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
        "<Key>uploads/a &amp; b</Key><RequestId>tx0</RequestId><HostId>h</HostId></Error>";
    struct s3xml_error e;

    assert_int_equal(s3xml_parse_error(xml, strlen(xml), &e), 0);
    assert_string_equal(e.code, "NoSuchKey");
    assert_string_equal(e.message, "The specified key does not exist.");
    s3xml_error_free(&e);
    assert_null(e.code);

    const char *slow = "<Error><Code>SlowDown</Code></Error>";
    assert_int_equal(s3xml_parse_error(slow, strlen(slow), &e), 0);
    assert_string_equal(e.code, "SlowDown");
    assert_null(e.message);
    s3xml_error_free(&e);

    /* Nested <Code> elsewhere is not the error's code. */
    const char *nested = "<Error><Detail><Code>inner</Code></Detail>"
                         "<Code>AccessDenied</Code></Error>";
    assert_int_equal(s3xml_parse_error(nested, strlen(nested), &e), 0);
    assert_string_equal(e.code, "AccessDenied");
    s3xml_error_free(&e);
}

static void error_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "<html><body>Bad Gateway</body></html>", "<Error><Code>x</Error>",
        "<ListBucketResult/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3xml_error e;
        assert_int_equal(s3xml_parse_error(bad[i], strlen(bad[i]), &e), -1);
        assert_null(e.code);
        assert_null(e.message);
    }
}

/* ---- multipart */

static void parts_pages(void **state)
{
    (void)state;
    char err[256];
    struct s3xml_parts p;
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<ListPartsResult " NS "><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>"
        "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>"
        "<MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>"
        "<Part><PartNumber>1</PartNumber><LastModified>2026-11-30T12:00:00.000Z</LastModified>"
        "<ETag>&quot;7ac66c0f148de9519b8bd264312c4d64&quot;</ETag><Size>5242880</Size></Part>"
        "<Part><ETag>\"abc-2\"</ETag><Size>3</Size><PartNumber>2</PartNumber></Part>"
        "</ListPartsResult>";
    assert_int_equal(s3xml_parse_parts(xml, strlen(xml), &p, err, sizeof err), 0);
    assert_int_equal(p.n_parts, 2);
    assert_true(p.truncated);
    assert_int_equal(p.next_marker, 2);
    assert_int_equal(p.parts[0].number, 1);
    assert_int_equal(p.parts[0].size, 5242880);
    assert_string_equal(p.parts[0].etag, "7ac66c0f148de9519b8bd264312c4d64");
    assert_int_equal(p.parts[1].number, 2);
    assert_string_equal(p.parts[1].etag, "abc-2");
    s3xml_parts_free(&p);

    const char *last = "<ListPartsResult><IsTruncated>false</IsTruncated>"
                       "<NextPartNumberMarker></NextPartNumberMarker></ListPartsResult>";
    assert_int_equal(s3xml_parse_parts(last, strlen(last), &p, err, sizeof err), 0);
    assert_int_equal(p.n_parts, 0);
    assert_false(p.truncated);
    assert_int_equal(p.next_marker, 0);
    s3xml_parts_free(&p);
}

static void parts_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "<ListBucketResult/>",
        "<ListPartsResult><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>10001</PartNumber><ETag>a</ETag></Part>"
        "</ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></ListPartsResult>",
        "<ListPartsResult><Part><ETag>a</ETag></Part></ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>1</PartNumber></Part></ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>a</ETag><Size>-1</Size></Part>"
        "</ListPartsResult>",
        "<ListPartsResult><NextPartNumberMarker>99999</NextPartNumberMarker></ListPartsResult>",
        "<ListPartsResult><IsTruncated>yes</IsTruncated></ListPartsResult>",
        "<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "";
        struct s3xml_parts p;
        if (s3xml_parse_parts(bad[i], strlen(bad[i]), &p, err, sizeof err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(p.n_parts, 0);
        assert_non_null(strstr(err, "ListParts response"));
    }
}

static void upload_documents(void **state)
{
    (void)state;
    char err[256];
    struct s3xml_upload u;
    const char *init = "<InitiateMultipartUploadResult " NS "><Bucket>b</Bucket>"
                       "<Key>uploads/a b.bin</Key><UploadId>2~xyz</UploadId>"
                       "</InitiateMultipartUploadResult>";
    assert_int_equal(s3xml_parse_upload(init, strlen(init), "InitiateMultipartUploadResult",
                                        &u, err, sizeof err), 0);
    assert_string_equal(u.upload_id, "2~xyz");
    assert_string_equal(u.key, "uploads/a b.bin");
    assert_null(u.location);
    s3xml_upload_free(&u);
    const char *done = "<CompleteMultipartUploadResult><Location>http://h/b/k</Location>"
                       "<Bucket>b</Bucket><Key>k</Key><ETag>\"e-3\"</ETag>"
                       "</CompleteMultipartUploadResult>";
    assert_int_equal(s3xml_parse_upload(done, strlen(done), "CompleteMultipartUploadResult",
                                        &u, err, sizeof err), 0);
    assert_string_equal(u.location, "http://h/b/k");
    assert_string_equal(u.etag, "e-3");
    s3xml_upload_free(&u);
    /* The error S3 may send in a 200 to Complete is not a result. */
    const char *e = "<Error><Code>InternalError</Code></Error>";
    assert_int_equal(s3xml_parse_upload(e, strlen(e), "CompleteMultipartUploadResult", &u,
                                        err, sizeof err), -1);
}

static void complete_body(void **state)
{
    (void)state;
    char err[128];
    struct buf b;
    struct s3_part parts[3] = {
        { 1, -1, "\"7ac66c0f148de9519b8bd264312c4d64\"" },   /* as S3 gave it */
        { 2, -1, "7AC66C0F148DE9519B8BD264312C4D65" },       /* Uppy 6: unquoted */
        { 3, -1, "abc-2" },
    };
    buf_init(&b, NULL, 0);
    assert_true(s3xml_complete_body(&b, parts, 3, err, sizeof err));
    assert_string_equal(b.p,
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><PartNumber>1</PartNumber><ETag>\"7ac66c0f148de9519b8bd264312c4d64\"</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>\"7AC66C0F148DE9519B8BD264312C4D65\"</ETag></Part>"
        "<Part><PartNumber>3</PartNumber><ETag>\"abc-2\"</ETag></Part>"
        "</CompleteMultipartUpload>");
    buf_free(&b);
    static const char *bad[] = { "", "\"\"", "<x/>", "a&b", "\"abc", "abc\"", "ab cd",
                                 "\"\"abc\"\"" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct s3_part p = { 7, -1, (char *)bad[i] };
        buf_init(&b, NULL, 0);
        if (s3xml_complete_body(&b, &p, 1, err, sizeof err))
            fail_msg("ETag %s accepted", bad[i]);
        assert_non_null(strstr(err, "part 7"));
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_two_objects),
        cmocka_unit_test(list_truncated_with_token),
        cmocka_unit_test(list_empty),
        cmocka_unit_test(list_cdata_and_long_key),
        cmocka_unit_test(list_many),
        cmocka_unit_test(list_refused),
        cmocka_unit_test(list_text_limit),
        cmocka_unit_test(error_document),
        cmocka_unit_test(error_refused),
        cmocka_unit_test(parts_pages),
        cmocka_unit_test(parts_refused),
        cmocka_unit_test(upload_documents),
        cmocka_unit_test(complete_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
