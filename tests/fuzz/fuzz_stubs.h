/*
 * fuzz_stubs.h - the request functions of daemon/req.c and the shared
 * handler helpers of daemon/handle_files.c and handle_presign.c, as stubs,
 * for harnesses that drive daemon code which answers requests (body.c,
 * handle_s3.c) without evhttp connections, S3 or an event loop.
 *
 * Include it in exactly one translation unit of a harness. Because every
 * function of req.h is defined here, the linker never pulls req.o (nor the
 * handler modules) from build/fuzz/libdaemon.a. The parsers under test
 * only ever answer with req_fail(): that stub records the answer (and
 * formats its message, so ASan/UBSan see the format's arguments); every
 * other stub aborts, since reaching it means the code under test did
 * something a parser must not (start an S3 call, answer 200...).
 */
#ifndef PRESIGND_FUZZ_STUBS_H
#define PRESIGND_FUZZ_STUBS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"
#include "req.h"

struct fuzz_answer {
    int n;                      /* answers given: a request gets exactly one */
    int status;
    char code[64];
    char detail[512];
};

static struct fuzz_answer fuzz_answer;
static const char *fuzz_content_type;   /* what req_header("Content-Type") returns */

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz: contract broken: %s\n", what);
        abort();
    }
}

static void fuzz_answer_reset(void)
{
    memset(&fuzz_answer, 0, sizeof fuzz_answer);
}

static void fuzz_unreachable(const char *fn)
{
    fprintf(stderr, "fuzz: %s reached from a parser\n", fn);
    abort();
}

void req_fail(struct req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    (void)r;
    fuzz_check(fuzz_answer.n == 0, "a request is answered once");
    fuzz_answer.n++;
    fuzz_answer.status = status;
    snprintf(fuzz_answer.code, sizeof fuzz_answer.code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(fuzz_answer.detail, sizeof fuzz_answer.detail, fmt, ap);
    va_end(ap);
    fuzz_check(status >= 400 && status <= 599, "an error status");
    fuzz_check(code[0] != '\0', "an error code");
}

const char *req_header(const struct req *r, const char *name)
{
    (void)r;
    return strcasecmp(name, "Content-Type") == 0 ? fuzz_content_type : NULL;
}

struct req *req_new(struct api *api, struct evhttp_request *ev)
{
    (void)api, (void)ev;
    fuzz_unreachable(__func__);
    return NULL;
}

void req_add_header(struct req *r, const char *name, const char *value)
{
    (void)r, (void)name, (void)value;
    fuzz_unreachable(__func__);
}

void req_reply(struct req *r, int status, const char *ctype, const char *body, size_t len,
               unsigned flags)
{
    (void)r, (void)status, (void)ctype, (void)body, (void)len, (void)flags;
    fuzz_unreachable(__func__);
}

void req_reply_json(struct req *r, int status, struct json_object *o, unsigned flags)
{
    (void)r, (void)status, (void)o, (void)flags;
    fuzz_unreachable(__func__);
}

void req_fail_s3(struct req *r, const struct s3_result *res)
{
    (void)r, (void)res;
    fuzz_unreachable(__func__);
}

void req_fail_presign(struct req *r, enum s3_status st, const char *err)
{
    (void)r, (void)st, (void)err;
    fuzz_unreachable(__func__);
}

void req_wait(struct req *r)
{
    (void)r;
    fuzz_unreachable(__func__);
}

void req_s3_account(struct req *r, const struct s3_result *res)
{
    (void)r, (void)res;
    fuzz_unreachable(__func__);
}

void req_audit_subject(struct req *r, const char *subject)
{
    (void)r, (void)subject;
    fuzz_unreachable(__func__);
}

void req_forget(struct req *r)
{
    (void)r;
    fuzz_unreachable(__func__);
}

bool handle_key_allowed(struct req *r, const char *key)
{
    (void)r, (void)key;
    fuzz_unreachable(__func__);
    return false;
}

void handle_head_object(struct req *r, const char *key, s3_done_cb done)
{
    (void)r, (void)key, (void)done;
    fuzz_unreachable(__func__);
}

bool handle_new_upload(struct req *r, const char *filename, const char *ctype, char **key,
                       const char **type)
{
    (void)r, (void)filename, (void)ctype, (void)key, (void)type;
    fuzz_unreachable(__func__);
    return false;
}

bool handle_size_ok(struct req *r, bool sized, int64_t size, int64_t limit, bool required)
{
    (void)r, (void)sized, (void)size, (void)limit, (void)required;
    fuzz_unreachable(__func__);
    return false;
}

char *handle_path_param(struct req *r, const char *name)
{
    (void)r, (void)name;
    fuzz_unreachable(__func__);
    return NULL;
}

#endif
