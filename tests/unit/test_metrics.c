/*
 * test_metrics.c - unit tests of common/metrics.c: the exposition text after
 * updates, cumulative histogram buckets, label escaping, gauges, and counts
 * added from several forked processes through the shared mapping.
 *
 * metrics.c is compiled into this file (rather than taken from the library)
 * with a build version that holds the characters the text format must
 * escape, so the escaping is checked on real output; the linker then never
 * pulls the library's copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#undef PRESIGND_VERSION
#define PRESIGND_VERSION "1.0\"q\\b\nn"
#include "../../common/metrics.c"

#include <ctype.h>
#include <sys/wait.h>
#include <unistd.h>

/* Route and S3 operation indexes as the daemon's tables would give them. */
enum { R_ROOT, R_UPLOAD, R_DOWNLOAD, R_FILES, R_FILE, R_HEALTH, R_METRICS, R_OPENAPI, R_DOCS,
       R_OTHER, R_COUNT };
static const char *const test_routes[R_COUNT] = {
    "/", "/upload-url", "/download-url", "/files", "/files/{file_key}", "/health",
    "/metrics", "/openapi.json", "/docs", "other",
};
enum { OP_HEAD_OBJECT, OP_HEAD_BUCKET, OP_LIST_OBJECTS, OP_DELETE_OBJECT, OP_IMDS, OP_COUNT };
static const char *const test_ops[OP_COUNT] = {
    "head_object", "head_bucket", "list_objects", "delete_object", "imds",
};

/* The value of the sample line that starts with exactly PREFIX followed by
 * a space, or -1 when there is no such line. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; ) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ') {
            const char *v = p + n + 1;
            if (strncmp(v, "+Inf", 4) == 0)
                return INFINITY;
            return strtod(v, NULL);
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

static char *render(void)
{
    size_t len = 0;
    char *t = metrics_render(&len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    assert_true(len > 0 && t[len - 1] == '\n');
    return t;
}

/* Each sample line must belong to a family announced by # HELP and # TYPE
 * before it; names and label syntax as the 0.0.4 text format says. */
static void check_syntax(const char *text)
{
    char family_name[128] = "";
    char type[16] = "";
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        char line[1024];
        size_t n = (size_t)(eol - p);
        assert_true(n < sizeof(line));
        memcpy(line, p, n);
        line[n] = '\0';
        p = eol + 1;

        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", family_name), 1);
            type[0] = '\0';
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128];
            assert_int_equal(sscanf(line + 7, "%127s %15s", name, type), 2);
            assert_string_equal(name, family_name);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0
                        || strcmp(type, "histogram") == 0);
            continue;
        }
        assert_true(line[0] != '#');
        assert_true(type[0] != '\0');

        /* metric name */
        const char *c = line;
        assert_true(isalpha((unsigned char)*c) || *c == '_' || *c == ':');
        while (isalnum((unsigned char)*c) || *c == '_' || *c == ':')
            c++;
        size_t nl = (size_t)(c - line);
        size_t fl = strlen(family_name);
        assert_true(nl >= fl && strncmp(line, family_name, fl) == 0);
        if (strcmp(type, "histogram") == 0) {
            const char *suffix = line + fl;
            size_t sl = nl - fl;
            assert_true((sl == 7 && strncmp(suffix, "_bucket", 7) == 0)
                        || (sl == 4 && strncmp(suffix, "_sum", 4) == 0)
                        || (sl == 6 && strncmp(suffix, "_count", 6) == 0));
        } else {
            assert_int_equal(nl, fl);
        }
        /* labels */
        if (*c == '{') {
            c++;
            while (*c != '}') {
                assert_true(isalpha((unsigned char)*c) || *c == '_');
                while (isalnum((unsigned char)*c) || *c == '_')
                    c++;
                assert_int_equal(*c, '=');
                c++;
                assert_int_equal(*c, '"');
                c++;
                while (*c != '"') {
                    assert_true(*c != '\0' && *c != '\n');
                    if (*c == '\\') {
                        c++;
                        assert_true(*c == '\\' || *c == '"' || *c == 'n');
                    }
                    c++;
                }
                c++;
                if (*c == ',')
                    c++;
                else
                    assert_int_equal(*c, '}');
            }
            c++;
        }
        assert_int_equal(*c, ' ');
        c++;
        if (strcmp(c, "+Inf") != 0) {
            char *end;
            strtod(c, &end);
            assert_true(end != c && *end == '\0');
        }
    }
}

static int reset(void **state)
{
    (void)state;
    memset(M, 0, sizeof(*M));
    metrics_label_routes(test_routes, R_COUNT);
    metrics_label_s3_ops(test_ops, OP_COUNT);
    metrics_set_slot(0);
    return 0;
}

static void test_families_always_present(void **state)
{
    (void)state;
    char *t = render();
    check_syntax(t);
    const char *families[] = {
        "presignd_http_requests_total counter",
        "presignd_http_request_duration_seconds histogram",
        "presignd_s3_requests_total counter",
        "presignd_s3_request_duration_seconds histogram",
        "presignd_s3_retries_total counter",
        "presignd_presigned_urls_total counter",
        "presignd_reloads_total counter",
        "presignd_worker_restarts_total counter",
        "presignd_credentials_expiry_seconds gauge",
        "presignd_workers gauge",
        "presignd_generation gauge",
        "presignd_build_info gauge",
        "presignd_start_time_seconds gauge",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char want[160];
        snprintf(want, sizeof(want), "# TYPE %s\n", families[i]);
        assert_non_null(strstr(t, want));
    }
    /* No request yet: no request samples, no zero label combinations. */
    assert_null(strstr(t, "presignd_http_requests_total{"));
    assert_null(strstr(t, "presignd_http_request_duration_seconds_bucket"));
    assert_float_equal(sample(t, "presignd_reloads_total{result=\"ok\"}"), 0, 0);
    assert_float_equal(sample(t, "presignd_reloads_total{result=\"failed\"}"), 0, 0);
    assert_float_equal(sample(t, "presignd_worker_restarts_total"), 0, 0);
    free(t);
}

static void test_http_requests(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        metrics_http_request(R_UPLOAD, "POST", 200, 0.002);
    metrics_http_request(R_UPLOAD, "POST", 400, 0.001);
    metrics_http_request(R_FILE, "DELETE", 200, 0.01);
    metrics_http_request(R_OTHER, "BREW", 418, 0.0);
    metrics_http_request(R_OTHER, NULL, 999, 0.0);
    metrics_http_request(R_OTHER, "GET", 404, 0.0);
    metrics_http_request(1234, "GET", 404, 0.0);     /* no such route: not counted */
    metrics_http_request(R_HEALTH, "GET", 503, 0.0);

    char *t = render();
    check_syntax(t);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"/upload-url\",method=\"POST\",status=\"200\"}"), 5, 0);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"/upload-url\",method=\"POST\",status=\"400\"}"), 1, 0);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"/files/{file_key}\",method=\"DELETE\",status=\"200\"}"), 1, 0);
    /* An unknown method and status never become label values of their own. */
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"other\",method=\"OTHER\",status=\"4xx\"}"), 1, 0);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"other\",method=\"OTHER\",status=\"other\"}"), 1, 0);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"}"), 1, 0);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"/health\",method=\"GET\",status=\"503\"}"), 1, 0);
    assert_null(strstr(t, "BREW"));
    assert_null(strstr(t, "418"));
    /* Only the combinations seen. */
    assert_null(strstr(t, "method=\"PUT\""));
    assert_float_equal(sample(t,
        "presignd_http_request_duration_seconds_count{route=\"/upload-url\"}"), 6, 0);
    assert_float_equal(sample(t,
        "presignd_http_request_duration_seconds_sum{route=\"/upload-url\"}"), 0.011, 1e-9);
    assert_null(strstr(t, "presignd_http_request_duration_seconds_count{route=\"/docs\"}"));
    free(t);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    /* 1 ms exactly is inside le="0.001" (le is inclusive). */
    double obs[] = { 0.0005, 0.001, 0.0011, 0.003, 0.2, 9.99, 20.0, -1.0 };
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metrics_http_request(R_DOWNLOAD, "POST", 200, obs[i]);

    char *t = render();
    check_syntax(t);
    struct { const char *le; double want; } expect[] = {
        { "0.001", 3 },   /* 0.0005, 0.001, -1 (counted as 0) */
        { "0.0025", 4 }, { "0.005", 5 }, { "0.01", 5 }, { "0.025", 5 },
        { "0.05", 5 }, { "0.1", 5 }, { "0.25", 6 }, { "0.5", 6 }, { "1", 6 },
        { "2.5", 6 }, { "5", 6 }, { "10", 7 }, { "+Inf", 8 },
    };
    double prev = 0;
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        char key[200];
        snprintf(key, sizeof(key),
                 "presignd_http_request_duration_seconds_bucket{route=\"/download-url\",le=\"%s\"}",
                 expect[i].le);
        double v = sample(t, key);
        assert_float_equal(v, expect[i].want, 0);
        assert_true(v >= prev);
        prev = v;
    }
    assert_float_equal(sample(t,
        "presignd_http_request_duration_seconds_count{route=\"/download-url\"}"), 8, 0);
    assert_float_equal(sample(t,
        "presignd_http_request_duration_seconds_sum{route=\"/download-url\"}"),
        0.0005 + 0.001 + 0.0011 + 0.003 + 0.2 + 9.99 + 20.0, 1e-6);
    free(t);

    /* S3 histogram: its own bucket set, up to 30 s. */
    metrics_s3_call(OP_HEAD_OBJECT, METRICS_S3_OK, 0.02);
    metrics_s3_call(OP_HEAD_OBJECT, METRICS_S3_NOT_FOUND, 0.004);
    metrics_s3_call(OP_HEAD_OBJECT, METRICS_S3_UNREACHABLE, 25.0);
    metrics_s3_call(OP_HEAD_OBJECT, METRICS_S3_UNREACHABLE, 31.0);
    t = render();
    check_syntax(t);
    const char *h = "presignd_s3_request_duration_seconds_bucket{operation=\"head_object\",le=";
    char key[200];
    snprintf(key, sizeof(key), "%s\"0.005\"}", h);
    assert_float_equal(sample(t, key), 1, 0);
    snprintf(key, sizeof(key), "%s\"0.025\"}", h);
    assert_float_equal(sample(t, key), 2, 0);
    snprintf(key, sizeof(key), "%s\"30\"}", h);
    assert_float_equal(sample(t, key), 3, 0);
    snprintf(key, sizeof(key), "%s\"+Inf\"}", h);
    assert_float_equal(sample(t, key), 4, 0);
    assert_float_equal(sample(t,
        "presignd_s3_requests_total{operation=\"head_object\",outcome=\"unreachable\"}"), 2, 0);
    assert_float_equal(sample(t,
        "presignd_s3_requests_total{operation=\"head_object\",outcome=\"ok\"}"), 1, 0);
    assert_null(strstr(t, "operation=\"imds\",outcome"));
    free(t);
}

static void test_labels_escaped(void **state)
{
    (void)state;
    char *t = render();
    check_syntax(t);
    /* The build version holds a quote, a backslash and a newline. */
    assert_non_null(strstr(t, "presignd_build_info{version=\"1.0\\\"q\\\\b\\nn\"} 1\n"));

    char small[4];
    struct buf b;
    buf_init(&b, small, sizeof small);
    buf_label(&b, "a\"b\\c\nd/e{f}");
    assert_false(buf_failed(&b));
    assert_string_equal(b.p, "a\\\"b\\\\c\\nd/e{f}");
    buf_free(&b);
    free(t);
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    metrics_presign(METRICS_PRESIGN_UPLOAD);
    metrics_presign(METRICS_PRESIGN_DOWNLOAD);
    metrics_presign((enum metrics_presign_kind)7);
    metrics_reload(true);
    metrics_reload(false);
    metrics_reload(false);
    metrics_worker_restart();
    metrics_s3_retry(OP_LIST_OBJECTS);
    metrics_s3_retry(OP_LIST_OBJECTS);
    metrics_set_workers(3);
    metrics_set_generation(42);
    metrics_http_in_flight(1);
    metrics_http_in_flight(1);
    metrics_http_in_flight(-1);

    char *t = render();
    check_syntax(t);
    assert_float_equal(sample(t, "presignd_presigned_urls_total{kind=\"upload\"}"), 2, 0);
    assert_float_equal(sample(t, "presignd_presigned_urls_total{kind=\"download\"}"), 1, 0);
    assert_float_equal(sample(t, "presignd_reloads_total{result=\"ok\"}"), 1, 0);
    assert_float_equal(sample(t, "presignd_reloads_total{result=\"failed\"}"), 2, 0);
    assert_float_equal(sample(t, "presignd_worker_restarts_total"), 1, 0);
    assert_float_equal(sample(t, "presignd_s3_retries_total{operation=\"list_objects\"}"), 2, 0);
    assert_float_equal(sample(t, "presignd_s3_retries_total{operation=\"head_object\"}"), 0, 0);
    assert_float_equal(sample(t, "presignd_workers"), 3, 0);
    assert_float_equal(sample(t, "presignd_generation"), 42, 0);
    assert_float_equal(sample(t, "presignd_http_requests_in_flight"), 1, 0);
    free(t);
}

/* The in-flight gauge is a sum of per-worker slots; a dead worker's slot is
 * cleared by the master, so its requests do not stay counted. */
static void test_in_flight_slots(void **state)
{
    (void)state;
    metrics_set_slot(3);
    metrics_http_in_flight(1);
    metrics_http_in_flight(1);
    metrics_set_slot(5);
    metrics_http_in_flight(1);
    char *t = render();
    assert_float_equal(sample(t, "presignd_http_requests_in_flight"), 3, 0);
    free(t);
    metrics_clear_slot(3);          /* the worker of slot 3 was killed */
    t = render();
    assert_float_equal(sample(t, "presignd_http_requests_in_flight"), 1, 0);
    free(t);
    metrics_http_in_flight(-1);
    t = render();
    assert_float_equal(sample(t, "presignd_http_requests_in_flight"), 0, 0);
    free(t);
}

static void test_credentials_expiry(void **state)
{
    (void)state;
    const char *name = "presignd_credentials_expiry_seconds";
    char *t = render();
    assert_float_equal(sample(t, name), 0, 0);      /* none yet */
    free(t);

    metrics_set_credentials_expiry(-1);             /* static */
    t = render();
    check_syntax(t);
    assert_non_null(strstr(t, "\npresignd_credentials_expiry_seconds +Inf\n"));
    free(t);

    metrics_set_credentials_expiry((double)time(NULL) + 3600);
    t = render();
    double v = sample(t, name);
    assert_true(v > 3590 && v <= 3600);
    free(t);

    metrics_set_credentials_expiry((double)time(NULL) - 10);   /* expired */
    t = render();
    assert_float_equal(sample(t, name), 0, 0);
    free(t);

    metrics_set_credentials_expiry(0);
    t = render();
    assert_float_equal(sample(t, name), 0, 0);
    free(t);
}

/* The real deployment: the master maps, workers add, any process renders. */
static void test_counts_across_fork(void **state)
{
    (void)state;
    char err[128];
    metrics_http_request(R_ROOT, "GET", 200, 0.0);              /* before init */
    assert_int_equal(metrics_init(err, sizeof err), 0);
    assert_ptr_not_equal(M, &local_region);
    struct metrics_region *mapped = M;
    assert_int_equal(metrics_init(err, sizeof err), 0);         /* a reload: the same zone */
    assert_ptr_equal(M, mapped);

    enum { CHILDREN = 3, PER_CHILD = 20000 };
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            for (int i = 0; i < PER_CHILD; i++) {
                metrics_http_request(R_UPLOAD, "POST", 200, 0.003);
                metrics_presign(METRICS_PRESIGN_UPLOAD);
            }
            metrics_worker_restart();
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int st;
        assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    char *t = render();
    check_syntax(t);
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"/upload-url\",method=\"POST\",status=\"200\"}"),
        CHILDREN * PER_CHILD, 0);
    assert_float_equal(sample(t,
        "presignd_http_request_duration_seconds_count{route=\"/upload-url\"}"),
        CHILDREN * PER_CHILD, 0);
    assert_float_equal(sample(t,
        "presignd_http_request_duration_seconds_sum{route=\"/upload-url\"}"),
        CHILDREN * PER_CHILD * 0.003, 1e-6);
    assert_float_equal(sample(t, "presignd_presigned_urls_total{kind=\"upload\"}"),
                       CHILDREN * PER_CHILD, 0);
    assert_float_equal(sample(t, "presignd_worker_restarts_total"), CHILDREN, 0);
    /* Counted before the mapping existed: carried over, not lost. */
    assert_float_equal(sample(t,
        "presignd_http_requests_total{route=\"/\",method=\"GET\",status=\"200\"}"), 1, 0);
    /* The master's start time is set by metrics_init. */
    double st = sample(t, "presignd_start_time_seconds");
    assert_true(st > 1.6e9 && st <= (double)time(NULL));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_families_always_present, reset),
        cmocka_unit_test_setup(test_http_requests, reset),
        cmocka_unit_test_setup(test_histogram_cumulative, reset),
        cmocka_unit_test_setup(test_labels_escaped, reset),
        cmocka_unit_test_setup(test_counters_and_gauges, reset),
        cmocka_unit_test_setup(test_credentials_expiry, reset),
        cmocka_unit_test_setup(test_in_flight_slots, reset),
        /* last: it switches the module to the shared mapping */
        cmocka_unit_test_setup(test_counts_across_fork, reset),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
