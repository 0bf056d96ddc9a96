/*
 * fuzz_creds.c - libFuzzer harness for the credentials presignd reads from
 * outside (common/creds.c): the shared credentials file (creds_parse_ini,
 * ~/.aws/credentials or AWS_SHARED_CREDENTIALS_FILE), the EC2 instance
 * metadata document (creds_parse_imds, what IMDS - or whatever answers on
 * its address - returns), its Expiration (creds_parse_iso8601) and the
 * refresh time derived from it (creds_refresh_at).
 *
 * Input: byte 0 picks the parser (0: INI, 1: IMDS JSON, 2: a time; modulo
 * 3), byte 1 the INI profile ("default", "presignd", "with space"); the
 * rest is the document.
 *
 * Checks, besides memory errors: a parser that fails leaves no credentials
 * behind and says why (INI: "absent" is 0 without a message); credentials
 * found are non-empty, trimmed, one line each, with a key id and a secret
 * that appear in the document; IMDS credentials expire when their
 * Expiration says; a refresh is due no sooner than a second from now and,
 * for credentials that live two seconds or more, between half and 80% of
 * their life.
 */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_creds: contract broken: %s\n", what);
        abort();
    }
}

static void check_field(const char *v, const char *doc, size_t len, bool must)
{
    if (!v) {
        check(!must, "a credential field is there");
        return;
    }
    size_t n = strlen(v);
    check(n > 0, "a credential field is not empty");
    check(!strchr(v, '\n'), "a credential field is one line");
    check(memmem(doc, len, v, n) != NULL, "a credential field comes from the document");
}

static void check_empty(const struct creds *c)
{
    check(!c->access_key_id && !c->secret_access_key && !c->session_token &&
          c->source == CREDS_NONE, "no credentials are left behind");
}

static void check_refresh(double now, double exp)
{
    double at = creds_refresh_at(now, exp), life = exp - now;

    check(!isnan(at) && at >= now + 1, "a refresh is due a second from now or later");
    if (life >= 2)
        check(at >= now + 0.5 * life - 1e-6 && at <= now + 0.8 * life + 1e-6,
              "a refresh is due between half and 80% of the life");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const profiles[] = { "default", "presignd", "with space" };
    struct creds c;
    char err[200] = "";

    if (size < 2)
        return 0;
    const char *doc = (const char *)data + 2;
    size_t len = size - 2;

    switch (data[0] % 3) {
    case 0: {
        const char *profile = profiles[data[1] % 3];
        int rc = creds_parse_ini("credentials", doc, len, profile, &c, err, sizeof err);
        check(rc >= -1 && rc <= 1, "INI: -1, 0 or 1");
        if (rc == 1) {
            check(c.source == CREDS_FILE && c.expiration == 0, "INI: a file's credentials");
            check_field(c.access_key_id, doc, len, true);
            check_field(c.secret_access_key, doc, len, true);
            check_field(c.session_token, doc, len, false);
            for (const char *const *f = (const char *const[]){ c.access_key_id,
                     c.secret_access_key, c.session_token, NULL }; *f; f++)
                check(!isspace((unsigned char)(*f)[0]) &&
                      !isspace((unsigned char)(*f)[strlen(*f) - 1]), "INI: values trimmed");
            check(memmem(doc, len, profile, strlen(profile)) != NULL,
                  "INI: the profile is named in the file");
        } else {
            check_empty(&c);
            check(rc == 0 || err[0], "INI: a broken profile says why");
        }
        creds_clear(&c);
        check_empty(&c);
        break;
    }
    case 1: {
        int rc = creds_parse_imds(doc, len, &c, err, sizeof err);
        if (rc == 0) {
            check(c.source == CREDS_IMDS && c.expiration > 0, "IMDS: credentials that expire");
            check(c.access_key_id && c.access_key_id[0] && c.secret_access_key &&
                  c.secret_access_key[0], "IMDS: a key id and a secret");
            check(!c.session_token || c.session_token[0], "IMDS: a token or none");
            /* The Expiration, as the document says it. */
            struct json_tokener *tok = json_tokener_new();
            struct json_object *o = json_tokener_parse_ex(tok, doc, (int)len), *e = NULL;
            json_tokener_free(tok);
            if (o && json_object_object_get_ex(o, "Expiration", &e))
                check(creds_parse_iso8601(json_object_get_string(e)) == c.expiration,
                      "IMDS: the expiration is the document's");
            json_object_put(o);
            check_refresh(c.expiration - 3600, c.expiration);
            check_refresh(c.expiration - 1.5, c.expiration);
        } else {
            check(rc == -1 && err[0], "IMDS: a refusal says why");
            check_empty(&c);
        }
        creds_clear(&c);
        break;
    }
    default: {
        char *s = strndup(doc, len);
        check(s != NULL, "memory");
        double t = creds_parse_iso8601(s);
        check(t == -1 || isfinite(t), "a time is finite or -1");
        if (t != -1) {
            check_refresh(t - 900, t);
            check_refresh(t - 0.5, t);
            check_refresh(t + 10, t);
        }
        free(s);
        break;
    }
    }
    return 0;
}
