/*
 * test_s3xml.c - the expat parsers of common/s3xml.c: ListObjectsV2 results
 * (entities and UTF-8 in keys, quoted ETags, truncation with a continuation
 * token, empty listings, elements we skip) and S3 error documents, plus the
 * documents they must refuse (malformed, wrong root, DTDs, bad numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
