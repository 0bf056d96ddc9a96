/*
 * s3cli.c - run one operation of presignd's S3 client (common/s3.h) against
 * the s3 section of a presignd config file and print the outcome as one JSON
 * object per line. The integration tests drive the client through it, on
 * its own event loop, exactly as a worker would.
 *
 *   s3cli -c FILE [-w SECONDS] [-W SECONDS] [-e SECONDS] [-l LENGTH] COMMAND
 *     head KEY | list [PREFIX [MAX [TOKEN]]] | delete KEY | head-bucket |
 *     presign PUT|GET KEY [CONTENT_TYPE] | credentials |
 *     cancel KEY      (three HEADs; one cancelled at once, one from the
 *                      first callback; then the client is freed from
 *                      inside a callback with more calls in flight)
 *     parallel N KEY  (N HEADs at once; total wall time)
 *     chain N KEY     (N HEADs one after another, each started from the
 *                      callback of the one before, when nothing else runs)
 *
 *   -w SECONDS  watch: before the command, run the loop that long and print
 *               {"event": "credentials", ...} whenever the expiry changes
 *   -W SECONDS  how long presign/credentials wait for pending credentials
 *               (default 10)
 *   -e SECONDS  presign expiry (default: presign.expires of the file)
 *   -l LENGTH   presign PUT: also sign this Content-Length
 *
 * Exit status: 0 when the command ran (whatever S3 answered), 2 on usage or
 * configuration errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json.h>

#include "clock.h"
#include "config.h"
#include "credprov.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "s3.h"

static struct event_base *base;
static struct s3_client *client;
static const char *command;
static char **args;
static int nargs;
static const struct cfg *config;
static long presign_expires = -1;
static long long presign_length = -1;
static double watch_seconds;
static double wait_seconds = 10;
static double watch_last = -2;
static struct timespec watch_t0;
static struct event *tick;

static const char *status_name(enum s3_status s)
{
    switch (s) {
    case S3_OK:             return "ok";
    case S3_NOT_FOUND:      return "not_found";
    case S3_ERROR:          return "error";
    case S3_UNREACHABLE:    return "unreachable";
    case S3_NO_CREDENTIALS: return "no_credentials";
    }
    return "?";
}

#define now_wall clock_wall
#define since clock_since

static double creds_expiry(void)
{
    return credprov_expiry(s3_credentials(client));
}

static bool creds_pending(void)
{
    return credprov_pending(s3_credentials(client));
}

static json_object *jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static void emit(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(stdout);
    json_object_put(o);
}

static json_object *result_json(const struct s3_result *r)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "status", json_object_new_string(status_name(r->status)));
    json_object_object_add(o, "http_status", json_object_new_int64(r->http_status));
    json_object_object_add(o, "code", jstr(r->code));
    json_object_object_add(o, "message", jstr(r->message));
    json_object_object_add(o, "attempts", json_object_new_int(r->attempts));
    json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
    json_object_object_add(o, "content_length", json_object_new_int64(r->content_length));
    json_object_object_add(o, "etag", jstr(r->etag));
    json_object_object_add(o, "last_modified", jstr(r->last_modified));
    json_object_object_add(o, "content_type", jstr(r->content_type));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < r->n_objects; i++) {
        const struct s3_object *ob = &r->objects[i];
        json_object *j = json_object_new_object();
        json_object_object_add(j, "key", jstr(ob->key));
        json_object_object_add(j, "size", json_object_new_int64(ob->size));
        json_object_object_add(j, "last_modified", jstr(ob->last_modified));
        json_object_object_add(j, "etag", jstr(ob->etag));
        json_object_array_add(arr, j);
    }
    json_object_object_add(o, "objects", arr);
    json_object_object_add(o, "truncated", json_object_new_boolean(r->truncated));
    json_object_object_add(o, "next_token", jstr(r->next_token));
    return o;
}

static void on_done(const struct s3_result *r, void *arg)
{
    json_object *o = result_json(r);

    (void)arg;
    /* Inside the callback the operation no longer counts as in flight. */
    json_object_object_add(o, "inflight", json_object_new_int64((int64_t)s3_inflight(client)));
    emit(o);
    event_base_loopbreak(base);
}

/* ---- cancel: three HEADs, two cancelled, then a free inside a callback */

static struct s3_op *cops[3];
static int cancel_calls[3];
static int cancel_phase;
static struct s3_op *fops[4];
static int free_calls;

static void on_free_done(const struct s3_result *r, void *arg)
{
    (void)r;
    (void)arg;
    free_calls++;
    /* Freeing the client here cancels the calls still in flight; their
     * callbacks must never run. */
    s3_client_free(client);
    client = NULL;
    event_base_loopbreak(base);
}

static void on_cancel_done(const struct s3_result *r, void *arg)
{
    int i = (int)(intptr_t)arg;

    cancel_calls[i]++;
    cops[i] = NULL;
    if (cancel_phase == 0) {
        /* The first callback cancels the other one still running. */
        for (int j = 0; j < 3; j++) {
            if (cops[j]) {
                s3_cancel(cops[j]);
                cops[j] = NULL;
            }
        }
        cancel_phase = 1;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "first", json_object_new_string(status_name(r->status)));
        json_object_object_add(o, "inflight_after_cancel",
                               json_object_new_int64((int64_t)s3_inflight(client)));
        emit(o);
        for (int j = 0; j < 4; j++)
            fops[j] = s3_head_object(client, args[0], on_free_done, NULL);
    }
}

/* ---- parallel: N HEADs at once */

static int par_left, par_ok, par_n;
static struct timespec par_t0;

static void on_par_done(const struct s3_result *r, void *arg)
{
    (void)arg;
    if (r->status == S3_OK || r->status == S3_NOT_FOUND)
        par_ok++;
    if (--par_left == 0) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "n", json_object_new_int(par_n));
        json_object_object_add(o, "answered", json_object_new_int(par_ok));
        json_object_object_add(o, "seconds", json_object_new_double(since(&par_t0)));
        emit(o);
        event_base_loopbreak(base);
    }
}

/* ---- chain: each HEAD started from the previous one's callback */

static int chain_left, chain_ok, chain_n;
static struct timespec chain_t0;

static void on_chain_done(const struct s3_result *r, void *arg)
{
    (void)arg;
    if (r->status == S3_OK || r->status == S3_NOT_FOUND)
        chain_ok++;
    if (--chain_left > 0 && s3_head_object(client, args[1], on_chain_done, NULL))
        return;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "n", json_object_new_int(chain_n));
    json_object_object_add(o, "answered", json_object_new_int(chain_ok));
    json_object_object_add(o, "seconds", json_object_new_double(since(&chain_t0)));
    emit(o);
    event_base_loopbreak(base);
}

static void print_presign(void)
{
    struct s3_presigned p;
    char err[256] = "";
    const char *ct = nargs > 2 ? args[2] : NULL;
    long expires = presign_expires > 0 ? presign_expires : config->presign.expires;
    struct s3_param hdrs[2];
    size_t n_hdrs = 0;
    char clen[24];
    bool put = strcmp(args[0], "PUT") == 0;
    if (put && ct && *ct)
        hdrs[n_hdrs++] = (struct s3_param){ "content-type", ct };
    if (put && presign_length >= 0) {
        snprintf(clen, sizeof clen, "%lld", presign_length);
        hdrs[n_hdrs++] = (struct s3_param){ "content-length", clen };
    }
    struct s3_presign_req pr = { .method = args[0], .key = args[1], .headers = hdrs,
                                 .n_headers = n_hdrs, .expires = expires };
    enum s3_status st = s3_presign(client, &pr, &p, err, sizeof(err));
    json_object *o = json_object_new_object();

    json_object_object_add(o, "status", json_object_new_string(status_name(st)));
    json_object_object_add(o, "error", st == S3_OK ? NULL : json_object_new_string(err));
    json_object_object_add(o, "url", jstr(p.url));
    json_object_object_add(o, "method", jstr(st == S3_OK ? args[0] : NULL));
    json_object_object_add(o, "expires_in", json_object_new_int64(p.expires_in));
    json_object_object_add(o, "requested", json_object_new_int64(expires));
    json_object_object_add(o, "now", json_object_new_double(now_wall()));
    json_object_object_add(o, "credentials_expiry",
                           json_object_new_double(creds_expiry()));
    emit(o);
    s3_presigned_free(&p);
}

static void print_credentials(void)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "expiry", json_object_new_double(creds_expiry()));
    json_object_object_add(o, "pending", json_object_new_boolean(creds_pending()));
    json_object_object_add(o, "now", json_object_new_double(now_wall()));
    emit(o);
}

static int run_command(void)
{
    if (strcmp(command, "head") == 0 && nargs == 1) {
        return s3_head_object(client, args[0], on_done, NULL) ? 0 : -1;
    } else if (strcmp(command, "head-bucket") == 0 && nargs == 0) {
        return s3_call(client, S3_HEAD_BUCKET, NULL, on_done, NULL) ? 0 : -1;
    } else if (strcmp(command, "delete") == 0 && nargs == 1) {
        return s3_delete_object(client, args[0], on_done, NULL) ? 0 : -1;
    } else if (strcmp(command, "list") == 0 && nargs <= 3) {
        const char *prefix = nargs > 0 ? args[0] : NULL;
        int max = nargs > 1 ? atoi(args[1]) : 1000;
        const char *token = nargs > 2 ? args[2] : NULL;
        return s3_list_objects(client, prefix, max, token, on_done, NULL) ? 0 : -1;
    } else if (strcmp(command, "cancel") == 0 && nargs == 1) {
        for (int i = 0; i < 3; i++)
            cops[i] = s3_head_object(client, args[0], on_cancel_done, (void *)(intptr_t)i);
        if (!cops[0] || !cops[1] || !cops[2])
            return -1;
        s3_cancel(cops[1]);     /* before it ever ran */
        cops[1] = NULL;
        return 0;
    } else if (strcmp(command, "parallel") == 0 && nargs == 2) {
        par_n = par_left = atoi(args[0]);
        if (par_n < 1)
            return -1;
        clock_mono_ts(&par_t0);
        for (int i = 0; i < par_n; i++)
            if (!s3_head_object(client, args[1], on_par_done, NULL))
                return -1;
        return 0;
    } else if (strcmp(command, "chain") == 0 && nargs == 2) {
        chain_n = chain_left = atoi(args[0]);
        if (chain_n < 1)
            return -1;
        clock_mono_ts(&chain_t0);
        return s3_head_object(client, args[1], on_chain_done, NULL) ? 0 : -1;
    }
    return -1;
}

static bool is_sync_command(void)
{
    return strcmp(command, "presign") == 0 || strcmp(command, "credentials") == 0;
}

/* Every 50 ms: report credential changes while watching, and start the
 * command once the watch (and for presign, the credential wait) is over. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    double t = since(&watch_t0);

    (void)fd;
    (void)what;
    (void)arg;
    double e = creds_expiry();
    if (watch_seconds > 0 && e != watch_last) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "event", json_object_new_string("credentials"));
        json_object_object_add(o, "expiry", json_object_new_double(e));
        json_object_object_add(o, "now", json_object_new_double(now_wall()));
        emit(o);
        watch_last = e;
    }
    if (t < watch_seconds)
        return;
    if (is_sync_command() && creds_pending() && t < watch_seconds + wait_seconds)
        return;
    event_del(tick);
    if (is_sync_command()) {
        if (strcmp(command, "presign") == 0)
            print_presign();
        else
            print_credentials();
        event_base_loopbreak(base);
    } else if (run_command() < 0) {
        fprintf(stderr, "s3cli: could not start %s\n", command);
        event_base_loopbreak(base);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: s3cli -c FILE [-w SECONDS] [-W SECONDS] [-e SECONDS] [-l LENGTH] COMMAND\n"
            "  head KEY | list [PREFIX [MAX [TOKEN]]] | delete KEY | head-bucket |\n"
            "  presign PUT|GET KEY [CONTENT_TYPE] | credentials | cancel KEY |\n"
            "  parallel N KEY | chain N KEY\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int opt;
    char err[512];
    struct cfg_errors errs = { 0 };

    while ((opt = getopt(argc, argv, "c:w:W:e:l:")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'w': watch_seconds = atof(optarg); break;
        case 'W': wait_seconds = atof(optarg); break;
        case 'e': presign_expires = atol(optarg); break;
        case 'l': presign_length = atoll(optarg); break;
        default: usage();
        }
    }
    if (!path || optind >= argc)
        usage();
    command = argv[optind];
    args = argv + optind + 1;
    nargs = argc - optind - 1;
    if (strcmp(command, "presign") == 0 && (nargs < 2 || nargs > 3))
        usage();

    struct cfg *cfg = cfg_load(path, &errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        cfg_errors_free(&errs);
        return 2;
    }
    config = cfg;
    log_configure(NULL, "off", cfg->server.log_level == LOG_LVL_DEBUG ? LOG_LVL_DEBUG
                                                                      : LOG_LVL_INFO,
                  err, sizeof(err));
    log_set_role("s3cli");
    if (httpc_global_init(err, sizeof(err)) < 0) {
        fprintf(stderr, "s3cli: %s\n", err);
        return 2;
    }
    base = event_base_new();
    struct httpc *http = httpc_new(base, err, sizeof(err));
    client = http ? s3_client_new(base, http, cfg, err, sizeof(err)) : NULL;
    if (!client) {
        fprintf(stderr, "s3cli: %s\n", err);
        return 2;
    }
    clock_mono_ts(&watch_t0);
    tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = { 0, 50000 };
    event_add(tick, &tv);
    event_active(tick, EV_TIMEOUT, 0);
    event_base_dispatch(base);

    if (strcmp(command, "cancel") == 0) {
        json_object *o = json_object_new_object();
        json_object *calls = json_object_new_array();
        for (int i = 0; i < 3; i++)
            json_object_array_add(calls, json_object_new_int(cancel_calls[i]));
        json_object_object_add(o, "callbacks", calls);
        json_object_object_add(o, "free_callbacks", json_object_new_int(free_calls));
        json_object_object_add(o, "client_freed", json_object_new_boolean(client == NULL));
        emit(o);
    }
    event_free(tick);
    s3_client_free(client);
    httpc_free(http);
    event_base_free(base);
    cfg_free(cfg);
    return 0;
}
