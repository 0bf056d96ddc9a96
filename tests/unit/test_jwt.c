/*
 * test_jwt.c - unit tests of common/jwt.c and common/b64.c: every token of
 * the vectors that tests/unit/jwt_vectors.py makes with PyJWT at test time
 * (valid RS256 and ES256 tokens, and each way a token must be refused:
 * expired, not yet valid, wrong issuer or audience, alg none, HS256 signed
 * with the RSA public key, a tampered payload, an unknown kid, crit...) gets
 * the status the vector says, and the JWKS parser keeps only usable keys.
 * JWT_VECTORS names the directory (make unit sets it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "b64.h"
#include "jwt.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static struct jwks *load_jwks(const char *dir)
{
    char path[512], err[200];
    size_t len;
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    char *text = slurp(path, &len);
    struct jwks *ks = jwks_parse(text, len, err, sizeof err);
    free(text);
    if (!ks)
        fail_msg("jwks: %s", err);
    return ks;
}

static void test_vectors(void **state)
{
    (void)state;
    const char *dir = getenv("JWT_VECTORS");
    if (!dir)
        fail_msg("JWT_VECTORS is not set (make unit sets it)");
    struct jwks *ks = load_jwks(dir);
    /* rsa1 and ec1: the 1024-bit RSA key and the HMAC key are not usable. */
    assert_int_equal(jwks_count(ks), 2);

    char path[512], line[20000];
    snprintf(path, sizeof path, "%s/vectors.tsv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    double now = 0;
    int rows = 0, bad = 0, ok_rows = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *fields[5] = { 0 };
        char *p = line;
        for (int i = 0; i < 5 && p; i++) {
            fields[i] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (!strcmp(fields[0], "now")) {
            now = atof(fields[1]);
            continue;
        }
        assert_non_null(fields[4]);
        struct jwt_policy pol = {
            .algorithms = (strstr(fields[1], "RS256") ? JWT_ALG_RS256 : 0) |
                          (strstr(fields[1], "ES256") ? JWT_ALG_ES256 : 0),
            .issuer = "https://idp.example.com/", .audience = "presignd",
            .leeway = 60, .now = now,
        };
        struct json_object *claims = NULL;
        char err[200];
        enum jwt_status st = jwt_verify(fields[4], strlen(fields[4]), ks, &pol, &claims,
                                        err, sizeof err);
        const char *got = jwt_status_name(st);
        if (strcmp(got, fields[2]) != 0) {
            print_message("%s: expected %s, got %s (%s)\n", fields[0], fields[2], got, err);
            bad++;
        }
        if (st == JWT_OK) {
            struct json_object *sub;
            assert_non_null(claims);
            assert_true(json_object_object_get_ex(claims, "sub", &sub));
            assert_string_equal(json_object_get_string(sub), fields[3]);
            ok_rows++;
        } else {
            assert_null(claims);
            /* A refusal never echoes the token. */
            assert_null(strstr(err, "eyJ"));
        }
        json_object_put(claims);
        rows++;
    }
    fclose(f);
    jwks_free(ks);
    print_message("jwt vectors: %d tokens (%d valid), %d mismatches\n", rows, ok_rows, bad);
    assert_true(rows >= 25);
    assert_true(ok_rows >= 5);
    assert_int_equal(bad, 0);
}

static void test_jwks_refusals(void **state)
{
    (void)state;
    char err[200];
    const char *bad[] = {
        "", "[]", "{}", "{\"keys\": 3}", "{\"keys\": []}",
        "{\"keys\": [{\"kty\": \"oct\", \"k\": \"AAAA\"}]}",
        "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}",   /* 17 bits */
        "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AAAA\", \"y\": \"AAAA\"}]}",
        /* a point off the curve */
        "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\","
        " \"x\": \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","
        " \"y\": \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jwks *ks = jwks_parse(bad[i], strlen(bad[i]), err, sizeof err);
        if (ks)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
    }
}

static void test_b64(void **state)
{
    (void)state;
    unsigned char out[64];
    size_t n;
    char enc[64];

    assert_true(b64_decode("aGVsbG8=", 8, false, out, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    assert_true(b64_decode("aGVsbG8", 7, true, out, &n));
    assert_int_equal(n, 5);
    assert_true(b64_decode("_-8", 3, true, out, &n));
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xef);
    assert_true(b64_decode("", 0, true, out, &n));
    assert_int_equal(n, 0);
    /* Refused: padding missing or wrong, the other alphabet, stray bytes,
     * non-zero unused bits, a lone character. */
    assert_false(b64_decode("aGVsbG8", 7, false, out, &n));
    assert_false(b64_decode("aGVsbG8==", 9, false, out, &n));
    assert_false(b64_decode("_-8=", 4, false, out, &n));
    assert_false(b64_decode("+/8", 3, true, out, &n));
    assert_false(b64_decode("aGVs bG8=", 9, false, out, &n));
    assert_false(b64_decode("aGVsbG9=", 8, false, out, &n));
    assert_false(b64_decode("a", 1, true, out, &n));
    assert_int_equal(b64_encode((const unsigned char *)"hello", 5, enc), 8);
    assert_string_equal(enc, "aGVsbG8=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_jwks_refusals),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
