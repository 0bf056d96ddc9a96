/*
 * test_http.c - the pure helpers of the HTTP API: RFC 3339 times, media
 * types, header values a client's string goes into, and Content-Disposition
 * with its ASCII fallback and RFC 5987 name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "http.h"

static void test_time_iso(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(http_time_iso(0, out, sizeof out), 20);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(http_time_iso(1796040000, out, sizeof out), 20);
    assert_string_equal(out, "2026-11-30T12:00:00Z");
    assert_int_equal(http_time_iso(1796040000, out, 20), 0);   /* no room for the NUL */
}

static void test_media_type_is(void **state)
{
    (void)state;
    assert_true(http_media_type_is("text/csv", "text/csv"));
    assert_true(http_media_type_is("Text/CSV", "text/csv"));
    assert_true(http_media_type_is("text/csv; charset=utf-8", "text/csv"));
    assert_true(http_media_type_is("text/csv;charset=utf-8", "text/csv"));
    assert_true(http_media_type_is("  text/csv  ; x=y", "text/csv"));
    assert_false(http_media_type_is("text/csvx", "text/csv"));
    assert_false(http_media_type_is("text/cs", "text/csv"));
    assert_false(http_media_type_is("xtext/csv", "text/csv"));
    assert_false(http_media_type_is("", "text/csv"));
    assert_false(http_media_type_is(NULL, "text/csv"));
    assert_false(http_media_type_is("text/csv", ""));
    assert_true(http_is_json_media_type("application/json; charset=utf-8"));
    assert_false(http_is_json_media_type("application/jsonp"));
}

static void test_header_value_ok(void **state)
{
    (void)state;
    assert_true(http_header_value_ok("image/jpeg", 255));
    assert_true(http_header_value_ok("text/plain; charset=utf-8", 255));
    assert_false(http_header_value_ok("", 255));
    assert_false(http_header_value_ok(NULL, 255));
    assert_false(http_header_value_ok(" text/plain", 255));
    assert_false(http_header_value_ok("text/plain ", 255));
    assert_false(http_header_value_ok("text/plain\r\nX-Evil: 1", 255));
    assert_false(http_header_value_ok("text/plain\n", 255));
    assert_false(http_header_value_ok("text/pl\xc3\xa4in", 255));
    assert_false(http_header_value_ok("text/pl\x7f" "ain", 255));
    assert_false(http_header_value_ok("abcdef", 5));
    assert_true(http_header_value_ok("abcde", 5));
}

static void expect_cd(const char *disposition, const char *name, const char *want)
{
    struct buf b;
    buf_init(&b, NULL, 0);
    http_content_disposition(&b, disposition, name);
    assert_false(buf_failed(&b));
    if (strcmp(b.p, want) != 0)
        fail_msg("Content-Disposition of \"%s\":\n  want %s\n  got  %s", name, want, b.p);
    buf_free(&b);
}

static void test_content_disposition(void **state)
{
    (void)state;
    /* Plain ASCII: the quoted name is exact, no filename* needed. */
    expect_cd("attachment", "report.pdf", "attachment; filename=\"report.pdf\"");
    expect_cd("inline", "my report (1).pdf", "inline; filename=\"my report (1).pdf\"");
    /* Characters a quoted string or a naive parser gets wrong. */
    expect_cd("attachment", "a\"b.pdf",
              "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%22b.pdf");
    expect_cd("attachment", "a\\b.pdf",
              "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%5Cb.pdf");
    expect_cd("attachment", "a;b.pdf",
              "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%3Bb.pdf");
    expect_cd("attachment", "100%.pdf",
              "attachment; filename=\"100_.pdf\"; filename*=UTF-8''100%25.pdf");
    /* Non-ASCII: one '_' per character in the fallback, UTF-8 bytes
     * percent-encoded in filename*. */
    expect_cd("attachment", "na\xc3\xafve caf\xc3\xa9.pdf",
              "attachment; filename=\"na_ve caf_.pdf\"; "
              "filename*=UTF-8''na%C3%AFve%20caf%C3%A9.pdf");
    expect_cd("attachment", "\xf0\x9f\x98\x80.txt",
              "attachment; filename=\"_.txt\"; filename*=UTF-8''%F0%9F%98%80.txt");
    /* attr-chars stay as they are. */
    expect_cd("attachment", "a!#$&+-.^_`|~\xc3\xa9",
              "attachment; filename=\"a!#$&+-.^_`|~_\"; "
              "filename*=UTF-8''a!#$&+-.^_`|~%C3%A9");
    /* A quote-and-parameter injection stays inside the parameters. */
    expect_cd("attachment", "x\"; filename=\"evil.exe",
              "attachment; filename=\"x__ filename=_evil.exe\"; "
              "filename*=UTF-8''x%22%3B%20filename%3D%22evil.exe");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_iso),
        cmocka_unit_test(test_media_type_is),
        cmocka_unit_test(test_header_value_ok),
        cmocka_unit_test(test_content_disposition),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
