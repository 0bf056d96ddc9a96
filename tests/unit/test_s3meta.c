/*
 * test_s3meta.c - user metadata for S3: names checked and lower-cased,
 * nulls left out, non-ASCII values as RFC 2047 words, S3's limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "s3meta.h"

static void meta_values(void **state)
{
    (void)state;
    char err[160];
    struct s3meta m;
    s3meta_init(&m);
    assert_true(s3meta_add(&m, "Caption", "a b&c=d", err, sizeof err));
    assert_true(s3meta_add(&m, "relativePath", NULL, err, sizeof err));   /* JSON null */
    assert_true(s3meta_add(&m, "other", "null", err, sizeof err));        /* Uppy 6 query */
    assert_true(s3meta_add(&m, "name", "caf\xc3\xa9.txt", err, sizeof err));
    assert_true(s3meta_add(&m, "empty", "", err, sizeof err));
    assert_int_equal(m.n, 3);
    assert_string_equal(m.items[0].name, "caption");
    assert_string_equal(m.items[0].value, "a b&c=d");
    assert_string_equal(m.items[1].name, "name");
    assert_string_equal(m.items[1].value, "=?UTF-8?B?Y2Fmw6kudHh0?=");
    assert_string_equal(m.items[2].value, "");

    struct s3_param h[S3META_MAX_ITEMS];
    char names[S3META_MAX_ITEMS][S3META_MAX_NAME + 12];
    assert_int_equal(s3meta_headers(&m, h, names), 3);
    assert_string_equal(h[0].name, "x-amz-meta-caption");
    assert_string_equal(h[1].value, "=?UTF-8?B?Y2Fmw6kudHh0?=");
    s3meta_free(&m);
}

static void meta_refused(void **state)
{
    (void)state;
    char err[160];
    struct s3meta m;
    static const char *bad_names[] = { "", "a b", "a.b", "caf\xc3\xa9", "x:y",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        s3meta_init(&m);
        if (s3meta_add(&m, bad_names[i], "v", err, sizeof err))
            fail_msg("name %zu accepted", i);
        s3meta_free(&m);
    }
    static const char *bad_values[] = { "a\nb", "a\rb", "\x7f", "\xff", "\xc0\xaf" };
    for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++) {
        s3meta_init(&m);
        if (s3meta_add(&m, "x", bad_values[i], err, sizeof err))
            fail_msg("value %zu accepted", i);
        s3meta_free(&m);
    }
    /* Twice in any case. */
    s3meta_init(&m);
    assert_true(s3meta_add(&m, "Tag", "1", err, sizeof err));
    assert_false(s3meta_add(&m, "tAG", "2", err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    s3meta_free(&m);
    /* Too many entries, too many bytes. */
    s3meta_init(&m);
    for (int i = 0; i < S3META_MAX_ITEMS; i++) {
        char n[16];
        snprintf(n, sizeof n, "k%d", i);
        assert_true(s3meta_add(&m, n, "v", err, sizeof err));
    }
    assert_false(s3meta_add(&m, "one-more", "v", err, sizeof err));
    s3meta_free(&m);
    char big[1500];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s3meta_init(&m);
    assert_true(s3meta_add(&m, "a", big, err, sizeof err));
    assert_false(s3meta_add(&m, "b", big, err, sizeof err));
    assert_non_null(strstr(err, "2048"));
    s3meta_free(&m);
    /* RFC 2047 makes a value longer: counted as stored. */
    char wide[1700] = "";
    for (int i = 0; i < 800; i++)
        strcat(wide, "\xc3\xa9");
    s3meta_init(&m);
    assert_false(s3meta_add(&m, "w", wide, err, sizeof err));
    s3meta_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(meta_values),
        cmocka_unit_test(meta_refused),
    };
    return cmocka_run_group_tests_name("s3meta", tests, NULL, NULL);
}
