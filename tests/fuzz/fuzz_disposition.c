/*
 * fuzz_disposition.c - libFuzzer harness for the download name and the
 * small header helpers of daemon/http.c: http_content_disposition with
 * keys_display_name_ok (a client's "filename") or keys_original_filename
 * (the name a key was uploaded under), http_media_type_is and
 * http_is_json_media_type (Content-Type headers and content_type fields),
 * http_header_value_ok, http_request_id_sane (X-Request-Id),
 * http_time_normalize (S3's LastModified / Last-Modified), and
 * common/str.c's str_utf8_cut (error details cut to their buffer).
 *
 * Input: byte 0 is where str_utf8_cut cuts (and bit 7 picks "inline"),
 * the rest is the string every function gets (up to the first NUL).
 *
 * Checks, besides memory errors: a Content-Disposition value is ASCII,
 * its filename="..." fallback has one safe character per character of the
 * name, and it carries filename*=UTF-8''... exactly when the fallback is
 * not the name, whose RFC 5987 decoding gives back the name byte for byte;
 * the media-type check agrees with a reference written here; an accepted
 * header value, request id or time has the shape the daemon relies on; a
 * cut valid UTF-8 string is still valid UTF-8 and the longest prefix that
 * fits.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "http.h"
#include "keys.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DOWNLOAD_NAME 255       /* as daemon/handle_presign.c */

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_disposition: contract broken: %s\n", what);
        abort();
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The value for NAME, taken apart again. */
static void check_disposition(const char *disposition, const char *name)
{
    struct buf b;

    buf_init(&b, NULL, 0);
    http_content_disposition(&b, disposition, name);
    check(!buf_failed(&b), "memory");
    const char *v = b.p;
    for (size_t i = 0; i < b.len; i++)
        check((unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f,
              "Content-Disposition is printable ASCII");
    size_t dl = strlen(disposition);
    check(strncmp(v, disposition, dl) == 0 && strncmp(v + dl, "; filename=\"", 12) == 0,
          "DISPOSITION; filename=\"");
    const char *fb = v + dl + 12, *q = strchr(fb, '"');
    check(q != NULL, "the fallback is quoted");
    size_t fl = (size_t)(q - fb);
    for (size_t i = 0; i < fl; i++)
        check(!strchr("\"\\%;", fb[i]), "the fallback holds no '\"', '\\', '%' or ';'");
    check(fl == utf8_chars(name), "one fallback character per character");
    bool exact = fl == strlen(name) && memcmp(fb, name, fl) == 0;
    const char *rest = q + 1;
    if (exact) {
        check(*rest == '\0', "no filename* when the fallback is the name");
    } else {
        static const char star[] = "; filename*=UTF-8''";
        check(strncmp(rest, star, sizeof star - 1) == 0, "filename*=UTF-8''");
        const char *e = rest + sizeof star - 1;
        char *dec = malloc(strlen(e) + 1);
        size_t o = 0;
        check(dec != NULL, "memory");
        for (size_t i = 0; e[i]; i++) {
            if (e[i] == '%') {
                check(hexval(e[i + 1]) >= 0 && hexval(e[i + 2]) >= 0, "%XX, upper-case hex");
                dec[o++] = (char)(hexval(e[i + 1]) * 16 + hexval(e[i + 2]));
                i += 2;
            } else {
                check(isalnum((unsigned char)e[i]) || strchr("!#$&+-.^_`|~", e[i]),
                      "filename* holds attr-chars and %XX only");
                dec[o++] = e[i];
            }
        }
        dec[o] = '\0';
        check(strcmp(dec, name) == 0, "filename* decodes to the name");
        free(dec);
    }
    buf_free(&b);
}

/* The media type of CT is TYPE: blanks, the type in any case, blanks, then
 * the end or ';'. Written independently of http.c. */
static bool media_type_ref(const char *ct, const char *type)
{
    size_t i = strspn(ct, " \t"), n = strlen(type);

    for (size_t j = 0; j < n; j++, i++)
        if (!ct[i] || tolower((unsigned char)ct[i]) != tolower((unsigned char)type[j]))
            return false;
    i += strspn(ct + i, " \t");
    return ct[i] == '\0' || ct[i] == ';';
}

static void check_cut(const char *s, size_t cut)
{
    size_t len = strlen(s);

    if (cut > len)
        cut = len;
    char *c = strndup(s, len);
    check(c != NULL, "memory");
    size_t n = str_utf8_cut(c, cut);
    check(n <= cut && c[n] == '\0' && memcmp(c, s, n) == 0, "a cut is a prefix");
    if (keys_utf8_valid(s, len)) {
        /* The longest prefix of at most CUT bytes that ends on a boundary. */
        size_t want = cut;
        while (want > 0 && want < len && ((unsigned char)s[want] & 0xC0) == 0x80)
            want--;
        check(n == want, "a cut keeps every whole character");
        check(keys_utf8_valid(c, n), "a cut of UTF-8 is UTF-8");
    }
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = strndup((const char *)data + 1, size - 1);
    char err[160];
    const char *disposition = data[0] & 0x80 ? "inline" : "attachment";

    if (!s)
        return 0;
    size_t len = strlen(s);

    /* POST /download-url {"filename"} */
    if (keys_display_name_ok(s, MAX_DOWNLOAD_NAME, err, sizeof err)) {
        check(len >= 1 && len <= MAX_DOWNLOAD_NAME && keys_utf8_valid(s, len),
              "a display name is 1..255 bytes of UTF-8");
        for (size_t i = 0; i < len; i++)
            check((unsigned char)s[i] >= 0x20 && s[i] != 0x7f, "no control characters");
        check_disposition(disposition, s);
    }
    /* ... and without one: the name of the key. */
    if (keys_valid(s, "uploads/", err, sizeof err)) {
        const char *name = keys_original_filename(s);
        check(name >= s && name < s + len && *name, "the original name is in the key");
        check_disposition(disposition, name);
    }

    static const char *const types[] = {
        "application/json", "text/csv", "image/jpeg", "application/vnd.ms-excel", "a",
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        check(http_media_type_is(s, types[i]) == media_type_ref(s, types[i]),
              "http_media_type_is agrees with the reference");
    check(http_is_json_media_type(s) == media_type_ref(s, "application/json"),
          "http_is_json_media_type");

    if (http_header_value_ok(s, 256)) {
        check(len >= 1 && len <= 256 && s[0] != ' ' && s[0] != '\t' && s[len - 1] != ' ' &&
              s[len - 1] != '\t', "a header value: 1..max bytes, not blank at the ends");
        for (size_t i = 0; i < len; i++)
            check(((unsigned char)s[i] >= 0x20 || s[i] == '\t') && (unsigned char)s[i] < 0x7f,
                  "a header value: visible ASCII, spaces and tabs");
    }

    if (http_request_id_sane(s)) {
        check(len >= 1 && len <= HTTP_REQUEST_ID_MAX &&
              strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len,
              "a request id is 1..128 of [A-Za-z0-9._-]");
    }

    char t[32];
    memset(t, 'x', sizeof t);
    if (http_time_normalize(s, t, sizeof t)) {
        check(strlen(t) == 20 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
              t[16] == ':' && t[19] == 'Z', "a time is YYYY-MM-DDTHH:MM:SSZ");
        char again[32];
        check(http_time_normalize(t, again, sizeof again) && strcmp(again, t) == 0,
              "a normalized time normalizes to itself");
    }

    check_cut(s, data[0] & 0x7f ? (size_t)(data[0] & 0x7f) : len);
    free(s);
    return 0;
}
