/*
 * test_keys.c - the object key rules: filename sanitizing, new upload keys,
 * validation of client keys and listing prefixes, strict UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define PFX "uploads/"

/* ---- keys_utf8_valid */

static void test_utf8_valid(void **state)
{
    (void)state;
    static const char *good[] = {
        "", "plain ascii", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
        "\xf0\x9f\x98\x80", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
        "\xed\x9f\xbf",             /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",             /* U+E000, just above */
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    };
    static const char *bad[] = {
        "\x80",                     /* lone continuation */
        "\xbf",
        "\xc3",                     /* truncated */
        "\xe6\x97",
        "\xf0\x9f\x98",
        "\xc0\xaf",                 /* overlong '/' */
        "\xc1\xbf",                 /* overlong */
        "\xe0\x80\xaf",             /* overlong '/' in 3 bytes */
        "\xe0\x9f\xbf",             /* overlong */
        "\xf0\x80\x80\xaf",         /* overlong '/' in 4 bytes */
        "\xf0\x8f\xbf\xbf",         /* overlong */
        "\xed\xa0\x80",             /* U+D800 surrogate */
        "\xed\xbf\xbf",             /* U+DFFF surrogate */
        "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
        "\xf4\x90\x80\x80",         /* U+110000 */
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",     /* old 5-byte form */
        "\xfe", "\xff",
        "\xc3\x28",                 /* bad continuation */
        "a\xe2\x82",                /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(keys_utf8_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (keys_utf8_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted invalid UTF-8 #%zu", i);
    }
    /* LEN is honoured: a truncated view of a valid string is invalid. */
    assert_false(keys_utf8_valid("\xc3\xa9", 1));
    assert_true(keys_utf8_valid("\xc3\xa9xyz", 2));
    assert_true(keys_utf8_valid(NULL, 0));
}

/* ---- keys_sanitize_filename */

static void expect_sanitized(const char *in, size_t max, const char *want)
{
    char err[128] = "";
    char *got = keys_sanitize_filename(in, max, err, sizeof(err));
    if (!want) {
        if (got)
            fail_msg("sanitize(\"%s\") = \"%s\", expected refusal", in, got);
        assert_true(err[0] != '\0');
        return;
    }
    if (!got)
        fail_msg("sanitize(\"%s\") refused: %s", in, err);
    if (strcmp(got, want) != 0)
        fail_msg("sanitize(\"%s\", %zu) = \"%s\", expected \"%s\"", in, max,
                 got, want);
    assert_true(strlen(got) <= max);
    assert_true(keys_utf8_valid(got, strlen(got)));
    free(got);
}

static void test_sanitize_basename(void **state)
{
    (void)state;
    expect_sanitized("a.pdf", 255, "a.pdf");
    expect_sanitized("dir/a.pdf", 255, "a.pdf");
    expect_sanitized("/etc/passwd", 255, "passwd");
    expect_sanitized("../../etc/passwd", 255, "passwd");
    expect_sanitized("..\\..\\windows\\win.ini", 255, "win.ini");
    expect_sanitized("C:\\Users\\me\\My Report.docx", 255, "My Report.docx");
    expect_sanitized("a/b\\c/d.txt", 255, "d.txt");
    expect_sanitized("uploads/../x.png", 255, "x.png");
    expect_sanitized("with space.pdf", 255, "with space.pdf");
    expect_sanitized("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80.jpg",
                     255, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80.jpg");
    expect_sanitized("+=&%~'\"()*!$,;:@#.txt", 255, "+=&%~'\"()*!$,;:@#.txt");
}

static void test_sanitize_refusals(void **state)
{
    (void)state;
    expect_sanitized(NULL, 255, NULL);
    expect_sanitized("", 255, NULL);
    expect_sanitized(".", 255, NULL);
    expect_sanitized("..", 255, NULL);
    expect_sanitized("...", 255, NULL);
    expect_sanitized("dir/", 255, NULL);
    expect_sanitized("a/..", 255, NULL);
    expect_sanitized("   ", 255, NULL);
    expect_sanitized(". . .", 255, NULL);
    expect_sanitized("\x01\x02\x7f", 255, NULL);
    expect_sanitized("\xff\xfe", 255, NULL);
    expect_sanitized("a.pdf", 0, NULL);
}

static void test_sanitize_leading_dots_spaces(void **state)
{
    (void)state;
    expect_sanitized(".bashrc", 255, "bashrc");
    expect_sanitized("..hidden.txt", 255, "hidden.txt");
    expect_sanitized(" . .x", 255, "x");
    expect_sanitized("  a.pdf", 255, "a.pdf");
    /* ".\x01." must not turn into ".." once the control byte is gone. */
    expect_sanitized(".\x01./x", 255, "x");
    expect_sanitized(".\x01.", 255, NULL);
    /* Only leading ones go: inner and trailing stay. */
    expect_sanitized("a..b .pdf", 255, "a..b .pdf");
}

static void test_sanitize_control_and_utf8(void **state)
{
    (void)state;
    expect_sanitized("a\tb\nc\rd.txt", 255, "abcd.txt");
    expect_sanitized("\x1b[31mred.txt", 255, "[31mred.txt");
    expect_sanitized("del\x7f.txt", 255, "del.txt");
    expect_sanitized("c1\xc2\x85\xc2\x9f.txt", 255, "c1.txt");   /* U+0085, U+009F */
    expect_sanitized("nbsp\xc2\xa0ok.txt", 255, "nbsp\xc2\xa0ok.txt"); /* U+00A0 is not control */
    expect_sanitized("bad\xff\xfe.txt", 255, "bad.txt");
    expect_sanitized("over\xc0\xaflong.txt", 255, "overlong.txt");
    expect_sanitized("sur\xed\xa0\x80rogate.txt", 255, "surrogate.txt");
    expect_sanitized("trunc\xe6\x97.txt", 255, "trunc.txt");
    /* An overlong '/' is not a separator: it is dropped, not split on. */
    expect_sanitized("..\xc0\xaf..\xc0\xafpasswd", 255, "passwd");
    expect_sanitized("ok\xc3\xa9\x80.txt", 255, "ok\xc3\xa9.txt");
}

static void test_sanitize_length(void **state)
{
    (void)state;
    char in[600], want[64];

    /* ASCII: cut the stem, keep the extension. */
    memset(in, 'a', 300);
    strcpy(in + 300, ".pdf");
    memset(want, 'a', 16);
    strcpy(want + 16, ".pdf");
    expect_sanitized(in, 20, want);
    /* Exactly at the limit: untouched. */
    expect_sanitized("abcdefgh.pdf", 12, "abcdefgh.pdf");
    expect_sanitized("abcdefgh.pdf", 11, "abcdefg.pdf");

    /* No extension: plain cut. */
    expect_sanitized("abcdefghijklmnop", 5, "abcde");

    /* An extension too long to keep (more than half the room): plain cut. */
    expect_sanitized("a.verylongextension", 8, "a.verylo");

    /* Multibyte: never cut inside a character, extension kept.
     * "é" is 2 bytes; 7 of them + ".jpg" = 18 bytes; room 11 leaves 7 bytes
     * for the stem, which rounds down to 3 characters (6 bytes). */
    expect_sanitized("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.jpg",
                     11, "\xc3\xa9\xc3\xa9\xc3\xa9.jpg");
    /* 4-byte emoji, no extension: room 6 holds one (4 bytes). */
    expect_sanitized("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 6,
                     "\xf0\x9f\x98\x80");
    /* Room smaller than the first character: refused, never a split byte. */
    expect_sanitized("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 3, NULL);
    /* 3-byte CJK, extension kept. */
    expect_sanitized("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae.pdf", 10,
                     "\xe6\x97\xa5\xe6\x9c\xac.pdf");

    /* Every cut of a long mixed name stays valid UTF-8 and within bounds. */
    char mixed[800];
    size_t o = 0;
    while (o + 10 < sizeof(mixed) - 8) {
        memcpy(mixed + o, "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80", 10);
        o += 10;
    }
    strcpy(mixed + o, ".png");
    for (size_t max = 1; max <= 300; max++) {
        char err[64];
        char *s = keys_sanitize_filename(mixed, max, err, sizeof(err));
        assert_non_null(s);
        assert_true(strlen(s) <= max);
        assert_true(keys_utf8_valid(s, strlen(s)));
        if (max >= 12) {
            size_t l = strlen(s);
            assert_true(l >= 4 && strcmp(s + l - 4, ".png") == 0);
        }
        free(s);
    }
}

/* ---- keys_new_upload_key */

static bool is_uuid4_lower(const char *s)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!(isdigit((unsigned char)c) || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void test_new_upload_key(void **state)
{
    (void)state;
    char err[128];
    char *k = keys_new_upload_key(PFX, "../My Report.pdf", 255, err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(strncmp(k, PFX, strlen(PFX)), 0);
    assert_true(is_uuid4_lower(k + strlen(PFX)));
    assert_int_equal(k[strlen(PFX) + 36], '-');
    assert_string_equal(k + strlen(PFX) + 37, "My Report.pdf");
    assert_true(keys_valid(k, PFX, err, sizeof(err)));

    /* Two keys for the same name differ. */
    char *k2 = keys_new_upload_key(PFX, "../My Report.pdf", 255, err, sizeof(err));
    assert_non_null(k2);
    assert_string_not_equal(k, k2);
    free(k);
    free(k2);

    /* Empty prefix works. */
    k = keys_new_upload_key("", "a.pdf", 255, err, sizeof(err));
    assert_non_null(k);
    assert_true(is_uuid4_lower(k));
    assert_string_equal(k + 36, "-a.pdf");
    free(k);

    /* Unusable filename: refused. */
    err[0] = '\0';
    assert_null(keys_new_upload_key(PFX, "..", 255, err, sizeof(err)));
    assert_true(err[0] != '\0');
    assert_null(keys_new_upload_key(PFX, NULL, 255, err, sizeof(err)));

    /* The whole key never exceeds 1024 bytes, whatever the filename limit. */
    char big[3000];
    memset(big, 'x', sizeof(big) - 5);
    strcpy(big + sizeof(big) - 5, ".pdf");
    k = keys_new_upload_key(PFX, big, 5000, err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(strlen(k), KEYS_MAX_KEY_BYTES);
    assert_string_equal(k + strlen(k) - 4, ".pdf");
    assert_true(keys_valid(k, PFX, err, sizeof(err)));
    free(k);

    /* A prefix that leaves no room at all. */
    char longpfx[1100];
    memset(longpfx, 'p', 1000);
    strcpy(longpfx + 1000, "/");
    assert_null(keys_new_upload_key(longpfx, "a.pdf", 255, err, sizeof(err)));

    /* A prefix that breaks the key rules makes keys that would be refused
     * later: refuse them now instead. */
    assert_null(keys_new_upload_key("uploads//", "a.pdf", 255, err, sizeof(err)));
    assert_null(keys_new_upload_key("../", "a.pdf", 255, err, sizeof(err)));
}

/* ---- keys_valid */

static void expect_key(const char *key, bool ok)
{
    char err[128] = "";
    bool got = keys_valid(key, PFX, err, sizeof(err));
    if (got != ok)
        fail_msg("keys_valid(\"%s\") = %d, expected %d (%s)", key ? key : "(null)",
                 got, ok, err);
    if (!ok)
        assert_true(err[0] != '\0');
}

static void test_valid_key(void **state)
{
    (void)state;
    expect_key("uploads/a.pdf", true);
    expect_key("uploads/9f1c2e4a-3b5d-4c6e-8f7a-0b1c2d3e4f5a-a b.pdf", true);
    expect_key("uploads/sub/dir/a.pdf", true);
    expect_key("uploads/caf\xc3\xa9 \xf0\x9f\x98\x80.jpg", true);
    expect_key("uploads/.hidden", true);
    expect_key("uploads/a..b", true);
    expect_key("uploads/...", true);
    expect_key("uploads/+=&%~'\"()*!$,;:@#", true);

    /* Outside the prefix or equal to it. */
    expect_key(NULL, false);
    expect_key("", false);
    expect_key("uploads/", false);
    expect_key("uploads", false);
    expect_key("other/a.pdf", false);
    expect_key("uploads-evil/x", false);
    expect_key("uploadsx/a", false);
    expect_key("Uploads/a.pdf", false);
    expect_key("/uploads/a.pdf", false);
    expect_key("x/uploads/a.pdf", false);

    /* Traversal and empty segments. */
    expect_key("uploads/../secret", false);
    expect_key("uploads/a/../b", false);
    expect_key("uploads/a/..", false);
    expect_key("uploads/./a", false);
    expect_key("uploads/a/.", false);
    expect_key("uploads/..", false);
    expect_key("uploads//a", false);
    expect_key("uploads/a//b", false);
    expect_key("uploads/a/", false);

    /* Control characters, including C1 in UTF-8 form. */
    expect_key("uploads/a\nb", false);
    expect_key("uploads/a\tb", false);
    expect_key("uploads/a\rb", false);
    expect_key("uploads/a\x7f", false);
    expect_key("uploads/a\x1b", false);
    expect_key("uploads/a\xc2\x85", false);

    /* Invalid UTF-8, including overlong "../" tricks and surrogates. */
    expect_key("uploads/\xff", false);
    expect_key("uploads/\xc0\xae\xc0\xae\xc0\xafsecret", false);
    expect_key("uploads/\xed\xa0\x80", false);
    expect_key("uploads/\xe6\x97", false);

    /* 1024 bytes is fine, 1025 is not. */
    char k[1100];
    strcpy(k, PFX);
    memset(k + strlen(PFX), 'k', 1024 - strlen(PFX));
    k[1024] = '\0';
    expect_key(k, true);
    k[1024] = 'k';
    k[1025] = '\0';
    expect_key(k, false);
    /* The limit is in bytes, not characters. */
    strcpy(k, PFX);
    size_t o = strlen(PFX);
    while (o + 2 <= 1024) {
        memcpy(k + o, "\xc3\xa9", 2);
        o += 2;
    }
    k[o] = '\0';
    expect_key(k, true);
    memcpy(k + o - 2, "\xe6\x97\xa5", 3);   /* one byte over */
    k[o + 1] = '\0';
    expect_key(k, false);
}

static void test_valid_key_prefix_variants(void **state)
{
    (void)state;
    char err[64];
    /* An empty prefix still enforces every other rule. */
    assert_true(keys_valid("a.pdf", "", err, sizeof(err)));
    assert_true(keys_valid("a.pdf", NULL, err, sizeof(err)));
    assert_false(keys_valid("/a.pdf", "", err, sizeof(err)));
    assert_false(keys_valid("../a.pdf", "", err, sizeof(err)));
    assert_false(keys_valid("", "", err, sizeof(err)));
    /* A prefix without a trailing slash is a plain string prefix, as in S3. */
    assert_true(keys_valid("uploads-2024/a", "uploads", err, sizeof(err)));
    assert_false(keys_valid("upload/a", "uploads", err, sizeof(err)));
    /* Nested prefix. */
    assert_true(keys_valid("tenant/a/uploads/x", "tenant/a/", err, sizeof(err)));
    assert_false(keys_valid("tenant/b/uploads/x", "tenant/a/", err, sizeof(err)));
}

/* ---- keys_valid_list_prefix */

static void expect_list(const char *lp, bool ok)
{
    char err[128] = "";
    bool got = keys_valid_list_prefix(lp, PFX, err, sizeof(err));
    if (got != ok)
        fail_msg("keys_valid_list_prefix(\"%s\") = %d, expected %d (%s)",
                 lp ? lp : "(null)", got, ok, err);
    if (!ok)
        assert_true(err[0] != '\0');
}

static void test_valid_list_prefix(void **state)
{
    (void)state;
    expect_list("uploads/", true);
    expect_list("uploads/a", true);
    expect_list("uploads/2024/", true);
    expect_list("uploads/2024/05", true);
    expect_list("uploads/\xc3\xa9", true);

    expect_list(NULL, false);
    expect_list("", false);
    expect_list("uploads", false);
    expect_list("upload", false);
    expect_list("uploads-evil/", false);
    expect_list("uploads-evil/x", false);
    expect_list("other/", false);
    expect_list("/uploads/", false);
    expect_list("uploads//", false);
    expect_list("uploads//a", false);
    expect_list("uploads/../", false);
    expect_list("uploads/..", false);
    expect_list("uploads/a/../b", false);
    expect_list("uploads/./", false);
    expect_list("uploads/\n", false);
    expect_list("uploads/\xff", false);
    expect_list("uploads/\xed\xbf\xbf", false);

    char lp[1100];
    strcpy(lp, PFX);
    memset(lp + strlen(PFX), 'p', 1024 - strlen(PFX));
    lp[1024] = '\0';
    expect_list(lp, true);
    lp[1024] = 'p';
    lp[1025] = '\0';
    expect_list(lp, false);

    char err[64];
    /* With an empty configured prefix, the empty listing prefix is fine. */
    assert_true(keys_valid_list_prefix("", "", err, sizeof(err)));
    assert_true(keys_valid_list_prefix("a/", "", err, sizeof(err)));
    assert_false(keys_valid_list_prefix("/", "", err, sizeof(err)));
}

/* Claims of a made-up token, for keys_principal_prefix. */
static const char *claim(const char *name, size_t len, void *arg)
{
    const char *const *kv = arg;
    for (; kv[0]; kv += 2)
        if (strlen(kv[0]) == len && memcmp(kv[0], name, len) == 0)
            return kv[1];
    return NULL;
}

static void test_principal_prefix(void **state)
{
    (void)state;
    char err[200];
    const char *good[] = { "sub", "alice", "tenant", "acme", NULL };
    char *p = keys_principal_prefix("uploads/", "users/{sub}/", claim, (void *)good, err,
                                    sizeof err);
    assert_non_null(p);
    assert_string_equal(p, "uploads/users/alice/");
    free(p);
    p = keys_principal_prefix("uploads/", "{tenant}/{sub}/", claim, (void *)good, err,
                              sizeof err);
    assert_string_equal(p, "uploads/acme/alice/");
    free(p);
    p = keys_principal_prefix("uploads/", "", NULL, NULL, err, sizeof err);
    assert_string_equal(p, "uploads/");
    free(p);
    p = keys_principal_prefix("uploads/", "alice/", NULL, NULL, err, sizeof err);
    assert_string_equal(p, "uploads/alice/");
    free(p);

    /* A claim value is never spliced into a key unless it is one plain
     * piece of a segment. */
    const char *bad_subs[] = {
        "../bob", "..", ".", "bob/x", "a\\b", "", "x\ny", "a\x01", "\xe2\x80\xae" "gnp.exe",
        "zero\xe2\x80\x8b" "width", "\xef\xbb\xbf" "bom", "\xc0\xaf",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",    /* 130 bytes */
    };
    for (size_t i = 0; i < sizeof bad_subs / sizeof bad_subs[0]; i++) {
        const char *kv[] = { "sub", bad_subs[i], NULL };
        p = keys_principal_prefix("uploads/", "users/{sub}/", claim, (void *)kv, err,
                                  sizeof err);
        if (p)
            fail_msg("sub %zu spliced into %s", i, p);
        assert_non_null(strstr(err, "sub"));
    }
    const char *none[] = { NULL };
    assert_null(keys_principal_prefix("uploads/", "users/{sub}/", claim, (void *)none, err,
                                      sizeof err));
    assert_non_null(strstr(err, "missing"));
}

static void test_access(void **state)
{
    (void)state;
    char err[200];
    const char *up = "uploads/", *alice = "uploads/alice/";

    assert_int_equal(keys_access("uploads/alice/x.pdf", up, alice, err, sizeof err),
                     KEYS_ALLOWED);
    assert_int_equal(keys_access("uploads/bob/x.pdf", up, alice, err, sizeof err),
                     KEYS_FORBIDDEN);
    assert_int_equal(keys_access("uploads/alicebob/x.pdf", up, alice, err, sizeof err),
                     KEYS_FORBIDDEN);
    /* Tricks that climb out are invalid keys before anything else. */
    assert_int_equal(keys_access("uploads/alice/../bob/x.pdf", up, alice, err, sizeof err),
                     KEYS_INVALID);
    assert_int_equal(keys_access("uploads/alice//x.pdf", up, alice, err, sizeof err),
                     KEYS_INVALID);
    assert_int_equal(keys_access("other/x.pdf", up, alice, err, sizeof err), KEYS_INVALID);
    assert_int_equal(keys_access("uploads/alice/", up, alice, err, sizeof err), KEYS_INVALID);
    /* Without a principal's own part, all of uploads.prefix is allowed. */
    assert_int_equal(keys_access("uploads/bob/x.pdf", up, up, err, sizeof err), KEYS_ALLOWED);

    assert_int_equal(keys_list_access("uploads/alice/", up, alice, err, sizeof err),
                     KEYS_ALLOWED);
    assert_int_equal(keys_list_access("uploads/alice/2026/", up, alice, err, sizeof err),
                     KEYS_ALLOWED);
    assert_int_equal(keys_list_access("uploads/", up, alice, err, sizeof err), KEYS_FORBIDDEN);
    assert_int_equal(keys_list_access("uploads/ali", up, alice, err, sizeof err),
                     KEYS_FORBIDDEN);
    assert_int_equal(keys_list_access("uploads/bob/", up, alice, err, sizeof err),
                     KEYS_FORBIDDEN);
    assert_int_equal(keys_list_access("nope/", up, alice, err, sizeof err), KEYS_INVALID);
}

static void test_sanitize_drops_invisible(void **state)
{
    (void)state;
    char err[128];
    static const struct { const char *in, *want; } cases[] = {
        { "invoice\xe2\x80\xae" "fdp.exe", "invoicefdp.exe" },      /* U+202E RLO */
        { "a\xe2\x80\x8b" "b.pdf", "ab.pdf" },                      /* U+200B ZWSP */
        { "\xe2\x81\xa6x\xe2\x81\xa9.txt", "x.txt" },              /* U+2066, U+2069 */
        { "\xef\xbb\xbf" "bom.txt", "bom.txt" },                    /* U+FEFF */
        { "soft\xc2\xad" "hyphen.txt", "softhyphen.txt" },          /* U+00AD */
        { "caf\xc3\xa9 \xf0\x9f\x98\x80.txt", "caf\xc3\xa9 \xf0\x9f\x98\x80.txt" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = keys_sanitize_filename(cases[i].in, 200, err, sizeof err);
        assert_non_null(got);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
    /* Nothing but invisible characters: nothing usable. */
    assert_null(keys_sanitize_filename("\xe2\x80\xae\xe2\x80\x8b", 200, err, sizeof err));
}

/* ---- names for downloads */

static void test_display_name(void **state)
{
    (void)state;
    char err[128];
    static const char *good[] = {
        "report.pdf", "na\xc3\xafve caf\xc3\xa9.pdf", "a\"b;c\\d.txt", "\xf0\x9f\x98\x80.png",
        "../../etc/passwd",         /* only a name: it never becomes a key */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!keys_display_name_ok(good[i], 255, err, sizeof err))
            fail_msg("\"%s\" refused: %s", good[i], err);
    static const char *bad[] = {
        "", "a\nb.pdf", "a\rb", "tab\there", "del\x7f", "c1\xc2\x85",
        "bad\xff" "utf8", "\xc0\xaf", "evil\xe2\x80\xae" "fdp.exe",   /* RLO */
        "zero\xe2\x80\x8bwidth", "bom\xef\xbb\xbf",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (keys_display_name_ok(bad[i], 255, err, sizeof err))
            fail_msg("bad name %zu accepted", i);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(keys_display_name_ok(big, 255, err, sizeof err));
    big[255] = '\0';
    assert_true(keys_display_name_ok(big, 255, err, sizeof err));
}

static void test_original_filename(void **state)
{
    (void)state;
    char err[128];
    char *key = keys_new_upload_key(PFX "alice/", "na\xc3\xafve caf\xc3\xa9.pdf", 200, err,
                                    sizeof err);
    assert_non_null(key);
    assert_string_equal(keys_original_filename(key), "na\xc3\xafve caf\xc3\xa9.pdf");
    free(key);
    assert_string_equal(keys_original_filename(
        "uploads/3f1c2a58-7f8e-4c57-9a1d-2f6f8f0e9d11-a-b.txt"), "a-b.txt");
    /* Not made by presignd: the whole last segment. */
    assert_string_equal(keys_original_filename("uploads/x/report.pdf"), "report.pdf");
    assert_string_equal(keys_original_filename("report.pdf"), "report.pdf");
    assert_string_equal(keys_original_filename(
        "uploads/3F1C2A58-7F8E-4C57-9A1D-2F6F8F0E9D11-a.txt"),
        "3F1C2A58-7F8E-4C57-9A1D-2F6F8F0E9D11-a.txt");
    assert_string_equal(keys_original_filename(
        "uploads/3f1c2a58-7f8e-4c57-9a1d-2f6f8f0e9d11-"),
        "3f1c2a58-7f8e-4c57-9a1d-2f6f8f0e9d11-");
    assert_string_equal(keys_original_filename("uploads/3f1c2a58-7f8e-4c57"), "3f1c2a58-7f8e-4c57");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_sanitize_basename),
        cmocka_unit_test(test_sanitize_refusals),
        cmocka_unit_test(test_sanitize_leading_dots_spaces),
        cmocka_unit_test(test_sanitize_control_and_utf8),
        cmocka_unit_test(test_sanitize_length),
        cmocka_unit_test(test_new_upload_key),
        cmocka_unit_test(test_valid_key),
        cmocka_unit_test(test_valid_key_prefix_variants),
        cmocka_unit_test(test_valid_list_prefix),
        cmocka_unit_test(test_principal_prefix),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_sanitize_drops_invisible),
        cmocka_unit_test(test_display_name),
        cmocka_unit_test(test_original_filename),
    };
    return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
