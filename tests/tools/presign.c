/*
 * presign.c - print a presigned S3 URL made by common/sigv4.c.
 *
 * Lets tests and people compare presignd's signer with other SigV4
 * implementations and drive a real S3 server with its URLs:
 *
 *   presign --method PUT --scheme http --host 127.0.0.1:7480 \
 *           --path '/bucket/uploads/a b.pdf' --region us-east-1 \
 *           --access-key AKID --secret SECRET [--token TOKEN] \
 *           [--content-type application/pdf] [--header name:value]... \
 *           [--query name=value]... [--expires 600] [--time UNIX]
 *
 * --path is the raw, unencoded path. Credentials not given on the command
 * line come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN (keeping the secret out of the process list).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

#define MAX_PAIRS 32

static void usage(FILE *out)
{
    fprintf(out,
        "usage: presign --host HOST --path PATH [--method GET|PUT|HEAD|DELETE]\n"
        "               [--scheme https|http] [--region REGION]\n"
        "               [--access-key AKID] [--secret SECRET] [--token TOKEN]\n"
        "               [--content-type TYPE] [--header NAME:VALUE]...\n"
        "               [--query NAME=VALUE]... [--expires SECONDS] [--time UNIX]\n");
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int add_pair(struct sigv4_kv *v, size_t *n, const char *arg, char sep)
{
    const char *p = strchr(arg, sep);

    if (!p || p == arg || *n >= MAX_PAIRS)
        return -1;
    char *name = strndup(arg, (size_t)(p - arg));
    if (!name)
        return -1;
    v[*n].name = name;
    /* Headers are trimmed by the signer; keep the value as given. */
    v[*n].value = p + 1;
    (*n)++;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "method", required_argument, NULL, 'm' },
        { "host", required_argument, NULL, 'H' },
        { "scheme", required_argument, NULL, 's' },
        { "path", required_argument, NULL, 'p' },
        { "region", required_argument, NULL, 'r' },
        { "access-key", required_argument, NULL, 'a' },
        { "secret", required_argument, NULL, 'k' },
        { "token", required_argument, NULL, 't' },
        { "content-type", required_argument, NULL, 'c' },
        { "header", required_argument, NULL, 'h' },
        { "query", required_argument, NULL, 'q' },
        { "expires", required_argument, NULL, 'e' },
        { "time", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, '?' },
        { NULL, 0, NULL, 0 },
    };
    struct sigv4_kv headers[MAX_PAIRS + 1], query[MAX_PAIRS];
    size_t n_headers = 0, n_query = 0;
    struct sigv4_creds creds = {
        getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"),
        getenv("AWS_SESSION_TOKEN"),
    };
    struct sigv4_request req = {
        .method = "GET", .region = "us-east-1", .now = time(NULL),
    };
    const char *scheme = "https", *content_type = NULL;
    long expires = 600, t;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': req.method = optarg; break;
        case 'H': req.host = optarg; break;
        case 's': scheme = optarg; break;
        case 'p': req.path = optarg; break;
        case 'r': req.region = optarg; break;
        case 'a': creds.access_key_id = optarg; break;
        case 'k': creds.secret_access_key = optarg; break;
        case 't': creds.session_token = optarg; break;
        case 'c': content_type = optarg; break;
        case 'h':
            if (add_pair(headers, &n_headers, optarg, ':') < 0) {
                fprintf(stderr, "presign: bad --header %s\n", optarg);
                goto out;
            }
            break;
        case 'q':
            if (add_pair(query, &n_query, optarg, '=') < 0) {
                fprintf(stderr, "presign: bad --query %s\n", optarg);
                goto out;
            }
            break;
        case 'e':
            if (parse_long(optarg, &expires) < 0) {
                fprintf(stderr, "presign: bad --expires %s\n", optarg);
                goto out;
            }
            break;
        case 'T':
            if (parse_long(optarg, &t) < 0) {
                fprintf(stderr, "presign: bad --time %s\n", optarg);
                goto out;
            }
            req.now = (time_t)t;
            break;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind != argc || !req.host || !req.path) {
        usage(stderr);
        goto out;
    }
    if (content_type) {
        headers[n_headers].name = strdup("content-type");
        headers[n_headers].value = content_type;
        if (!headers[n_headers].name)
            goto out;
        n_headers++;
    }
    req.headers = headers;
    req.n_headers = n_headers;
    req.query = query;
    req.n_query = n_query;

    char err[256];
    char *url = sigv4_presign_url(&req, scheme, expires, &creds, NULL, err,
                                  sizeof(err));
    if (!url) {
        fprintf(stderr, "presign: %s\n", err);
        goto out;
    }
    printf("%s\n", url);
    free(url);
    rc = 0;

out:
    for (size_t i = 0; i < n_headers; i++)
        free((char *)headers[i].name);
    for (size_t i = 0; i < n_query; i++)
        free((char *)query[i].name);
    return rc;
}
