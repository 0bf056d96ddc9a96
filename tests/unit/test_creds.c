/*
 * test_creds.c - the I/O-free parts of common/creds.c: the shared
 * credentials file (profiles, comments, spacing, missing keys), the IMDS
 * credentials JSON, ISO 8601 expiry times, the refresh schedule, and the
 * order of the static chain (config, environment, file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "creds.h"

static const char INI[] =
    "# comment\n"
    "[default]\n"
    "aws_access_key_id = AKIDEFAULT\n"
    "aws_secret_access_key=secret/default+1\n"
    "\n"
    "; another comment\n"
    "[  other ]\n"
    "  AWS_ACCESS_KEY_ID   =   AKIOTHER  \r\n"
    "aws_secret_access_key = s2\r\n"
    "aws_session_token = tok==\r\n"
    "[profile named]\n"
    "aws_access_key_id = AKINAMED\n"
    "aws_secret_access_key = s3\n"
    "[broken]\n"
    "aws_access_key_id = AKIBROKEN\n";

static int ini(const char *profile, struct creds *c, char *err, size_t errlen)
{
    return creds_parse_ini("creds", INI, strlen(INI), profile, c, err, errlen);
}

static void ini_profiles(void **state)
{
    (void)state;
    struct creds c;
    char err[256] = "";

    assert_int_equal(ini("default", &c, err, sizeof(err)), 1);
    assert_string_equal(c.access_key_id, "AKIDEFAULT");
    assert_string_equal(c.secret_access_key, "secret/default+1");
    assert_null(c.session_token);
    assert_int_equal(c.source, CREDS_FILE);
    creds_clear(&c);
    assert_null(c.access_key_id);

    assert_int_equal(ini("other", &c, err, sizeof(err)), 1);
    assert_string_equal(c.access_key_id, "AKIOTHER");
    assert_string_equal(c.secret_access_key, "s2");
    assert_string_equal(c.session_token, "tok==");
    creds_clear(&c);

    assert_int_equal(ini("named", &c, err, sizeof(err)), 1);
    assert_string_equal(c.access_key_id, "AKINAMED");
    creds_clear(&c);

    assert_int_equal(ini("absent", &c, err, sizeof(err)), 0);
    assert_null(c.access_key_id);

    assert_int_equal(ini("broken", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "aws_secret_access_key"));
    assert_null(c.access_key_id);
}

static void imds_json(void **state)
{
    (void)state;
    struct creds c;
    char err[256] = "";
    const char *ok =
        "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-28T06:00:00Z\",\n"
        "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n"
        "  \"SecretAccessKey\" : \"wJalr/EXAMPLE\",\n  \"Token\" : \"IQoJb3JpZ2luX2VjEXAMPLE==\",\n"
        "  \"Expiration\" : \"2026-11-28T12:00:00Z\"\n}";

    assert_int_equal(creds_parse_imds(ok, strlen(ok), &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key_id, "ASIAEXAMPLE");
    assert_string_equal(c.secret_access_key, "wJalr/EXAMPLE");
    assert_string_equal(c.session_token, "IQoJb3JpZ2luX2VjEXAMPLE==");
    assert_true(c.expiration == 1795867200.0);
    assert_int_equal(c.source, CREDS_IMDS);
    creds_clear(&c);

    /* No token (or an empty one): no x-amz-security-token will be sent. */
    const char *notoken = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"\","
                          "\"Expiration\":\"2026-11-28T12:00:00Z\"}";
    assert_int_equal(creds_parse_imds(notoken, strlen(notoken), &c, err, sizeof(err)), 0);
    assert_null(c.session_token);
    creds_clear(&c);

    static const char *const bad[] = {
        "", "[]", "{", "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
        "\"Expiration\":\"2026-11-28T12:00:00Z\"}",
        "{\"AccessKeyId\":\"A\",\"Expiration\":\"2026-11-28T12:00:00Z\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"tomorrow\"}",
        "{\"AccessKeyId\":1,\"SecretAccessKey\":\"S\",\"Expiration\":\"2026-11-28T12:00:00Z\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(creds_parse_imds(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assert_null(c.access_key_id);
        /* The message never repeats a secret. */
        assert_null(strstr(err, "\"S\""));
    }
}

static void iso8601(void **state)
{
    (void)state;
    assert_true(creds_parse_iso8601("1970-01-01T00:00:00Z") == 0.0);
    assert_true(creds_parse_iso8601("2026-11-28T12:00:00Z") == 1795867200.0);
    assert_true(creds_parse_iso8601("2026-11-28T12:00:00.500Z") == 1795867200.5);
    assert_true(creds_parse_iso8601("2026-11-28T13:30:00+01:30") == 1795867200.0);
    assert_true(creds_parse_iso8601("2026-11-28T10:00:00-02:00") == 1795867200.0);
    assert_true(creds_parse_iso8601("2026-11-28T12:00:00") < 0);
    assert_true(creds_parse_iso8601("2026-13-28T12:00:00Z") < 0);
    assert_true(creds_parse_iso8601("2026-11-28T12:00:00Zjunk") < 0);
    assert_true(creds_parse_iso8601("") < 0);
    assert_true(creds_parse_iso8601(NULL) < 0);
}

static void refresh_schedule(void **state)
{
    (void)state;
    double now = 1000000;

    /* Six hours: 80% of the lifetime comes before "5 minutes before". */
    assert_true(creds_refresh_at(now, now + 21600) == now + 17280);
    /* Fifteen minutes: 5 minutes before expiry. */
    assert_true(creds_refresh_at(now, now + 900) == now + 600);
    /* Four minutes: never before half the lifetime (no refresh loop). */
    assert_true(creds_refresh_at(now, now + 240) == now + 120);
    /* Always in the future, even for expired credentials. */
    assert_true(creds_refresh_at(now, now + 1) >= now + 1);
    assert_true(creds_refresh_at(now, now - 10) >= now + 1);
}

static void static_chain_order(void **state)
{
    (void)state;
    struct cfg cfg;
    struct creds c;
    char err[256] = "";
    char dir[] = "/tmp/test_creds.XXXXXX";
    char path[300];

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/credentials", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(INI, f);
    fclose(f);

    memset(&cfg, 0, sizeof(cfg));
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
    setenv("AWS_SESSION_TOKEN", "tenv", 1);
    unsetenv("AWS_PROFILE");

    /* Config first. */
    cfg.s3.access_key_id = "AKICFG";
    cfg.s3.secret_access_key = "scfg";
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), CREDS_CONFIG);
    assert_string_equal(c.access_key_id, "AKICFG");
    assert_null(c.session_token);
    creds_clear(&c);

    /* Half a pair in the config is an error, not a silent fallback. */
    cfg.s3.secret_access_key = NULL;
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), -1);
    cfg.s3.access_key_id = NULL;

    /* Then the environment. */
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), CREDS_ENV);
    assert_string_equal(c.access_key_id, "AKIENV");
    assert_string_equal(c.session_token, "tenv");
    creds_clear(&c);

    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY"));
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");

    /* Then the file, profile from AWS_PROFILE. */
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), CREDS_FILE);
    assert_string_equal(c.access_key_id, "AKIDEFAULT");
    creds_clear(&c);
    setenv("AWS_PROFILE", "other", 1);
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), CREDS_FILE);
    assert_string_equal(c.access_key_id, "AKIOTHER");
    creds_clear(&c);
    setenv("AWS_PROFILE", "nope", 1);
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nope"));

    /* Nothing anywhere: IMDS's turn. */
    unsetenv("AWS_PROFILE");
    snprintf(path, sizeof(path), "%s", dir);
    setenv("HOME", dir, 1);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    assert_int_equal(creds_resolve_static(&cfg, &c, err, sizeof(err)), CREDS_NONE);

    snprintf(path, sizeof(path), "%s/credentials", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ini_profiles),
        cmocka_unit_test(imds_json),
        cmocka_unit_test(iso8601),
        cmocka_unit_test(refresh_schedule),
        cmocka_unit_test(static_chain_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
