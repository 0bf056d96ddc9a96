/*
 * creds.c - the AWS credential chain and the I/O-free parts of the IMDSv2
 * source (see creds.h). The asynchronous IMDS fetch itself lives in s3.c,
 * which owns the curl multi handle it runs on.
 */
#include "creds.h"
#include "errbuf.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <printbuf.h>
#include <openssl/crypto.h>

#include "config.h"

/* A credentials file is a few hundred bytes; refuse to slurp anything huge. */
#define CREDS_MAX_FILE (1024 * 1024)

const char *creds_source_name(enum creds_source s)
{
    switch (s) {
    case CREDS_CONFIG: return "config file";
    case CREDS_ENV:    return "environment";
    case CREDS_FILE:   return "shared credentials file";
    case CREDS_IMDS:   return "instance metadata";
    case CREDS_NONE:   break;
    }
    return "none";
}

void creds_clear(struct creds *c)
{
    if (!c)
        return;
    str_free_secret(c->access_key_id);
    str_free_secret(c->secret_access_key);
    str_free_secret(c->session_token);
    memset(c, 0, sizeof(*c));
}

void creds_replace(struct creds *dst, struct creds *src)
{
    creds_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

static bool nonempty(const char *s)
{
    return s && *s;
}

/* Fill OUT from three strings (copied); token may be NULL or "". */
static int fill(struct creds *out, enum creds_source src, const char *ak,
                const char *sk, const char *token, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->access_key_id = strdup(ak);
    out->secret_access_key = strdup(sk);
    out->session_token = nonempty(token) ? strdup(token) : NULL;
    out->source = src;
    if (!out->access_key_id || !out->secret_access_key ||
        (nonempty(token) && !out->session_token)) {
        creds_clear(out);
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- shared credentials file (INI) ---- */

static char *trim(char *s, char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

/* Does section header NAME (trimmed) select PROFILE? The credentials file
 * uses bare names; "profile NAME" (the config file's spelling) is accepted. */
static bool section_matches(const char *name, const char *profile)
{
    if (strcmp(name, profile) == 0)
        return true;
    if (strncmp(name, "profile", 7) == 0 && isspace((unsigned char)name[7])) {
        const char *p = name + 7;
        while (isspace((unsigned char)*p))
            p++;
        return strcmp(p, profile) == 0;
    }
    return false;
}

int creds_parse_ini(const char *name, const char *text, size_t len,
                    const char *profile, struct creds *out,
                    char *err, size_t errlen)
{
    char *buf = malloc(len + 1);
    char *ak = NULL, *sk = NULL, *tok = NULL;
    bool in_profile = false, found = false;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!buf) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';

    char *line = buf;
    while (line && line <= buf + len) {
        char *nl = strchr(line, '\n');
        char *end = nl ? nl : buf + len;
        char *next = nl ? nl + 1 : NULL;
        char *s = trim(line, end);

        line = next;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                in_profile = false;
                continue;
            }
            char *sec = trim(s + 1, close);
            in_profile = section_matches(sec, profile);
            found = found || in_profile;
            continue;
        }
        if (!in_profile)
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            continue;
        char *k = trim(s, eq);
        char *v = trim(eq + 1, eq + 1 + strlen(eq + 1));
        for (char *p = k; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        /* Later assignments win, as in botocore's configparser. */
        if (strcmp(k, "aws_access_key_id") == 0)
            ak = v;
        else if (strcmp(k, "aws_secret_access_key") == 0)
            sk = v;
        else if (strcmp(k, "aws_session_token") == 0 ||
                 strcmp(k, "aws_security_token") == 0)
            tok = v;
    }

    if (!found) {
        rc = 0;
    } else if (!nonempty(ak) || !nonempty(sk)) {
        errbuf_set(err, errlen, "%s: profile [%s] lacks %s", name, profile,
                nonempty(ak) ? "aws_secret_access_key" : "aws_access_key_id");
        rc = -1;
    } else {
        rc = fill(out, CREDS_FILE, ak, sk, tok, err, errlen) < 0 ? -1 : 1;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

int creds_from_file(const char *path, const char *profile, struct creds *out,
                    char *err, size_t errlen)
{
    FILE *f;
    struct stat st;
    char *text;
    size_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > CREDS_MAX_FILE) {
        errbuf_set(err, errlen, "%s: not a regular file of at most %d bytes",
                path, CREDS_MAX_FILE);
        fclose(f);
        return -1;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        fclose(f);
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    n = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        errbuf_set(err, errlen, "%s: read error", path);
        OPENSSL_cleanse(text, n);
        free(text);
        fclose(f);
        return -1;
    }
    fclose(f);
    rc = creds_parse_ini(path, text, n, profile, out, err, errlen);
    OPENSSL_cleanse(text, n);
    free(text);
    return rc;
}

/* AWS_SHARED_CREDENTIALS_FILE (with ~ expanded) or ~/.aws/credentials. */
static char *credentials_path(bool *explicit)
{
    const char *env = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    const char *rest;
    char *path;

    *explicit = nonempty(env);
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (*explicit && env[0] != '~')
        return strdup(env);
    if (*explicit)
        rest = env + 1;
    else
        rest = "/.aws/credentials";
    if (!home)
        return NULL;
    if (asprintf(&path, "%s%s", home, rest) < 0)
        return NULL;
    return path;
}

int creds_resolve_static(const struct cfg *cfg, struct creds *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));

    /* 1. the config file */
    if (cfg && (nonempty(cfg->s3.access_key_id) || nonempty(cfg->s3.secret_access_key))) {
        if (!nonempty(cfg->s3.access_key_id) || !nonempty(cfg->s3.secret_access_key)) {
            errbuf_set(err, errlen, "s3.access_key_id and s3.secret_access_key "
                    "must be set together");
            return -1;
        }
        if (fill(out, CREDS_CONFIG, cfg->s3.access_key_id, cfg->s3.secret_access_key,
                 cfg->s3.session_token, err, errlen) < 0)
            return -1;
        return CREDS_CONFIG;
    }

    /* 2. the environment */
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (nonempty(ak) || nonempty(sk)) {
        if (!nonempty(ak) || !nonempty(sk)) {
            errbuf_set(err, errlen, "%s is set but %s is not",
                    nonempty(ak) ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                    nonempty(ak) ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            return -1;
        }
        if (fill(out, CREDS_ENV, ak, sk, getenv("AWS_SESSION_TOKEN"), err, errlen) < 0)
            return -1;
        return CREDS_ENV;
    }

    /* 3. the shared credentials file */
    const char *profile_env = getenv("AWS_PROFILE");
    const char *profile = nonempty(profile_env) ? profile_env : "default";
    bool explicit_path;
    char *path = credentials_path(&explicit_path);
    if (path) {
        int rc = creds_from_file(path, profile, out, err, errlen);
        if (rc < 0) {
            free(path);
            return -1;
        }
        if (rc == 0 && (explicit_path || nonempty(profile_env))) {
            /* Asked for by name and not there: say so rather than quietly
             * falling through to instance metadata. */
            errbuf_set(err, errlen, "profile [%s] not found in %s", profile, path);
            free(path);
            return -1;
        }
        free(path);
        if (rc == 1)
            return CREDS_FILE;
    }
    return CREDS_NONE;
}

/* ---- IMDS ---- */

double creds_parse_iso8601(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    struct tm tm;
    double frac = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    s += n;
    if (*s == '.') {
        double scale = 0.1;
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s)) {
            frac += (*s - '0') * scale;
            scale /= 10;
            s++;
        }
    }
    long off = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om;
        int sign = *s == '-' ? -1 : 1;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2)
            return -1;
        off = sign * (oh * 3600L + om * 60L);
        s += 1 + n;
    } else {
        return -1;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return (double)t - off + frac;
}

static const char *json_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Every string of O (the credentials document) wiped before json-c frees
 * it: json-c keeps string values in its objects, short ones inline. */
static void wipe_strings(struct json_object *o)
{
    if (json_object_is_type(o, json_type_string)) {
        OPENSSL_cleanse((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (v)
                wipe_strings(v);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            wipe_strings(json_object_array_get_idx(o, i));
    }
}

/* The tokener's scratch buffer held each string while it was parsed.
 * json-c has no call for this; its struct is public, marked "do not use". */
static void wipe_tokener(struct json_tokener *tok)
{
    if (tok->pb && tok->pb->buf && tok->pb->size > 0)
        OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
}

int creds_parse_imds(const char *json, size_t len, struct creds *out,
                     char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!tok) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    if (len > (size_t)1 << 20) {
        errbuf_set(err, errlen, "credentials document too large");
        json_tokener_free(tok);
        return -1;
    }
    o = json_tokener_parse_ex(tok, json, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(o, json_type_object)) {
        errbuf_set(err, errlen, "credentials document is not a JSON object");
        goto out;
    }
    const char *code = json_str(o, "Code");
    if (code && strcmp(code, "Success") != 0) {
        /* Code is an IMDS status word, never a secret. */
        errbuf_set(err, errlen, "instance metadata returned Code \"%.40s\"", code);
        goto out;
    }
    const char *ak = json_str(o, "AccessKeyId");
    const char *sk = json_str(o, "SecretAccessKey");
    const char *token = json_str(o, "Token");
    const char *exp = json_str(o, "Expiration");
    if (!nonempty(ak) || !nonempty(sk) || !nonempty(exp)) {
        errbuf_set(err, errlen, "credentials document lacks %s",
                !nonempty(ak) ? "AccessKeyId" :
                !nonempty(sk) ? "SecretAccessKey" : "Expiration");
        goto out;
    }
    double e = creds_parse_iso8601(exp);
    if (e <= 0) {
        errbuf_set(err, errlen, "unparsable Expiration \"%.40s\"", exp);
        goto out;
    }
    if (fill(out, CREDS_IMDS, ak, sk, token, err, errlen) < 0)
        goto out;
    out->expiration = e;
    rc = 0;
out:
    if (o) {
        wipe_strings(o);
        json_object_put(o);
    }
    wipe_tokener(tok);
    json_tokener_free(tok);
    return rc;
}

double creds_refresh_at(double now, double expiration)
{
    double life = expiration - now;
    double at;

    if (life <= 0)
        return now + 1;
    at = fmin(expiration - 300, now + 0.8 * life);
    at = fmax(at, now + 0.5 * life);
    return fmax(at, now + 1);
}
