/*
 * test_route.c - unit tests of daemon/route.c and its agreement with the
 * OpenAPI document: every route of the table (and its methods and body
 * fields) is described in daemon/openapi.json, and every path of the
 * document is a route; the router matches literal and {param} segments;
 * the documentation routes go with server.docs; the derived Allow
 * strings, labels and endpoint list.
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

#include "assets.h"
#include "config.h"
#include "openapi.h"
#include "route.h"

static struct json_object *load_openapi(const struct cfg *cfg)
{
    size_t len = 0;
    char *text = cfg ? openapi_build(cfg, "test", &len) : strdup(asset_openapi_json);
    assert_non_null(text);
    struct json_object *doc = json_tokener_parse(text);
    free(text);
    assert_non_null(doc);
    return doc;
}

static const char *const methods[] = { "get", "post", "put", "delete" };
static const unsigned method_bits[] = { ROUTE_GET, ROUTE_POST, ROUTE_PUT, ROUTE_DELETE };

static const struct route *route_by_label(const char *label)
{
    for (unsigned i = 0; i < route_count(); i++)
        if (strcmp(route_table()[i].label, label) == 0)
            return &route_table()[i];
    return NULL;
}

/* The schema object a $ref or inline schema names. */
static struct json_object *schema_of(struct json_object *doc, struct json_object *schema)
{
    struct json_object *ref, *components, *schemas, *s;
    if (!json_object_object_get_ex(schema, "$ref", &ref))
        return schema;
    const char *name = strrchr(json_object_get_string(ref), '/') + 1;
    assert_true(json_object_object_get_ex(doc, "components", &components));
    assert_true(json_object_object_get_ex(components, "schemas", &schemas));
    assert_true(json_object_object_get_ex(schemas, name, &s));
    return s;
}

/* The properties of the JSON request body of OP, or NULL when it has none. */
static struct json_object *body_properties(struct json_object *doc, struct json_object *op)
{
    struct json_object *rb, *content, *json, *schema, *props;
    if (!json_object_object_get_ex(op, "requestBody", &rb))
        return NULL;
    assert_true(json_object_object_get_ex(rb, "content", &content));
    assert_true(json_object_object_get_ex(content, "application/json", &json));
    assert_true(json_object_object_get_ex(json, "schema", &schema));
    assert_true(json_object_object_get_ex(schema_of(doc, schema), "properties", &props));
    return props;
}

static void test_openapi_matches_route_table(void **state)
{
    (void)state;
    struct json_object *doc = load_openapi(NULL), *paths;
    assert_true(json_object_object_get_ex(doc, "paths", &paths));

    /* Every route, with every method but HEAD, is in the document... */
    for (unsigned i = 0; i < route_count(); i++) {
        const struct route *rt = &route_table()[i];
        struct json_object *item;
        if (!json_object_object_get_ex(paths, rt->label, &item))
            fail_msg("route %s is not in daemon/openapi.json", rt->label);
        for (size_t m = 0; m < 4; m++) {
            struct json_object *op = NULL;
            bool documented = json_object_object_get_ex(item, methods[m], &op);
            if (documented != !!(rt->methods & method_bits[m]))
                fail_msg("%s %s: route table says %s, openapi.json says %s", methods[m],
                         rt->label, (rt->methods & method_bits[m]) ? "yes" : "no",
                         documented ? "yes" : "no");
            if (!documented)
                continue;
            /* ...with exactly the body fields the route accepts. */
            struct json_object *props = body_properties(doc, op);
            size_t n_fields = 0;
            for (const char *const *f = rt->fields; f && *f; f++, n_fields++)
                if (!props || !json_object_object_get_ex(props, *f, NULL))
                    fail_msg("%s %s: field %s is not in its OpenAPI request body",
                             methods[m], rt->label, *f);
            if ((size_t)(props ? json_object_object_length(props) : 0) != n_fields)
                fail_msg("%s %s: the OpenAPI request body has other fields than the route",
                         methods[m], rt->label);
            /* ...with the answers of the pipeline's checks: a route that
             * needs a permission can be refused 401, 403 and 429, a public
             * one needs no credentials at all. */
            struct json_object *responses = NULL, *security = NULL;
            assert_true(json_object_object_get_ex(op, "responses", &responses));
            bool is_public = json_object_object_get_ex(op, "security", &security) &&
                             json_object_array_length(security) == 0;
            if (is_public != !!(rt->flags & ROUTE_PUBLIC))
                fail_msg("%s %s: public in the route table: %s, \"security\": [] in "
                         "openapi.json: %s", methods[m], rt->label,
                         (rt->flags & ROUTE_PUBLIC) ? "yes" : "no", is_public ? "yes" : "no");
            static const char *const guarded[] = { "401", "403", "429" };
            for (size_t k = 0; rt->perm && k < 3; k++)
                if (!json_object_object_get_ex(responses, guarded[k], NULL))
                    fail_msg("%s %s: needs a permission but documents no %s",
                             methods[m], rt->label, guarded[k]);
        }
    }
    /* ...and every path of the document is a route. */
    json_object_object_foreach(paths, path, item) {
        (void)item;
        if (!route_by_label(path))
            fail_msg("openapi.json path %s is no route", path);
    }
    json_object_put(doc);
}

static void test_metrics_path_follows_metrics_listen(void **state)
{
    (void)state;
    struct cfg_errors e = { 0 };
    const char *base = "s3:\n  bucket: b-bucket\n";
    const char *split = "s3:\n  bucket: b-bucket\nserver:\n  metrics_listen: 127.0.0.1:9464\n";
    struct cfg *c1 = cfg_load_string("t", base, strlen(base), &e);
    struct cfg *c2 = cfg_load_string("t", split, strlen(split), &e);
    assert_non_null(c1);
    assert_non_null(c2);
    struct json_object *d1 = load_openapi(c1), *d2 = load_openapi(c2), *p1, *p2;
    assert_true(json_object_object_get_ex(d1, "paths", &p1));
    assert_true(json_object_object_get_ex(d2, "paths", &p2));
    assert_true(json_object_object_get_ex(p1, "/metrics", NULL));
    assert_false(json_object_object_get_ex(p2, "/metrics", NULL));
    json_object_put(d1);
    json_object_put(d2);
    cfg_free(c1);
    cfg_free(c2);
}

static void test_router(void **state)
{
    (void)state;
    struct route_match m;
    size_t len;

    route_match("/upload-url", false, false, true, &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->label, "/upload-url");
    assert_int_equal(m.n_params, 0);

    route_match("/files/uploads/a/b c.pdf", false, false, true, &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->label, "/files/{file_key}");
    const char *v = route_param(&m, "file_key", &len);
    assert_non_null(v);
    assert_int_equal(len, strlen("uploads/a/b c.pdf"));
    assert_memory_equal(v, "uploads/a/b c.pdf", len);
    assert_null(route_param(&m, "file", &len));

    /* Empty parameters and unknown paths match nothing. */
    route_match("/files/", false, false, true, &m);
    assert_null(m.route);
    assert_int_equal(m.index, route_count());
    route_match("/upload-url/", false, false, true, &m);
    assert_null(m.route);
    route_match("/nope", false, false, true, &m);
    assert_null(m.route);

    /* /metrics: on the main sockets unless it has its own; only it there. */
    route_match("/metrics", false, false, true, &m);
    assert_non_null(m.route);
    route_match("/metrics", false, true, true, &m);
    assert_null(m.route);
    route_match("/metrics", true, true, true, &m);
    assert_non_null(m.route);
    route_match("/health", true, true, true, &m);
    assert_null(m.route);
}

/* server.docs (default true) and the routes it removes: the document, both
 * pages and their files, which are public like the rest of the docs. */
static void test_docs_routes_follow_server_docs(void **state)
{
    (void)state;
    struct cfg_errors e = { 0 };
    const char *on = "s3:\n  bucket: b-bucket\n";
    const char *off = "s3:\n  bucket: b-bucket\nserver:\n  docs: false\n";
    struct cfg *c_on = cfg_load_string("t", on, strlen(on), &e);
    struct cfg *c_off = cfg_load_string("t", off, strlen(off), &e);
    assert_non_null(c_on);
    assert_non_null(c_off);
    assert_true(c_on->server.docs);
    assert_false(c_off->server.docs);
    cfg_free(c_on);
    cfg_free(c_off);

    static const char *const docs[] = {
        "/openapi.json", "/docs", "/redoc", "/docs/assets/0123456789abcdef/docs.js",
    };
    struct route_match m;
    size_t len;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        route_match(docs[i], false, false, true, &m);
        assert_non_null(m.route);
        assert_true(m.route->flags & ROUTE_DOCS);
        assert_true(m.route->flags & ROUTE_PUBLIC);
        route_match(docs[i], false, false, false, &m);
        assert_null(m.route);
        assert_int_equal(m.index, route_count());
    }
    route_match("/docs/assets/0123456789abcdef/docs.js", false, false, true, &m);
    assert_string_equal(m.route->label, "/docs/assets/{hash}/{name}");
    const char *v = route_param(&m, "name", &len);
    assert_int_equal(len, 7);
    assert_memory_equal(v, "docs.js", len);
    v = route_param(&m, "hash", &len);
    assert_int_equal(len, 16);
    /* Files are no endpoints; a file path is one segment. */
    route_match("/docs/assets/0123456789abcdef/a/b.js", false, false, true, &m);
    assert_null(m.route);
    route_match("/docs/assets/0123456789abcdef", false, false, true, &m);
    assert_null(m.route);
    /* The rest of the API does not depend on it. */
    route_match("/upload-url", false, false, false, &m);
    assert_non_null(m.route);
    route_match("/metrics", false, false, false, &m);
    assert_non_null(m.route);
    for (unsigned i = 0; i < route_count(); i++)
        if (route_table()[i].flags & ROUTE_DOCS)
            assert_true(route_table()[i].flags & ROUTE_PUBLIC);
}

static void test_derived_strings(void **state)
{
    (void)state;
    struct route_match m;
    size_t n;

    route_match("/health", false, false, true, &m);
    assert_string_equal(m.route->allow, "GET, HEAD, OPTIONS");
    route_match("/files/x", false, false, true, &m);
    assert_string_equal(m.route->allow, "DELETE, OPTIONS");
    assert_string_equal(route_labels()[route_count()], "other");
    const struct route_endpoint *eps = route_endpoints(&n);
    bool upload = false, root = false, head = false;
    for (size_t i = 0; i < n; i++) {
        upload |= strcmp(eps[i].text, "POST /upload-url") == 0;
        root |= strcmp(eps[i].text, "GET /") == 0;
        head |= strncmp(eps[i].text, "HEAD ", 5) == 0;
        assert_string_equal(strchr(eps[i].text, ' ') + 1, route_table()[eps[i].index].label);
    }
    assert_true(upload);
    assert_false(root);     /* GET / does not list itself */
    assert_false(head);
}

int main(void)
{
    route_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_matches_route_table),
        cmocka_unit_test(test_metrics_path_follows_metrics_listen),
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_docs_routes_follow_server_docs),
        cmocka_unit_test(test_derived_strings),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
