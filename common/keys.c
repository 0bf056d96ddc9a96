/*
 * keys.c - object key rules (see keys.h): new upload keys from client
 * filenames, and validation of keys and listing prefixes sent by clients.
 *
 * These checks are what keep a client inside uploads.prefix, so they work on
 * bytes, decode UTF-8 strictly (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) and never "fix up" a client key: a key that is not exactly
 * acceptable is refused, only filenames for new keys are cleaned.
 */
#include "keys.h"
#include "errbuf.h"
#include "rnd.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#define KEYS_UUID_LEN 36

/*
 * Decode one UTF-8 character at S (AVAIL bytes available). Returns its length
 * (1..4) and the code point in *CP, or 0 when the bytes there are not a valid
 * character.
 */
static size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; v = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; v = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; v = c & 0x07; min = 0x10000;
    } else {
        return 0;       /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

bool keys_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;

    if (!s)
        return len == 0;
    while (i < len) {
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* C0, DEL and C1: nothing a filename or key needs, and all of them confuse
 * logs, terminals and HTTP headers. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Characters that draw nothing or reorder text (bidi controls, zero-width
 * characters, the BOM): a name with them can look like another. */
static bool is_invisible(uint32_t cp)
{
    return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF || cp == 0x00AD;
}

/* ---- uuid4: every upload key and most request ids need one, so the bytes
 * come from the pooled randomness of rnd.h rather than libuuid's
 * uuid_generate_random(), which costs several system calls per id. */

void keys_uuid4(char out[37])
{
    uuid_t uu = { 0 };      /* filled below; initialized for the analyzers */

    if (rnd_bytes(uu, sizeof uu)) {
        uu[6] = (unsigned char)((uu[6] & 0x0f) | 0x40);   /* version 4 */
        uu[8] = (unsigned char)((uu[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    } else {
        uuid_generate_random(uu);   /* no getrandom(2): libuuid's own sources */
    }
    uuid_unparse_lower(uu, out);
}

/* ---- filenames */

char *keys_sanitize_filename(const char *filename, size_t max_bytes,
                             char *err, size_t errlen)
{
    const char *base;
    char *clean, *out;
    size_t len, o = 0, start, i;

    if (!filename) {
        errbuf_set(err, errlen, "filename is missing");
        return NULL;
    }
    if (max_bytes == 0) {
        errbuf_set(err, errlen, "no room for a filename");
        return NULL;
    }

    /* Basename: both separators, since clients on Windows send "C:\\x\\a.pdf".
     * Neither byte can occur inside a multi-byte UTF-8 character, so this
     * is safe before decoding. */
    base = filename;
    for (const char *p = filename; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;

    len = strlen(base);
    clean = malloc(len + 1);
    if (!clean) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    for (i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode((const unsigned char *)base + i, len - i, &cp);
        if (n == 0) {
            i++;            /* drop the bad byte, resynchronize on the next */
            continue;
        }
        /* Controls, and characters that draw nothing or reorder the text
         * (U+202E makes "exe.pdf" read "fdp.exe"): a key is no place for
         * either. */
        if (!is_control(cp) && !is_invisible(cp)) {
            memcpy(clean + o, base + i, n);
            o += n;
        }
        i += n;
    }
    clean[o] = '\0';

    /* Leading dots and spaces: no hidden files, no "..", no " x". Done after
     * dropping control characters so ".\x01." cannot become "..". */
    for (start = 0; clean[start] == '.' || clean[start] == ' '; start++)
        ;
    len = o - start;
    if (len == 0) {
        free(clean);
        errbuf_set(err, errlen, "filename has no usable characters");
        return NULL;
    }

    if (len > max_bytes) {
        const char *s = clean + start;
        const char *dot = strrchr(s, '.');
        size_t ext = dot && dot != s ? strlen(dot) : 0;
        size_t keep;

        /* Keep the extension (it decides the content type and how the file
         * opens) when it is short next to the room we have; cut the stem. */
        if (ext == 0 || ext > max_bytes / 2)
            ext = 0;
        keep = max_bytes - ext;
        /* Back up to a character boundary: never cut inside a sequence. */
        while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
            keep--;
        if (keep == 0) {
            free(clean);
            errbuf_set(err, errlen, "filename cannot be shortened to %zu bytes",
                    max_bytes);
            return NULL;
        }
        out = malloc(keep + ext + 1);
        if (!out) {
            free(clean);
            errbuf_set(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(out, s, keep);
        memcpy(out + keep, dot ? dot : "", ext);
        out[keep + ext] = '\0';
        free(clean);
        return out;
    }

    if (start > 0)
        memmove(clean, clean + start, len + 1);
    return clean;
}

/* S (LEN bytes) is valid UTF-8 without control or invisible characters
 * (nor path separators, with NO_SEPARATORS); else false with ERR filled. */
static bool plain_text(const char *s, size_t len, bool no_separators, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0) {
            errbuf_set(err, errlen, "is not valid UTF-8");
            return false;
        }
        if (is_control(cp) || is_invisible(cp) ||
            (no_separators && (cp == '/' || cp == '\\'))) {
            errbuf_set(err, errlen, "holds %sa control or an invisible character (U+%04X)",
                       no_separators ? "'/', '\\', " : "", (unsigned)cp);
            return false;
        }
        i += n;
    }
    return true;
}

bool keys_display_name_ok(const char *name, size_t max_bytes, char *err, size_t errlen)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > max_bytes) {
        errbuf_set(err, errlen, "must be 1 to %zu bytes", max_bytes);
        return false;
    }
    return plain_text(name, len, false, err, errlen);
}

const char *keys_original_filename(const char *key)
{
    const char *base = strrchr(key, '/');

    base = base ? base + 1 : key;
    /* PREFIX + uuid4 + "-" + name, as keys_new_upload_key makes them. */
    for (size_t i = 0; i < KEYS_UUID_LEN; i++) {
        char c = base[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return base;
    }
    return base[KEYS_UUID_LEN] == '-' && base[KEYS_UUID_LEN + 1] ? base + KEYS_UUID_LEN + 1
                                                                 : base;
}

char *keys_new_upload_key(const char *prefix, const char *filename,
                          size_t max_filename_bytes, char *err, size_t errlen)
{
    char uuid_s[KEYS_UUID_LEN + 1];
    char *name, *key;
    size_t plen, room, nlen;

    if (!prefix)
        prefix = "";
    plen = strlen(prefix);
    if (plen + KEYS_UUID_LEN + 2 > KEYS_MAX_KEY_BYTES) {
        errbuf_set(err, errlen, "prefix leaves no room for a key");
        return NULL;
    }
    /* The whole key must fit S3's 1024 bytes, whatever the configured
     * filename limit says. */
    room = KEYS_MAX_KEY_BYTES - plen - KEYS_UUID_LEN - 1;
    if (max_filename_bytes == 0 || max_filename_bytes > room)
        max_filename_bytes = room;

    name = keys_sanitize_filename(filename, max_filename_bytes, err, errlen);
    if (!name)
        return NULL;

    keys_uuid4(uuid_s);

    nlen = strlen(name);
    key = malloc(plen + KEYS_UUID_LEN + 1 + nlen + 1);
    if (!key) {
        free(name);
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(key, prefix, plen);
    memcpy(key + plen, uuid_s, KEYS_UUID_LEN);
    key[plen + KEYS_UUID_LEN] = '-';
    memcpy(key + plen + KEYS_UUID_LEN + 1, name, nlen + 1);
    free(name);

    /* A key we hand out must be one we accept back (download, delete); this
     * also catches a configured prefix that breaks the rules. */
    if (!keys_valid(key, prefix, err, errlen)) {
        free(key);
        return NULL;
    }
    return key;
}

/* ---- client-supplied keys and prefixes */

/*
 * Shared character and segment rules. ALLOW_TRAILING_SLASH lets the last
 * segment be empty (a listing prefix "uploads/2024/").
 */
static bool check_chars_and_segments(const char *s, size_t len,
                                     bool allow_trailing_slash,
                                     char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, seg = 0;

    while (i < len) {
        uint32_t cp;
        /* Printable ASCII, most of any key, needs no decoding. */
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            i++;
            continue;
        }
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0) {
            errbuf_set(err, errlen, "not valid UTF-8");
            return false;
        }
        if (is_control(cp)) {
            errbuf_set(err, errlen, "contains a control character");
            return false;
        }
        i += n;
    }

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '/')
            continue;
        size_t slen = i - seg;
        if (slen == 0 && !(allow_trailing_slash && i == len && len > 0)) {
            errbuf_set(err, errlen, "contains an empty path segment");
            return false;
        }
        if ((slen == 1 && s[seg] == '.') ||
            (slen == 2 && s[seg] == '.' && s[seg + 1] == '.')) {
            errbuf_set(err, errlen, "contains a '.' or '..' segment");
            return false;
        }
        seg = i + 1;
    }
    return true;
}

bool keys_valid(const char *key, const char *prefix, char *err, size_t errlen)
{
    size_t len, plen;

    if (!prefix)
        prefix = "";
    if (!key || !*key) {
        errbuf_set(err, errlen, "key is empty");
        return false;
    }
    len = strlen(key);
    plen = strlen(prefix);
    if (len > KEYS_MAX_KEY_BYTES) {
        errbuf_set(err, errlen, "key is longer than %d bytes", KEYS_MAX_KEY_BYTES);
        return false;
    }
    if (len <= plen || memcmp(key, prefix, plen) != 0) {
        errbuf_set(err, errlen, "key is outside the prefix %s", prefix);
        return false;
    }
    return check_chars_and_segments(key, len, false, err, errlen);
}

bool keys_valid_list_prefix(const char *list_prefix, const char *prefix,
                            char *err, size_t errlen)
{
    size_t len, plen;

    if (!prefix)
        prefix = "";
    if (!list_prefix) {
        errbuf_set(err, errlen, "prefix is missing");
        return false;
    }
    len = strlen(list_prefix);
    plen = strlen(prefix);
    if (len > KEYS_MAX_KEY_BYTES) {
        errbuf_set(err, errlen, "prefix is longer than %d bytes",
                KEYS_MAX_KEY_BYTES);
        return false;
    }
    if (len < plen || memcmp(list_prefix, prefix, plen) != 0) {
        errbuf_set(err, errlen, "prefix must start with %s", prefix);
        return false;
    }
    if (len == 0)
        return true;    /* equal to an empty configured prefix */
    return check_chars_and_segments(list_prefix, len, true, err, errlen);
}

/* ---- principals */

#define KEYS_MAX_CLAIM_BYTES 128

static bool claim_piece_ok(const char *v, size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > KEYS_MAX_CLAIM_BYTES) {
        errbuf_set(err, errlen, "is empty or longer than %d bytes", KEYS_MAX_CLAIM_BYTES);
        return false;
    }
    if ((len == 1 && v[0] == '.') || (len == 2 && v[0] == '.' && v[1] == '.')) {
        errbuf_set(err, errlen, "is \".\" or \"..\"");
        return false;
    }
    return plain_text(v, len, true, err, errlen);
}

char *keys_principal_prefix(const char *uploads_prefix, const char *tmpl,
                            keys_claim_fn lookup, void *arg, char *err, size_t errlen)
{
    size_t cap = strlen(uploads_prefix) + strlen(tmpl ? tmpl : "") + 1, len = 0;
    char *out = malloc(cap), why[128];

    if (!out) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(out, uploads_prefix, strlen(uploads_prefix));
    len = strlen(uploads_prefix);
    for (const char *p = tmpl ? tmpl : ""; *p; p++) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (!close) {
            out[len++] = *p;
            continue;
        }
        const char *v = lookup ? lookup(p + 1, (size_t)(close - p - 1), arg) : NULL;
        size_t vl = v ? strlen(v) : 0;
        if (!v || !claim_piece_ok(v, vl, why, sizeof why)) {
            errbuf_set(err, errlen, "the claim %.*s %s", (int)(close - p - 1), p + 1,
                       v ? why : "is missing");
            free(out);
            return NULL;
        }
        char *grown = realloc(out, cap += vl);
        if (!grown) {
            free(out);
            errbuf_set(err, errlen, "out of memory");
            return NULL;
        }
        out = grown;
        memcpy(out + len, v, vl);
        len += vl;
        p = close;
    }
    out[len] = '\0';
    if (len > KEYS_MAX_KEY_BYTES / 2) {
        free(out);
        errbuf_set(err, errlen, "the principal's prefix is longer than %d bytes",
                   KEYS_MAX_KEY_BYTES / 2);
        return NULL;
    }
    return out;
}

static enum keys_access within(const char *s, const char *principal_prefix,
                               char *err, size_t errlen)
{
    if (strncmp(s, principal_prefix, strlen(principal_prefix)) != 0) {
        errbuf_set(err, errlen, "outside your prefix %s", principal_prefix);
        return KEYS_FORBIDDEN;
    }
    return KEYS_ALLOWED;
}

enum keys_access keys_access(const char *key, const char *uploads_prefix,
                             const char *principal_prefix, char *err, size_t errlen)
{
    if (!keys_valid(key, uploads_prefix, err, errlen))
        return KEYS_INVALID;
    return within(key, principal_prefix, err, errlen);
}

enum keys_access keys_list_access(const char *list_prefix, const char *uploads_prefix,
                                  const char *principal_prefix, char *err, size_t errlen)
{
    if (!keys_valid_list_prefix(list_prefix, uploads_prefix, err, errlen))
        return KEYS_INVALID;
    return within(list_prefix, principal_prefix, err, errlen);
}
