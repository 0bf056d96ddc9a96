/*
 * test_config.c - unit tests of common/config.c: defaults, a file that sets
 * every key, each kind of error with its exact line and column, several
 * errors reported together, listen parsing, "auto" workers, the lookups
 * (content type by file name, CORS origins) and the two shipped example
 * files (found through PRESIGND_SRCDIR, which `make unit` sets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define NAME "t.yaml"

/* A valid s3 section, for tests about other sections. */
#define S3_OK "s3:\n  bucket: my-bucket\n"

/* ---- helpers */

static struct cfg *load(const char *text, struct cfg_errors *e)
{
    memset(e, 0, sizeof(*e));
    return cfg_load_string(NAME, text, strlen(text), e);
}

static void dump(const struct cfg_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        print_message("    got: %s\n", e->lines[i]);
}

/* TEXT must load, with no error lines. The caller frees. */
static struct cfg *load_ok(const char *text)
{
    struct cfg_errors e;
    struct cfg *cfg = load(text, &e);
    if (!cfg || e.n) {
        print_message("expected a valid config:\n%s\n", text);
        dump(&e);
    }
    assert_non_null(cfg);
    assert_int_equal(e.n, 0);
    cfg_errors_free(&e);
    return cfg;
}

/*
 * TEXT must fail with exactly one error, at POS ("LINE:COL"), whose message
 * contains WANT.
 */
static void fails_once(const char *text, const char *pos, const char *want)
{
    struct cfg_errors e;
    char prefix[64];
    struct cfg *cfg = load(text, &e);
    snprintf(prefix, sizeof(prefix), NAME ":%s: ", pos);
    bool ok = !cfg && e.n == 1 && strncmp(e.lines[0], prefix, strlen(prefix)) == 0 &&
              strstr(e.lines[0] + strlen(prefix), want) != NULL;
    if (!ok) {
        print_message("for:\n%s\n  want exactly one error: %s...%s\n", text, prefix, want);
        dump(&e);
    }
    cfg_free(cfg);
    cfg_errors_free(&e);
    assert_true(ok);
}

/* TEXT must fail with exactly the N lines of WANT, in that order. */
static void fails_with(const char *text, const char *const *want, size_t n)
{
    struct cfg_errors e;
    struct cfg *cfg = load(text, &e);
    bool ok = !cfg && e.n == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = strcmp(e.lines[i], want[i]) == 0;
    if (!ok) {
        print_message("for:\n%s\n", text);
        for (size_t i = 0; i < n; i++)
            print_message("   want: %s\n", want[i]);
        dump(&e);
    }
    cfg_free(cfg);
    cfg_errors_free(&e);
    assert_true(ok);
}

struct bad {
    const char *text;
    const char *pos;
    const char *want;
};

static void run_bad(const struct bad *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fails_once(cases[i].text, cases[i].pos, cases[i].want);
}

#define RUN_BAD(t) run_bad((t), sizeof(t) / sizeof((t)[0]))

/* ---- defaults and a complete file */

static void test_defaults(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK);

    assert_string_equal(c->path, NAME);
    assert_int_equal(c->server.n_listen, 1);
    assert_string_equal(c->server.listen[0].text, "127.0.0.1:8000");
    assert_string_equal(c->server.listen[0].host, "127.0.0.1");
    assert_string_equal(c->server.listen[0].port, "8000");
    assert_int_equal(c->server.workers, 2);
    assert_false(c->server.workers_auto);
    assert_int_equal(c->server.shutdown_timeout, 30);
    assert_null(c->server.user);
    assert_null(c->server.group);
    assert_null(c->server.pid_file);
    assert_null(c->server.log_file);
    assert_int_equal(c->server.log_level, LOG_LVL_INFO);
    assert_null(c->server.access_log);
    assert_int_equal(c->server.max_header_size, 8192);
    assert_int_equal(c->server.max_body_size, 16384);
    assert_int_equal(c->server.read_timeout, 30);
    assert_int_equal(c->server.write_timeout, 30);
    assert_int_equal(c->server.keepalive_timeout, 60);
    assert_null(c->server.metrics_listen);

    assert_string_equal(c->s3.bucket, "my-bucket");
    assert_string_equal(c->s3.region, "us-east-1");
    assert_null(c->s3.endpoint);
    assert_null(c->s3.public_endpoint);
    assert_false(c->s3.path_style);
    assert_null(c->s3.access_key_id);
    assert_null(c->s3.secret_access_key);
    assert_null(c->s3.session_token);
    assert_string_equal(c->s3.imds_endpoint, "http://169.254.169.254");
    assert_int_equal(c->s3.connect_timeout_ms, 2000);
    assert_int_equal(c->s3.request_timeout_ms, 10000);
    assert_int_equal(c->s3.max_attempts, 3);
    assert_int_equal(c->s3.health_cache_ms, 1000);

    assert_int_equal(c->presign.expires, 600);
    assert_int_equal(c->presign.max_file_size, 52428800);

    assert_string_equal(c->uploads.prefix, "uploads/");
    assert_int_equal(c->uploads.max_filename_bytes, 200);
    assert_true(c->uploads.require_size);
    assert_false(c->uploads.overwrite);
    assert_int_equal(c->uploads.max_multipart_size, 0);
    assert_int_equal(c->server.header_timeout, 10);
    assert_int_equal(c->server.max_connections, 4096);
    assert_int_equal(c->server.start_timeout, 30);
    assert_false(c->server.allow_core_dumps);
    assert_int_equal(c->s3.call_timeout_ms, 5000);
    assert_int_equal(cfg_multipart_limit(c), 52428800);
    assert_int_equal(c->uploads.n_types, 13);
    assert_string_equal(c->uploads.types[0].ext, ".jpg");
    assert_string_equal(c->uploads.types[0].type, "image/jpeg");
    assert_string_equal(cfg_type_for_filename(c, "a.mp4"), "video/mp4");
    /* The previous service's list is covered, with the browsers' aliases. */
    static const char *old_service[] = {
        "a.jpg", "a.jpeg", "a.png", "a.gif", "a.pdf", "a.txt", "a.doc", "a.docx", "a.mp4",
        "a.mp3", "a.zip",
    };
    for (size_t i = 0; i < sizeof old_service / sizeof *old_service; i++)
        assert_non_null(cfg_type_for_filename(c, old_service[i]));
    const struct cfg_type *zip = cfg_type_lookup(c, "x.ZIP");
    assert_non_null(zip);
    assert_string_equal(zip->type, "application/zip");
    assert_true(zip->n_aliases >= 2);
    assert_string_equal(zip->aliases[0], "application/zip");
    assert_string_equal(zip->aliases[1], "application/x-zip-compressed");
    const struct cfg_type *csv = cfg_type_lookup(c, "x.csv");
    bool excel = false;
    for (size_t i = 0; i < csv->n_aliases; i++)
        excel = excel || !strcmp(csv->aliases[i], "application/vnd.ms-excel");
    assert_true(excel);

    assert_int_equal(c->cors.n_allow_origins, 1);
    assert_string_equal(c->cors.allow_origins[0], "*");
    assert_int_equal(c->cors.n_allow_headers, 2);
    assert_string_equal(c->cors.allow_headers[0], "Content-Type");
    assert_string_equal(c->cors.allow_headers[1], "X-Request-Id");
    assert_int_equal(c->cors.max_age, 600);
    cfg_free(c);
}

static const char full_file[] =
    "# every key, none at its default\n"
    "server:\n"
    "  listen: [\"0.0.0.0:8080\", \"[::]:8080\"]\n"
    "  workers: 7\n"
    "  shutdown_timeout: 0\n"
    "  user: presignd\n"
    "  group: www-data\n"
    "  pid_file: /run/presignd.pid\n"
    "  log_file: /var/log/presignd/error.log\n"
    "  log_level: warn\n"
    "  access_log: \"off\"\n"
    "  max_header_size: 4096\n"
    "  max_body_size: 2048\n"
    "  read_timeout: 5\n"
    "  write_timeout: 6\n"
    "  keepalive_timeout: 7\n"
    "  metrics_listen: 127.0.0.1:9100\n"
    "s3:\n"
    "  bucket: my.bucket-1\n"
    "  region: eu-west-3\n"
    "  endpoint: HTTP://127.0.0.1:7480/\n"
    "  public_endpoint: https://files.example.com\n"
    "  path_style: true\n"
    "  access_key_id: AKIDEXAMPLE\n"
    "  secret_access_key: 'wJalr/K7MDENG+bPxRfi'\n"
    "  session_token: \"tok=en\"\n"
    "  imds_endpoint: http://127.0.0.1:1338\n"
    "  connect_timeout_ms: 150\n"
    "  request_timeout_ms: 900\n"
    "  max_attempts: 10\n"
    "  health_cache_ms: 0\n"
    "presign:\n"
    "  expires: 604800\n"
    "  max_file_size: 5368709120\n"
    "uploads:\n"
    "  prefix: tenant-a/in/\n"
    "  max_filename_bytes: 100\n"
    "  allowed_types:\n"
    "    .PDF: application/pdf\n"
    "    .tar: application/x-tar\n"
    "    .docx: application/vnd.openxmlformats-officedocument.wordprocessingml.document\n"
    "cors:\n"
    "  allow_origins:\n"
    "    - https://App.Example.com:443\n"
    "    - http://localhost:3000\n"
    "    - capacitor://localhost\n"
    "  allow_headers: [Content-Type, Authorization]\n"
    "  max_age: 86400\n";

static void test_full_file(void **state)
{
    (void)state;
    struct cfg *c = load_ok(full_file);

    assert_int_equal(c->server.n_listen, 2);
    assert_string_equal(c->server.listen[0].host, "0.0.0.0");
    assert_string_equal(c->server.listen[0].port, "8080");
    assert_string_equal(c->server.listen[1].text, "[::]:8080");
    assert_string_equal(c->server.listen[1].host, "::");
    assert_string_equal(c->server.listen[1].port, "8080");
    assert_int_equal(c->server.workers, 7);
    assert_int_equal(c->server.shutdown_timeout, 0);
    assert_string_equal(c->server.user, "presignd");
    assert_string_equal(c->server.group, "www-data");
    assert_string_equal(c->server.pid_file, "/run/presignd.pid");
    assert_string_equal(c->server.log_file, "/var/log/presignd/error.log");
    assert_int_equal(c->server.log_level, LOG_LVL_WARN);
    assert_string_equal(c->server.access_log, "off");
    assert_int_equal(c->server.max_header_size, 4096);
    assert_int_equal(c->server.max_body_size, 2048);
    assert_int_equal(c->server.read_timeout, 5);
    assert_int_equal(c->server.write_timeout, 6);
    assert_int_equal(c->server.keepalive_timeout, 7);
    assert_non_null(c->server.metrics_listen);
    assert_string_equal(c->server.metrics_listen->host, "127.0.0.1");
    assert_string_equal(c->server.metrics_listen->port, "9100");

    assert_string_equal(c->s3.bucket, "my.bucket-1");
    assert_string_equal(c->s3.region, "eu-west-3");
    assert_string_equal(c->s3.endpoint, "http://127.0.0.1:7480");
    assert_string_equal(c->s3.public_endpoint, "https://files.example.com");
    assert_true(c->s3.path_style);
    assert_string_equal(c->s3.access_key_id, "AKIDEXAMPLE");
    assert_string_equal(c->s3.secret_access_key, "wJalr/K7MDENG+bPxRfi");
    assert_string_equal(c->s3.session_token, "tok=en");
    assert_string_equal(c->s3.imds_endpoint, "http://127.0.0.1:1338");
    assert_int_equal(c->s3.connect_timeout_ms, 150);
    assert_int_equal(c->s3.request_timeout_ms, 900);
    assert_int_equal(c->s3.max_attempts, 10);
    assert_int_equal(c->s3.health_cache_ms, 0);

    assert_int_equal(c->presign.expires, 604800);
    assert_true(c->presign.max_file_size == 5368709120LL);

    assert_string_equal(c->uploads.prefix, "tenant-a/in/");
    assert_int_equal(c->uploads.max_filename_bytes, 100);
    assert_int_equal(c->uploads.n_types, 3);
    assert_string_equal(c->uploads.types[0].ext, ".pdf");
    assert_string_equal(c->uploads.types[1].ext, ".tar");
    assert_string_equal(c->uploads.types[2].type,
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document");

    assert_int_equal(c->cors.n_allow_origins, 3);
    assert_string_equal(c->cors.allow_origins[0], "https://app.example.com");
    assert_string_equal(c->cors.allow_origins[1], "http://localhost:3000");
    assert_string_equal(c->cors.allow_origins[2], "capacitor://localhost");
    assert_int_equal(c->cors.n_allow_headers, 2);
    assert_string_equal(c->cors.allow_headers[1], "Authorization");
    assert_int_equal(c->cors.max_age, 86400);
    cfg_free(c);
}

/* Empty sections, comments only, explicit nulls for optional keys. */
static void test_empty_sections(void **state)
{
    (void)state;
    struct cfg *c = load_ok("server:\ns3:\n  bucket: abc\n  endpoint: \"\"\n"
                            "  access_key_id: ~\n  secret_access_key:\n"
                            "presign: {}\nuploads:\ncors:\n");
    assert_int_equal(c->server.workers, 2);
    assert_null(c->s3.endpoint);
    assert_null(c->s3.access_key_id);
    assert_null(c->s3.secret_access_key);
    cfg_free(c);

    /* An empty origin list turns CORS off. */
    c = load_ok(S3_OK "cors:\n  allow_origins: []\n");
    assert_int_equal(c->cors.n_allow_origins, 0);
    assert_false(cfg_origin_allowed(c, "https://a.example"));
    cfg_free(c);
}

/* ---- errors: the reference example and several at once */

static void test_unknown_key_and_workers_zero(void **state)
{
    (void)state;
    static const char text[] =
        "server:\n"
        "  listen: \"127.0.0.1:8000\"\n"
        "  colour: blue\n"
        "  shutdown_timeout: 5\n"
        "  workers: 0\n"
        S3_OK;
    static const char *const want[] = {
        NAME ":3:3: server.colour: unknown key",
        NAME ":5:12: server.workers: 0 is out of range (1..1024)",
    };
    fails_with(text, want, 2);
}

static void test_many_errors_together(void **state)
{
    (void)state;
    /* Reported sorted by position, whatever the order they were found in. */
    static const char text[] =
        "presign:\n"
        "  expires: 0\n"
        "  max_file_size: 0\n"
        "server:\n"
        "  workers: many\n"
        "  listen: \"127.0.0.1\"\n"
        "s3:\n"
        "  region: us-east-1\n"
        "  path_style: 1\n"
        "uploads:\n"
        "  allowed_types:\n"
        "    .jpg: jpeg\n"
        "extra: 1\n";
    static const char *const want[] = {
        NAME ":2:12: presign.expires: 0 is out of range (1..604800)",
        NAME ":3:18: presign.max_file_size: 0 is out of range (1..5368709120)",
        NAME ":5:12: server.workers: expected an integer or \"auto\", got \"many\"",
        NAME ":6:11: server.listen: \"127.0.0.1\": missing host or port "
             "(expected HOST:PORT, e.g. 127.0.0.1:8000)",
        NAME ":7:1: s3.bucket: required key is missing",
        NAME ":9:15: s3.path_style: expected true or false, got \"1\"",
        NAME ":12:11: uploads.allowed_types: .jpg: expected a content type such as "
             "image/jpeg (type/subtype) or a list of them, got \"jpeg\"",
        NAME ":13:1: extra: unknown section (expected server, s3, presign, uploads, cors, auth, rate_limit or audit)",
    };
    fails_with(text, want, sizeof(want) / sizeof(want[0]));
}

static void test_error_cap(void **state)
{
    (void)state;
    char text[8192];
    size_t o = (size_t)snprintf(text, sizeof(text), "%s", S3_OK "server:\n");
    for (int i = 0; i < 80; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "  bogus_%d: 1\n", i);
    struct cfg_errors e;
    struct cfg *c = load(text, &e);
    assert_null(c);
    assert_int_equal(e.n, 51);
    assert_string_equal(e.lines[0], NAME ":4:3: server.bogus_0: unknown key");
    assert_string_equal(e.lines[50], NAME ":54:3: too many errors, 30 more not shown");
    cfg_errors_free(&e);
}

/* ---- each kind of error, with its position */

static void test_syntax_errors(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { "server:\n  listen: a\n   b: c\n", "3:5", "YAML syntax error: mapping values "
          "are not allowed" },
        { S3_OK "server:\n\tworkers: 2\n", "4:1", "YAML syntax error: found character "
          "that cannot start any token" },
        { S3_OK "cors:\n  allow_origins: [\"*\"\n", "5:1", "YAML syntax error: did not find "
          "expected ',' or ']'" },
        { S3_OK "x: \"unterminated\n", "4:1", "YAML syntax error: found unexpected end of "
          "stream (while scanning a quoted scalar at 3:4)" },
        { S3_OK "server: *nope\n", "3:9", "YAML syntax error: found undefined alias" },
        /* Invalid UTF-8 is reported at its byte, counted in characters. */
        { S3_OK "server:\n  user: \"h\xc3\xa9\xff\"\n", "4:12", "invalid input: invalid "
          "leading UTF-8 octet" },
        { S3_OK "---\nserver: {}\n", "3:1", "only one YAML document is allowed" },
        { S3_OK "server:\n  user: !vault secret/user\n", "4:9", "YAML tag \"!vault\" is not "
          "supported" },
    };
    RUN_BAD(cases);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { S3_OK "sever:\n  workers: 2\n", "3:1", "sever: unknown section (did you mean "
          "\"server\"?)" },
        { S3_OK "server:\n  wrkers: 2\n", "4:3", "server.wrkers: unknown key (did you "
          "mean \"workers\"?)" },
        { "s3:\n  bucket: abc\n  secret_key: x\n", "3:3", "s3.secret_key: unknown key" },
        { S3_OK "presign:\n  expiry: 60\n", "4:3", "presign.expiry: unknown key (did you "
          "mean \"expires\"?)" },
        { S3_OK "uploads:\n  types: {}\n", "4:3", "uploads.types: unknown key" },
        { S3_OK "cors:\n  origins: [\"*\"]\n", "4:3", "cors.origins: unknown key" },
        { S3_OK "server:\n  ? [a]\n  : 1\n", "4:5", "server: expected a key name, got a list" },
        { S3_OK "server:\n  ~: 1\n", "4:3", "server: expected a key name, got nothing" },
        { S3_OK "server:\n  \"work\\x01\": 1\n", "4:3", "server: unknown key \"work\\x01\"" },
    };
    RUN_BAD(cases);
}

static void test_wrong_types(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { S3_OK "server:\n  workers: \"2\"\n", "4:12", "server.workers: expected an integer "
          "or \"auto\", got the quoted string \"2\" (write numbers without quotes)" },
        { S3_OK "server:\n  workers: 2.5\n", "4:12", "expected an integer or \"auto\", got "
          "\"2.5\"" },
        { S3_OK "server:\n  workers: [2]\n", "4:12", "got a list" },
        { S3_OK "server:\n  workers:\n", "4:3", "server.workers: expected an integer or "
          "\"auto\", got nothing" },
        { S3_OK "server:\n  shutdown_timeout: 1e3\n", "4:21", "server.shutdown_timeout: "
          "expected an integer, got \"1e3\"" },
        { S3_OK "server:\n  shutdown_timeout: '30'\n", "4:21", "got the quoted string "
          "\"30\"" },
        { S3_OK "server:\n  max_body_size: 0x100\n", "4:18", "expected an integer" },
        { S3_OK "server:\n  user: {name: x}\n", "4:9", "server.user: expected a string, "
          "got a mapping" },
        { S3_OK "server:\n  log_level: loud\n", "4:14", "server.log_level: expected debug, "
          "info, warn or error, got \"loud\"" },
        { S3_OK "server:\n  listen: {a: 1}\n", "4:11", "server.listen: expected HOST:PORT "
          "or a list of them, got a mapping" },
        { "s3:\n  bucket: abc\n  path_style: yes\n", "3:15", "s3.path_style: expected true "
          "or false, got \"yes\"" },
        { "s3:\n  bucket: abc\n  path_style: \"true\"\n", "3:15", "expected true or false" },
        { "s3:\n  bucket: [abc]\n", "2:11", "s3.bucket: expected a string, got a list" },
        { "s3: [bucket]\n", "1:5", "s3: expected a mapping of keys, got a list" },
        { S3_OK "server: 8000\n", "3:9", "server: expected a mapping of keys, got \"8000\"" },
        { "- server\n", "1:1", "expected a mapping of sections" },
        { S3_OK "uploads:\n  allowed_types: [.jpg]\n", "4:18", "uploads.allowed_types: "
          "expected a mapping of \".ext: type/subtype\", got a list" },
        { S3_OK "cors:\n  allow_origins: {a: b}\n", "4:18", "cors.allow_origins: expected "
          "\"*\" or an origin or a list of them, got a mapping" },
        { S3_OK "cors:\n  allow_origins: [[a]]\n", "4:19", "cors.allow_origins: expected "
          "a string, got a list" },
        { S3_OK "cors:\n  max_age: true\n", "4:12", "cors.max_age: expected an integer, "
          "got \"true\"" },
        /* Double-quoted escapes can smuggle control characters in. */
        { "s3:\n  bucket: \"ab\\0c\"\n", "2:11", "s3.bucket: must not contain control "
          "characters" },
    };
    RUN_BAD(cases);
}

static void test_out_of_range(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { S3_OK "server:\n  workers: 1025\n", "4:12", "server.workers: 1025 is out of range "
          "(1..1024)" },
        { S3_OK "server:\n  workers: -3\n", "4:12", "-3 is out of range" },
        { S3_OK "server:\n  shutdown_timeout: -1\n", "4:21", "server.shutdown_timeout: -1 is "
          "out of range (0..86400)" },
        { S3_OK "server:\n  max_header_size: -5\n", "4:20", "server.max_header_size: -5 is out "
          "of range (256..1048576)" },
        { S3_OK "server:\n  max_body_size: 99999999999999999999\n", "4:18", "is out of "
          "range (1..16777216)" },
        { S3_OK "server:\n  read_timeout: 0\n", "4:17", "out of range (1..3600)" },
        { "s3:\n  bucket: abc\n  max_attempts: 11\n", "3:17", "s3.max_attempts: 11 is out "
          "of range (1..10)" },
        { "s3:\n  bucket: abc\n  connect_timeout_ms: 0\n", "3:23", "out of range" },
        { "s3:\n  bucket: abc\n  health_cache_ms: -1\n", "3:20", "out of range" },
        { S3_OK "presign:\n  expires: 0\n", "4:12", "presign.expires: 0 is out of range "
          "(1..604800)" },
        { S3_OK "presign:\n  expires: 604801\n", "4:12", "604801 is out of range" },
        { S3_OK "presign:\n  max_file_size: -1\n", "4:18", "presign.max_file_size: -1 is out "
          "of range (1..5368709120)" },
        { S3_OK "presign:\n  max_file_size: 5368709121\n", "4:18", "out of range" },
        { S3_OK "uploads:\n  max_filename_bytes: 0\n", "4:23", "out of range (1..986)" },
        { S3_OK "cors:\n  max_age: 86401\n", "4:12", "out of range (0..86400)" },
    };
    RUN_BAD(cases);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { S3_OK "server:\n  workers: 2\n  workers: 3\n", "5:3", "server.workers: duplicate "
          "key (first at 4:3)" },
        { S3_OK "server: {}\nserver: {}\n", "4:1", "server: duplicate key (first at 3:1)" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: image/jpeg\n    .JPG: image/jpeg\n",
          "6:5", "uploads.allowed_types: duplicate extension \".jpg\" (first at 5:5)" },
        { S3_OK "server:\n  listen: [\"127.0.0.1:80\", \"127.0.0.1:080\"]\n", "4:28",
          "server.listen: \"127.0.0.1:080\" is listed twice" },
    };
    RUN_BAD(cases);
}

static void test_missing_bucket(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { "server:\n  workers: 2\n", "1:1", "s3.bucket: required key is missing (there is "
          "no s3 section)" },
        { "", "1:1", "s3.bucket: required key is missing" },
        { "# nothing but a comment\n", "1:1", "s3.bucket: required key is missing" },
        { "server: {}\ns3:\n  region: us-east-1\n", "2:1", "s3.bucket: required key is "
          "missing" },
        { "s3:\n  bucket: \"\"\n", "2:11", "s3.bucket: must not be empty" },
        { "s3:\n  bucket:\n", "2:3", "s3.bucket: must not be empty" },
    };
    RUN_BAD(cases);
}

/* ---- server.listen and workers */

static void test_listen(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK "server:\n  listen: 10.0.0.1:443\n");
    assert_int_equal(c->server.n_listen, 1);
    assert_string_equal(c->server.listen[0].text, "10.0.0.1:443");
    assert_string_equal(c->server.listen[0].host, "10.0.0.1");
    assert_string_equal(c->server.listen[0].port, "443");
    cfg_free(c);

    c = load_ok(S3_OK "server:\n  listen: \"[::1]:8000\"\n");
    assert_string_equal(c->server.listen[0].text, "[::1]:8000");
    assert_string_equal(c->server.listen[0].host, "::1");
    assert_string_equal(c->server.listen[0].port, "8000");
    cfg_free(c);

    c = load_ok(S3_OK "server:\n  listen:\n    - 127.0.0.1:8000\n    - \"[::1]:8000\"\n"
                "    - localhost:9000\n    - \"[fe80::1%lo]:65535\"\n    - 0.0.0.0:1\n");
    assert_int_equal(c->server.n_listen, 5);
    assert_string_equal(c->server.listen[0].host, "127.0.0.1");
    assert_string_equal(c->server.listen[1].host, "::1");
    assert_string_equal(c->server.listen[2].host, "localhost");
    assert_string_equal(c->server.listen[2].port, "9000");
    assert_string_equal(c->server.listen[3].host, "fe80::1%lo");
    assert_string_equal(c->server.listen[3].port, "65535");
    assert_string_equal(c->server.listen[4].port, "1");
    cfg_free(c);

    static const struct bad cases[] = {
        { S3_OK "server:\n  listen: 8000\n", "4:11", "\"8000\": missing host or port" },
        { S3_OK "server:\n  listen: \":8000\"\n", "4:11", "\":8000\": missing host" },
        { S3_OK "server:\n  listen: \"127.0.0.1:\"\n", "4:11", "missing port after ':'" },
        { S3_OK "server:\n  listen: 127.0.0.1:0\n", "4:11", "port must be a number from 1 "
          "to 65535" },
        { S3_OK "server:\n  listen: 127.0.0.1:65536\n", "4:11", "port must be a number" },
        { S3_OK "server:\n  listen: 127.0.0.1:http\n", "4:11", "port must be a number" },
        { S3_OK "server:\n  listen: 256.0.0.1:80\n", "4:11", "not a valid IPv4 address" },
        { S3_OK "server:\n  listen: 1.2.3:80\n", "4:11", "not a valid IPv4 address" },
        { S3_OK "server:\n  listen: \"::1:8000\"\n", "4:11", "an IPv6 address must be "
          "written in brackets" },
        { S3_OK "server:\n  listen: \"[::1:8000\"\n", "4:11", "missing ']'" },
        { S3_OK "server:\n  listen: \"[::g]:80\"\n", "4:11", "not a valid IPv6 address" },
        { S3_OK "server:\n  listen: \"[::1]8000\"\n", "4:11", "expected ':' and a port "
          "after ']'" },
        { S3_OK "server:\n  listen: \"[::1]\"\n", "4:11", "missing host or port" },
        { S3_OK "server:\n  listen: bad_host:80\n", "4:11", "host name has a character" },
        { S3_OK "server:\n  listen: -a.example:80\n", "4:11", "starts or ends with '-'" },
        { S3_OK "server:\n  listen: a..b:80\n", "4:11", "empty label" },
        { S3_OK "server:\n  listen: []\n", "4:11", "server.listen: the list must hold at "
          "least one address" },
        { S3_OK "server:\n  listen: [\"127.0.0.1:80\", 8080]\n", "4:28",
          "\"8080\": missing host or port" },
        { S3_OK "server:\n  listen: \"\"\n", "4:11", "server.listen: expected HOST:PORT, "
          "got \"\"" },
        { S3_OK "server:\n  metrics_listen: 127.0.0.1:8000\n", "4:3",
          "server.metrics_listen: 127.0.0.1:8000 is also in server.listen" },
        { S3_OK "server:\n  metrics_listen: 9100\n", "4:19", "server.metrics_listen: "
          "\"9100\": missing host or port" },
    };
    RUN_BAD(cases);
}

static void test_workers(void **state)
{
    (void)state;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct cfg *c = load_ok(S3_OK "server:\n  workers: auto\n");
    assert_true(c->server.workers_auto);
    assert_int_equal(c->server.workers, cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus);
    cfg_free(c);

    c = load_ok(S3_OK "server:\n  workers: \"auto\"\n");
    assert_true(c->server.workers_auto);
    cfg_free(c);

    c = load_ok(S3_OK "server:\n  workers: 1\n");
    assert_false(c->server.workers_auto);
    assert_int_equal(c->server.workers, 1);
    cfg_free(c);

    c = load_ok(S3_OK "server:\n  workers: 1024\n");
    assert_int_equal(c->server.workers, 1024);
    cfg_free(c);

    fails_once(S3_OK "server:\n  workers: Auto\n", "4:12", "got \"Auto\"");
}

/* ---- s3 */

static void test_s3_values(void **state)
{
    (void)state;
    struct cfg *c = load_ok("s3:\n  bucket: a.b-c\n  region: default\n"
                            "  endpoint: http://[::1]:7480\n"
                            "  public_endpoint: https://s3.example.com:8443/\n");
    assert_string_equal(c->s3.endpoint, "http://[::1]:7480");
    assert_string_equal(c->s3.public_endpoint, "https://s3.example.com:8443");
    assert_string_equal(c->s3.region, "default");
    cfg_free(c);

    static const struct bad cases[] = {
        { "s3:\n  bucket: ab\n", "2:11", "\"ab\": bucket name must be 3 to 63 characters" },
        { "s3:\n  bucket: MyBucket\n", "2:11", "bucket name must be lower-case" },
        { "s3:\n  bucket: my_bucket\n", "2:11", "may only hold lower-case letters" },
        { "s3:\n  bucket: -abc\n", "2:11", "must begin and end with a letter or digit" },
        { "s3:\n  bucket: abc.\n", "2:11", "must begin and end with a letter or digit" },
        { "s3:\n  bucket: a..b\n", "2:11", "must not contain \"..\"" },
        { "s3:\n  bucket: 192.168.1.1\n", "2:11", "must not look like an IP address" },
        { "s3:\n  bucket: xn--abc\n", "2:11", "must not start with \"xn--\"" },
        { "s3:\n  bucket: abc-s3alias\n", "2:11", "must not end with" },
        { "s3:\n  bucket: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
          "2:11", "3 to 63 characters" },
        { "s3:\n  bucket: abc\n  region: US-EAST-1\n", "3:11", "s3.region: expected a region "
          "name such as us-east-1" },
        { "s3:\n  bucket: abc\n  region: \"\"\n", "3:11", "s3.region: expected a region" },
        { "s3:\n  bucket: abc\n  endpoint: 127.0.0.1:7480\n", "3:13", "s3.endpoint: "
          "\"127.0.0.1:7480\": must start with http:// or https://" },
        { "s3:\n  bucket: abc\n  endpoint: http://127.0.0.1:7480/s3\n", "3:13",
          "must not have a path" },
        { "s3:\n  bucket: abc\n  endpoint: http://u:p@host\n", "3:13",
          "must not contain user information" },
        { "s3:\n  bucket: abc\n  endpoint: http://host:0\n", "3:13", "port must be" },
        { "s3:\n  bucket: abc\n  endpoint: http://\n", "3:13", "missing host" },
        { "s3:\n  bucket: abc\n  public_endpoint: https://a/?x=1\n", "3:20",
          "s3.public_endpoint: \"https://a/?x=1\": must not have a path" },
        { "s3:\n  bucket: abc\n  imds_endpoint: \"\"\n", "3:18", "s3.imds_endpoint: must "
          "not be empty" },
        { "s3:\n  bucket: abc\n  imds_endpoint: 169.254.169.254\n", "3:18",
          "must start with http://" },
    };
    RUN_BAD(cases);
}

static void test_credentials(void **state)
{
    (void)state;
    struct cfg *c = load_ok("s3:\n  bucket: abc\n  access_key_id: AK\n"
                            "  secret_access_key: SK\n");
    assert_string_equal(c->s3.access_key_id, "AK");
    assert_null(c->s3.session_token);
    cfg_free(c);

    static const struct bad cases[] = {
        { "s3:\n  bucket: abc\n  access_key_id: AK\n", "3:3", "s3.access_key_id is set but "
          "s3.secret_access_key is not" },
        { "s3:\n  bucket: abc\n  access_key_id: AK\n  secret_access_key: \"\"\n", "3:3",
          "s3.access_key_id is set but s3.secret_access_key is not" },
        { "s3:\n  bucket: abc\n  secret_access_key: SK\n", "3:3", "s3.secret_access_key is "
          "set but s3.access_key_id is not" },
        { "s3:\n  bucket: abc\n  session_token: TOK\n", "3:3", "s3.session_token: only "
          "allowed together with s3.access_key_id and s3.secret_access_key" },
    };
    RUN_BAD(cases);

    /* A bad secret is reported without echoing it. */
    struct cfg_errors e;
    c = load("s3:\n  bucket: abc\n  access_key_id: AK\n"
             "  secret_access_key: \"sup3r\\tsecret\"\n", &e);
    assert_null(c);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.lines[0], NAME ":4:22: s3.secret_access_key: must not contain "
                        "control characters");
    cfg_errors_free(&e);
}

/* ---- uploads */

static void test_prefix(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK "uploads:\n  prefix: incoming\n");
    assert_string_equal(c->uploads.prefix, "incoming"); /* no trailing '/' is accepted */
    cfg_free(c);
    c = load_ok(S3_OK "uploads:\n  prefix: \"a/b.c/d\xc3\xa9/\"\n");
    assert_string_equal(c->uploads.prefix, "a/b.c/d\xc3\xa9/");
    cfg_free(c);

    static const struct bad cases[] = {
        { S3_OK "uploads:\n  prefix: \"\"\n", "4:11", "uploads.prefix: \"\" must not be empty" },
        { S3_OK "uploads:\n  prefix:\n", "4:3", "uploads.prefix: must not be empty" },
        { S3_OK "uploads:\n  prefix: /uploads/\n", "4:11", "must not start with '/'" },
        { S3_OK "uploads:\n  prefix: a/../b/\n", "4:11", "must not contain a \".\" or "
          "\"..\" segment" },
        { S3_OK "uploads:\n  prefix: ../\n", "4:11", "\"..\" segment" },
        { S3_OK "uploads:\n  prefix: a/./\n", "4:11", "\"..\" segment" },
        { S3_OK "uploads:\n  prefix: a//b/\n", "4:11", "must not contain an empty segment" },
        { S3_OK "uploads:\n  prefix: \"a\\\\b/\"\n", "4:11", "must not contain '\\'" },
        { S3_OK "uploads:\n  prefix: \"a\\nb/\"\n", "4:11", "uploads.prefix: must not contain "
          "control characters" },
        { S3_OK "uploads:\n  prefix: [a]\n", "4:11", "expected a string, got a list" },
        { S3_OK "uploads:\n  max_filename_bytes: 986\n  prefix: "
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/\n",
          "4:3", "uploads: prefix (81 bytes) + 37 + max_filename_bytes (986) exceeds S3's "
          "1024-byte key limit" },
    };
    RUN_BAD(cases);
}

static void test_allowed_types(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK "uploads:\n  allowed_types:\n    .JPG: image/jpeg\n"
                            "    .Mp3: audio/mpeg\n    .svg: image/svg+xml\n");
    assert_int_equal(c->uploads.n_types, 3);
    assert_string_equal(c->uploads.types[0].ext, ".jpg");
    assert_string_equal(c->uploads.types[1].ext, ".mp3");
    assert_string_equal(c->uploads.types[2].type, "image/svg+xml");
    assert_null(cfg_type_for_filename(c, "a.pdf")); /* the defaults are replaced */
    assert_int_equal(c->uploads.types[0].n_aliases, 1);
    assert_string_equal(c->uploads.types[0].aliases[0], "image/jpeg");
    cfg_free(c);

    c = load_ok(S3_OK "uploads:\n  max_multipart_size: 5497558138880\n");
    assert_int_equal(cfg_multipart_limit(c), 5497558138880LL);
    cfg_free(c);

    /* A list: the first is the canonical type, the others aliases. */
    c = load_ok(S3_OK "uploads:\n  require_size: false\n  overwrite: true\n"
                "  allowed_types:\n    .zip: [application/zip, application/x-zip-compressed]\n"
                "    .csv:\n      - text/csv\n      - application/vnd.ms-excel\n");
    assert_false(c->uploads.require_size);
    assert_true(c->uploads.overwrite);
    assert_int_equal(cfg_multipart_limit(c), 52428800);
    assert_int_equal(c->uploads.n_types, 2);
    assert_string_equal(c->uploads.types[0].type, "application/zip");
    assert_int_equal(c->uploads.types[0].n_aliases, 2);
    assert_string_equal(c->uploads.types[0].aliases[1], "application/x-zip-compressed");
    assert_string_equal(c->uploads.types[1].type, "text/csv");
    assert_string_equal(c->uploads.types[1].aliases[1], "application/vnd.ms-excel");
    cfg_free(c);

    static const struct bad cases[] = {
        { S3_OK "uploads:\n  allowed_types:\n    jpg: image/jpeg\n", "5:5",
          "uploads.allowed_types: \"jpg\" is not an extension: expected '.' and 1 to 32 "
          "letters or digits, e.g. .jpg" },
        { S3_OK "uploads:\n  allowed_types:\n    \".\": image/jpeg\n", "5:5",
          "is not an extension" },
        { S3_OK "uploads:\n  allowed_types:\n    .tar.gz: application/gzip\n", "5:5",
          "\".tar.gz\" is not an extension" },
        { S3_OK "uploads:\n  allowed_types:\n    .j-p: image/jpeg\n", "5:5",
          "is not an extension" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: image\n", "5:11",
          "uploads.allowed_types: .jpg: expected a content type such as image/jpeg "
          "(type/subtype) or a list of them, got \"image\"" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: image/\n", "5:11", "got \"image/\"" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: /jpeg\n", "5:11", "got \"/jpeg\"" },
        { S3_OK "uploads:\n  allowed_types:\n    .txt: text/plain; charset=utf-8\n", "5:11",
          "expected a content type" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: image/jp/eg\n", "5:11",
          "expected a content type" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg:\n", "5:5",
          ".jpg: expected a content type such as image/jpeg (type/subtype) or a list of them, "
          "got nothing" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: []\n", "5:11", "got an empty list" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: [image/jpeg, jpeg]\n", "5:24",
          "got \"jpeg\"" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: [image/jpeg, [image/png]]\n", "5:24",
          "got a list" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: [image/jpeg, Image/JPEG]\n", "5:24",
          ".jpg: Image/JPEG is listed twice" },
        { S3_OK "uploads:\n  allowed_types:\n    .jpg: {a: b}\n", "5:11", "got a mapping" },
        { S3_OK "uploads:\n  max_multipart_size: 5497558138881\n", "4:23",
          "uploads.max_multipart_size: 5497558138881 is out of range" },
        { S3_OK "uploads:\n  max_multipart_size: -1\n", "4:23", "is out of range" },
        { S3_OK "uploads:\n  allowed_types: {}\n", "4:18", "uploads.allowed_types: must list "
          "at least one \".ext: type/subtype\"" },
        { S3_OK "uploads:\n  allowed_types:\n", "4:3", "uploads.allowed_types: expected a "
          "mapping" },
    };
    RUN_BAD(cases);
}

static void test_type_for_filename(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK "uploads:\n  allowed_types:\n    .jpg: image/jpeg\n"
                            "    .gz: application/gzip\n    .pdf: application/pdf\n");
    assert_string_equal(cfg_type_for_filename(c, "photo.jpg"), "image/jpeg");
    assert_string_equal(cfg_type_for_filename(c, "PHOTO.JPG"), "image/jpeg");
    assert_string_equal(cfg_type_for_filename(c, "a.b.JpG"), "image/jpeg");
    assert_string_equal(cfg_type_for_filename(c, "backup.tar.gz"), "application/gzip");
    assert_string_equal(cfg_type_for_filename(c, "dir.pdf/x.pdf"), "application/pdf");
    assert_string_equal(cfg_type_for_filename(c, "..a.pdf"), "application/pdf");
    assert_null(cfg_type_for_filename(c, "dir.pdf/readme"));
    assert_null(cfg_type_for_filename(c, "C:\\x.pdf\\readme"));
    assert_null(cfg_type_for_filename(c, "photo.jpeg"));
    assert_null(cfg_type_for_filename(c, "photo.jpg.exe"));
    assert_null(cfg_type_for_filename(c, "photo."));
    assert_null(cfg_type_for_filename(c, "jpg"));
    assert_null(cfg_type_for_filename(c, ".jpg")); /* a hidden file, no extension */
    assert_null(cfg_type_for_filename(c, ""));
    assert_null(cfg_type_for_filename(c, NULL));
    assert_null(cfg_type_for_filename(NULL, "a.jpg"));
    cfg_free(c);
}

/* ---- cors */

static void test_cors(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK "cors:\n  allow_origins:\n    - https://app.example.com\n"
                            "    - HTTP://LOCALHOST:80\n    - http://127.0.0.1:3000\n"
                            "    - \"https://[::1]:8443\"\n");
    assert_string_equal(c->cors.allow_origins[1], "http://localhost");
    assert_true(cfg_origin_allowed(c, "https://app.example.com"));
    assert_true(cfg_origin_allowed(c, "https://APP.example.com"));
    assert_true(cfg_origin_allowed(c, "http://localhost"));
    assert_true(cfg_origin_allowed(c, "http://127.0.0.1:3000"));
    assert_true(cfg_origin_allowed(c, "https://[::1]:8443"));
    assert_false(cfg_origin_allowed(c, "http://app.example.com"));
    assert_false(cfg_origin_allowed(c, "https://app.example.com.evil.test"));
    assert_false(cfg_origin_allowed(c, "https://evil.test"));
    assert_false(cfg_origin_allowed(c, "http://127.0.0.1:3001"));
    assert_false(cfg_origin_allowed(c, "null"));
    assert_false(cfg_origin_allowed(c, ""));
    assert_false(cfg_origin_allowed(c, NULL));
    cfg_free(c);

    c = load_ok(S3_OK "cors:\n  allow_origins: \"*\"\n");
    assert_true(cfg_origin_allowed(c, "https://anything.example"));
    assert_false(cfg_origin_allowed(c, NULL));
    cfg_free(c);

    c = load_ok(S3_OK "cors:\n  allow_origins: https://one.example\n");
    assert_int_equal(c->cors.n_allow_origins, 1);
    assert_true(cfg_origin_allowed(c, "https://one.example"));
    cfg_free(c);

    static const struct bad cases[] = {
        { S3_OK "cors:\n  allow_origins: [\"https://a.example/\"]\n", "4:19",
          "cors.allow_origins: \"https://a.example/\": an origin has no path: remove the "
          "trailing '/'" },
        { S3_OK "cors:\n  allow_origins: [\"https://a.example/app\"]\n", "4:19",
          "an origin has no path, query or fragment" },
        { S3_OK "cors:\n  allow_origins: [a.example]\n", "4:19", "must be \"*\" or "
          "scheme://host[:port]" },
        { S3_OK "cors:\n  allow_origins: [\"*.example.com\"]\n", "4:19", "must be \"*\"" },
        { S3_OK "cors:\n  allow_origins: [\"https://a_b.example\"]\n", "4:19",
          "host name has a character" },
        { S3_OK "cors:\n  allow_origins: [\"https://a.example:0\"]\n", "4:19", "port must be" },
        { S3_OK "cors:\n  allow_origins: [\"1http://a.example\"]\n", "4:19", "bad scheme" },
        { S3_OK "cors:\n  allow_origins: [\"\"]\n", "4:19", "expected \"*\" or an origin, "
          "got \"\"" },
        { S3_OK "cors:\n  allow_headers: [\"X Bad\"]\n", "4:19", "cors.allow_headers: "
          "\"X Bad\": not a valid header name" },
        { S3_OK "cors:\n  allow_headers: [Content-Type, \"a:b\"]\n", "4:33",
          "not a valid header name" },
    };
    RUN_BAD(cases);
}

/* ---- files on disk */

static void test_example_files(void **state)
{
    (void)state;
    const char *src = getenv("PRESIGND_SRCDIR");
    char path[4096];
    if (!src)
        src = ".";
    static const char *const files[] = { "etc/presignd.yaml", "etc/presignd.dev.yaml" };
    for (size_t i = 0; i < 2; i++) {
        struct cfg_errors e = { 0 };
        snprintf(path, sizeof(path), "%s/%s", src, files[i]);
        struct cfg *c = cfg_load(path, &e);
        if (!c) {
            print_message("%s does not load:\n", path);
            dump(&e);
        }
        assert_non_null(c);
        assert_int_equal(e.n, 0);
        assert_string_equal(c->path, path);
        if (i == 1) {
            assert_string_equal(c->s3.endpoint, "http://127.0.0.1:7480");
            assert_true(c->s3.path_style);
            assert_string_equal(c->s3.bucket, "presignd-dev");
            assert_string_equal(c->s3.access_key_id, "presignd-dev-key");
            assert_string_equal(c->s3.secret_access_key, "presignd-dev-secret");
            assert_string_equal(c->server.listen[0].text, "127.0.0.1:8000");
            assert_int_equal(c->server.workers, 2);
            assert_true(cfg_origin_allowed(c, "http://localhost:5173"));
            static const char *const exts[] = { "a.jpg", "a.jpeg", "a.png", "a.gif", "a.pdf",
                                                "a.txt", "a.csv", "a.json", "a.zip", "a.mp4" };
            for (size_t j = 0; j < sizeof(exts) / sizeof(exts[0]); j++)
                assert_non_null(cfg_type_for_filename(c, exts[j]));
        }
        cfg_free(c);
        cfg_errors_free(&e);
    }
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/presignd-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "s3:\n  bucket: abc\nserver:\n  workers: 0\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);

    struct cfg_errors e = { 0 };
    assert_null(cfg_load(path, &e));
    assert_int_equal(e.n, 1);
    char want[256];
    snprintf(want, sizeof(want), "%s:4:12: server.workers: 0 is out of range (1..1024)", path);
    assert_string_equal(e.lines[0], want);
    cfg_errors_free(&e);
    assert_int_equal(e.n, 0);
    assert_null(e.lines);

    unlink(path);
    assert_null(cfg_load(path, &e));
    assert_int_equal(e.n, 1);
    snprintf(want, sizeof(want), "%s:1:1: cannot open the configuration file: %s", path,
             strerror(ENOENT));
    assert_string_equal(e.lines[0], want);
    cfg_errors_free(&e);

    assert_null(cfg_load("/", &e));
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.lines[0], "/:1:1: cannot read the configuration file"));
    cfg_errors_free(&e);

    cfg_free(NULL);
    cfg_errors_free(NULL);
}

/* Each byte sequence of S is well-formed UTF-8. */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
              : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* Long values are cut in messages, between characters, and escaped. */
static void test_long_values_cut(void **state)
{
    (void)state;
    char text[1024];
    size_t o = (size_t)snprintf(text, sizeof(text), "s3:\n  bucket: abc\n  region: \"");
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "\xc3\xa9");
    snprintf(text + o, sizeof(text) - o, "\"\n");
    struct cfg_errors e;
    assert_null(load(text, &e));
    assert_int_equal(e.n, 1);
    size_t len = strlen(e.lines[0]);
    assert_true(len > 5 && strcmp(e.lines[0] + len - 4, "...\"") == 0);
    assert_true(utf8_ok(e.lines[0]));
    assert_true(len < 300);
    cfg_errors_free(&e);

    assert_null(load("s3:\n  bucket: abc\n  region: \"a\\tb\\\\c\\\"d\"\n", &e));
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.lines[0], "must not contain control characters"));
    cfg_errors_free(&e);

    assert_null(load("s3:\n  bucket: abc\n  region: \"a b\\\\c\\\"d\"\n", &e));
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.lines[0], "got \"a b\\\\c\\\"d\""));
    cfg_errors_free(&e);
}

/* Not NUL-terminated input: only LEN bytes are read. */
static void test_length_bounded(void **state)
{
    (void)state;
    static const char text[] = "s3:\n  bucket: abc\nserver: [garbage";
    struct cfg_errors e = { 0 };
    struct cfg *c = cfg_load_string("mem", text, strlen("s3:\n  bucket: abc\n"), &e);
    assert_non_null(c);
    assert_int_equal(e.n, 0);
    cfg_free(c);
}

/* ---- auth:, rate_limit:, audit: */

#define KEY_A "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"
#define KEY_B "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9"

static void test_auth_values(void **state)
{
    (void)state;
    struct cfg *c = load_ok(S3_OK
        "auth:\n"
        "  mode: api_key\n"
        "  api_keys:\n"
        "    - name: alice\n"
        "      sha256: \"" KEY_A "\"\n"
        "      prefix: alice/\n"
        "      permissions: [upload, download]\n"
        "    - name: bob@example.com\n"
        "      sha256: " KEY_B "\n"
        "      permissions: [list, delete]\n"
        "  jwt:\n"
        "    jwks_url: http://127.0.0.1:9/jwks\n"
        "    issuer: https://idp/\n"
        "    audience: presignd\n"
        "    prefix: \"users/{sub}/\"\n"
        "rate_limit:\n"
        "  requests_per_second: 0.5\n"
        "  burst: 3\n"
        "  trusted_proxies: [\"10.0.0.0/8\", \"2001:db8::/32\", 127.0.0.1]\n"
        "audit:\n"
        "  log_file: /var/log/presignd/audit.log\n");
    assert_int_equal(c->auth.mode, CFG_AUTH_API_KEY);
    assert_int_equal(c->auth.n_api_keys, 2);
    assert_string_equal(c->auth.api_keys[0].name, "alice");
    assert_int_equal(c->auth.api_keys[0].sha256[0], 0x2b);
    assert_int_equal(c->auth.api_keys[0].sha256[31], 0x90);
    assert_string_equal(c->auth.api_keys[0].prefix, "alice/");
    assert_int_equal(c->auth.api_keys[0].perms, CFG_PERM_UPLOAD | CFG_PERM_DOWNLOAD);
    assert_string_equal(c->auth.api_keys[1].prefix, "");
    assert_int_equal(c->auth.api_keys[1].perms, CFG_PERM_LIST | CFG_PERM_DELETE);
    /* The JWT section's defaults, under the keys given. */
    assert_int_equal(c->auth.jwt.leeway, 60);
    assert_int_equal(c->auth.jwt.algorithms, CFG_ALG_RS256 | CFG_ALG_ES256);
    assert_string_equal(c->auth.jwt.permissions_claim, "scope");
    assert_string_equal(c->auth.jwt.prefix, "users/{sub}/");
    assert_true(c->rate_limit.requests_per_second == 0.5);
    assert_int_equal(c->rate_limit.burst, 3);
    assert_int_equal(c->rate_limit.n_trusted_proxies, 3);
    assert_true(cfg_trusted_proxy(c, "10.200.3.4"));
    assert_true(cfg_trusted_proxy(c, "127.0.0.1"));
    assert_true(cfg_trusted_proxy(c, "2001:db8:1::5"));
    assert_false(cfg_trusted_proxy(c, "11.0.0.1"));
    assert_false(cfg_trusted_proxy(c, "127.0.0.2"));
    assert_false(cfg_trusted_proxy(c, "2001:db9::1"));
    assert_false(cfg_trusted_proxy(c, "nonsense"));
    assert_string_equal(c->audit.log_file, "/var/log/presignd/audit.log");
    cfg_free(c);

    /* Defaults: no auth, no rate limit, no audit log. */
    c = load_ok(S3_OK);
    assert_int_equal(c->auth.mode, CFG_AUTH_NONE);
    assert_true(c->rate_limit.requests_per_second == 0);
    assert_null(c->audit.log_file);
    cfg_free(c);
}

static void test_auth_errors(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { S3_OK "auth:\n  mode: oauth\n", "4:9", "auth.mode: expected none, api_key or jwt" },
        { S3_OK "auth:\n  mode: api_key\n", "4:3", "api_key needs at least one entry" },
        { S3_OK "auth:\n  mode: jwt\n  jwt:\n    issuer: x\n    audience: y\n", "5:3",
          "auth.jwt.jwks_url: required when auth.mode is jwt" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: abc\n"
          "      permissions: [upload]\n", "6:15", "auth.api_keys[0].sha256: expected the "
          "SHA-256 of the key as 64 hex digits" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n"
          "      permissions: [upload, fly]\n", "7:29",
          "auth.api_keys[0].permissions: \"fly\" is not one of" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n", "5:7",
          "auth.api_keys[0].permissions: required key is missing" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n"
          "      prefix: a\n      permissions: [list]\n", "7:15", "must end with '/'" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n"
          "      prefix: a/../\n      permissions: [list]\n", "7:15", "\"..\" segment" },
        { S3_OK "auth:\n  api_keys:\n    - name: a b\n      sha256: " KEY_A "\n"
          "      permissions: [list]\n", "5:13", "may only hold letters" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n"
          "      permissions: [list]\n    - name: a\n      sha256: " KEY_B "\n"
          "      permissions: [list]\n", "8:7", "the name a is used twice" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n"
          "      permissions: [list]\n    - name: b\n      sha256: " KEY_A "\n"
          "      permissions: [list]\n", "8:7", "the same key (sha256) as a" },
        { S3_OK "auth:\n  api_keys:\n    - name: a\n      sha256: " KEY_A "\n"
          "      permissions: [list]\n      colour: red\n", "8:7",
          "auth.api_keys[0].colour: unknown key" },
        { S3_OK "auth:\n  jwt:\n    jwks_url: http://idp.example.com/jwks\n", "5:15",
          "must be https:// (http:// only to a loopback address)" },
        { S3_OK "auth:\n  jwt:\n    prefix: \"users/{sub/\"\n", "5:13",
          "has a '{' without its '}'" },
        { S3_OK "auth:\n  jwt:\n    prefix: \"users/{a-b}/\"\n", "5:13",
          "not a simple name" },
        { S3_OK "auth:\n  jwt:\n    prefix: \"{sub}\"\n", "5:13", "must end with '/'" },
        { S3_OK "auth:\n  jwt:\n    algorithms: [HS256]\n", "5:18",
          "\"HS256\" is not one of RS256, ES256" },
        { S3_OK "auth:\n  jwt:\n    algorithms: []\n", "5:17",
          "at least one algorithm is needed" },
        { S3_OK "auth:\n  jwt:\n    permissions_claim: \"a b\"\n", "5:24",
          "not a simple claim name" },
        { S3_OK "auth:\n  jwt:\n    leeway: 7200\n", "5:13", "out of range (0..3600)" },
        { S3_OK "rate_limit:\n  requests_per_second: fast\n", "4:24",
          "expected a number of requests per second" },
        { S3_OK "rate_limit:\n  trusted_proxies: [\"1.2.3.4/40\"]\n", "4:21",
          "the prefix length is too long" },
        { S3_OK "rate_limit:\n  trusted_proxies: [x]\n", "4:21", "not an IPv4 or IPv6" },
        { S3_OK "rate_limit:\n  burst: 0\n", "4:10", "out of range" },
        { S3_OK "audit:\n  file: x\n", "4:3", "audit.file: unknown key" },
    };
    RUN_BAD(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_auth_values),
        cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_empty_sections),
        cmocka_unit_test(test_unknown_key_and_workers_zero),
        cmocka_unit_test(test_many_errors_together),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_missing_bucket),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_s3_values),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_allowed_types),
        cmocka_unit_test(test_type_for_filename),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_example_files),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_long_values_cut),
        cmocka_unit_test(test_length_bounded),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
