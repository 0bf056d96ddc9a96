/*
 * test_str.c - string helpers: cutting UTF-8 on a character boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "keys.h"
#include "str.h"

static void cut(const char *in, size_t at, const char *want)
{
    char buf[64];
    memcpy(buf, in, strlen(in) + 1);
    size_t n = str_utf8_cut(buf, at);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n + 1);
    assert_true(keys_utf8_valid(buf, n));
}

static void test_utf8_cut(void **state)
{
    (void)state;
    cut("abc", 3, "abc");
    cut("abc", 2, "ab");
    cut("a\xc3\xa9", 3, "a\xc3\xa9");              /* é whole */
    cut("a\xc3\xa9", 2, "a");                      /* half of é */
    cut("\xe6\x97\xa5x", 3, "\xe6\x97\xa5");       /* 日 whole */
    cut("\xe6\x97\xa5", 2, "");                    /* two thirds of 日 */
    cut("\xe6\x97\xa5", 1, "");
    cut("x\xf0\x9f\x98\x80", 5, "x\xf0\x9f\x98\x80");
    cut("x\xf0\x9f\x98\x80", 4, "x");              /* three quarters of 😀 */
    cut("x\xf0\x9f\x98\x80", 2, "x");
    cut("", 0, "");
}

/* What the error answers do: a detail formatted into a fixed buffer and
 * cut there; 400 "é" of a key must not end in half a character. */
static void test_every_cut_of_a_long_text(void **state)
{
    (void)state;
    char text[300] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, i % 3 ? "\xc3\xa9" : i % 2 ? "\xf0\x9f\x98\x80" : "\xe6\x97\xa5");
    for (size_t at = 0; at <= strlen(text); at++) {
        char buf[300];
        memcpy(buf, text, sizeof buf);
        size_t n = str_utf8_cut(buf, at);
        assert_true(n <= at && at - n < 4);
        assert_true(keys_utf8_valid(buf, n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_every_cut_of_a_long_text),
    };
    return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
