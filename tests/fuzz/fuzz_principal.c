/*
 * fuzz_principal.c - libFuzzer harness for what decides who a request is
 * and where it may go, from values a client or an identity provider
 * chooses: keys_principal_prefix (common/keys.c: a principal's key prefix
 * from auth.jwt.prefix and a token's claims) with keys_access and
 * keys_list_access, and cfg_trusted_proxy (common/cfg_auth.c: whether an
 * X-Forwarded-For address is one of rate_limit.trusted_proxies).
 *
 * Input: byte 0 picks the template ("{sub}/", "users/{sub}/",
 * "{tenant}/{sub}/", "t-{sub}/", "org/{tenant}/u/{sub}/"), then lines:
 * the claim sub, the claim tenant, a key or listing prefix a client sends,
 * and an X-Forwarded-For value.
 *
 * Checks, besides memory errors: a prefix made from claims starts with
 * uploads.prefix, ends with '/', is a valid listing prefix with no "." or
 * ".." segment and holds each claim whole, and is refused whenever a claim
 * holds '/', '\' or a control character, is "." or "..", empty or over 128
 * bytes; a key the client sends is allowed only inside that prefix (and
 * every key inside it that is valid is allowed); an address is a trusted
 * proxy exactly when a reference CIDR match here says so.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PFX "uploads/"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_principal: contract broken: %s\n", what);
        abort();
    }
}

struct claims {
    const char *sub, *tenant;
};

static const char *lookup(const char *name, size_t len, void *arg)
{
    const struct claims *c = arg;

    if (len == 3 && !memcmp(name, "sub", 3))
        return c->sub;
    if (len == 6 && !memcmp(name, "tenant", 6))
        return c->tenant;
    return NULL;
}

/* What keys.h says a claim value may be. */
static bool claim_ok(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n > 128 || !strcmp(v, ".") || !strcmp(v, ".."))
        return false;
    if (!keys_utf8_valid(v, n))
        return false;
    for (size_t i = 0; i < n;) {
        /* An independent decoder (the string is valid UTF-8 by now), so the
         * reference does not share keys.c's. */
        unsigned char c = (unsigned char)v[i];
        int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (int k = 1; k < len; k++)
            cp = (cp << 6) | ((unsigned char)v[i + k] & 0x3Fu);
        i += (size_t)len;
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == '/' || cp == '\\')
            return false;
        /* Invisible formatting: bidi controls, zero-width characters, the
         * BOM, the soft hyphen. */
        if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
            (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF || cp == 0xAD)
            return false;
    }
    return true;
}

static struct cfg *cfg;

static const char cfg_text[] =
    "server:\n  listen: \"127.0.0.1:8000\"\n"
    "s3:\n  bucket: fuzz-bucket\n  region: us-east-1\n"
    "rate_limit:\n  requests_per_second: 10\n"
    "  trusted_proxies: [\"10.0.0.0/8\", \"192.168.1.0/24\", \"172.16.0.1/32\", "
    "\"fd00::/8\", \"2001:db8:1::/47\", \"::1/128\"]\n";

static const struct { const char *addr; int bits; } nets[] = {
    { "10.0.0.0", 8 }, { "192.168.1.0", 24 }, { "172.16.0.1", 32 },
    { "fd00::", 8 }, { "2001:db8:1::", 47 }, { "::1", 128 },
};

static bool trusted_ref(const char *a)
{
    unsigned char x[16], n[16];
    int fam = inet_pton(AF_INET, a, x) == 1 ? AF_INET
            : inet_pton(AF_INET6, a, x) == 1 ? AF_INET6 : 0;

    if (!fam)
        return false;
    for (size_t i = 0; i < sizeof nets / sizeof *nets; i++) {
        int nf = strchr(nets[i].addr, ':') ? AF_INET6 : AF_INET;
        if (nf != fam || inet_pton(nf, nets[i].addr, n) != 1)
            continue;
        bool in = true;
        for (int b = 0; b < nets[i].bits && in; b++)
            in = ((x[b / 8] >> (7 - b % 8)) & 1) == ((n[b / 8] >> (7 - b % 8)) & 1);
        if (in)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const templates[] = {
        "{sub}/", "users/{sub}/", "{tenant}/{sub}/", "t-{sub}/", "org/{tenant}/u/{sub}/",
    };
    char err[200];

    if (!cfg) {
        struct cfg_errors errs = { 0 };
        cfg = cfg_load_string("fuzz.yaml", cfg_text, sizeof cfg_text - 1, &errs);
        check(cfg && cfg->rate_limit.n_trusted_proxies == 6, "the harness's configuration");
        cfg_errors_free(&errs);
    }
    if (size < 1)
        return 0;
    const char *tmpl = templates[data[0] % 5];
    char *text = strndup((const char *)data + 1, size - 1);
    check(text != NULL, "memory");
    char *lines[4] = { "", "", "", "" };
    size_t n = 0;
    for (char *p = text; p && n < 4;) {
        lines[n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    struct claims c = { lines[0], lines[1] };
    bool uses_tenant = strstr(tmpl, "{tenant}") != NULL;

    char *prefix = keys_principal_prefix(PFX, tmpl, lookup, &c, err, sizeof err);
    bool want = claim_ok(c.sub) && (!uses_tenant || claim_ok(c.tenant));
    /* The prefix expected: the template with the claims in their places. */
    /* Each claim appears once and is shorter than the input. */
    size_t cap = 2 * size + 64;
    char *expect = malloc(cap);
    check(expect != NULL, "memory");
    size_t el = (size_t)snprintf(expect, cap, "%s", PFX);
    for (const char *t = tmpl; *t; t++) {
        if (!strncmp(t, "{sub}", 5)) {
            el += (size_t)snprintf(expect + el, cap - el, "%s", c.sub);
            t += 4;
        } else if (!strncmp(t, "{tenant}", 8)) {
            el += (size_t)snprintf(expect + el, cap - el, "%s", c.tenant);
            t += 7;
        } else {
            expect[el++] = *t;
            expect[el] = '\0';
        }
    }
    if (prefix) {
        size_t pl = strlen(prefix);
        check(want, "claims keys.h refuses make no prefix");
        check(strcmp(prefix, expect) == 0, "the template with the claims in their places");
        check(!strncmp(prefix, PFX, strlen(PFX)) && prefix[pl - 1] == '/',
              "a principal's prefix is inside uploads/ and ends with '/'");
        check(keys_valid_list_prefix(prefix, PFX, err, sizeof err),
              "a principal's prefix is a valid listing prefix");
        check(strstr(prefix, c.sub) && (!uses_tenant || strstr(prefix, c.tenant)),
              "the claims are in the prefix whole");
        /* What the client sends: allowed only inside the prefix. */
        const char *key = lines[2];
        enum keys_access a = keys_access(key, PFX, prefix, err, sizeof err);
        bool inside = !strncmp(key, prefix, pl);
        bool valid = keys_valid(key, PFX, err, sizeof err);
        check(a == (!valid ? KEYS_INVALID : inside ? KEYS_ALLOWED : KEYS_FORBIDDEN),
              "keys_access: invalid, or allowed exactly inside the prefix");
        enum keys_access la = keys_list_access(key, PFX, prefix, err, sizeof err);
        check(la != KEYS_ALLOWED || inside, "a listing is allowed only inside the prefix");
        char *mine;
        check(asprintf(&mine, "%sfile.txt", prefix) > 0, "memory");
        check(keys_access(mine, PFX, prefix, err, sizeof err) == KEYS_ALLOWED,
              "a key inside the prefix is allowed");
        free(mine);
        free(prefix);
    } else {
        check(!want || el > 512, "good claims make a prefix (unless it is over 512 bytes)");
    }
    free(expect);

    /* X-Forwarded-For: each address, as req.c reads them. */
    for (char *a = lines[3]; a;) {
        char *comma = strchr(a, ',');
        if (comma)
            *comma = '\0';
        while (*a == ' ' || *a == '\t')
            a++;
        size_t al = strlen(a);
        while (al && (a[al - 1] == ' ' || a[al - 1] == '\t'))
            a[--al] = '\0';
        check(cfg_trusted_proxy(cfg, a) == trusted_ref(a), "cfg_trusted_proxy: CIDR match");
        a = comma ? comma + 1 : NULL;
    }
    free(text);
    return 0;
}
