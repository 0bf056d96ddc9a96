/*
 * keys.h - the rules for object keys: building a new upload key from a
 * client's filename, and checking keys and prefixes that clients send back.
 *
 * Every check that protects the bucket outside uploads.prefix, and a
 * principal's part of it outside its own prefix, lives here, so handlers
 * cannot each get it slightly wrong.
 */
#ifndef PRESIGND_KEYS_H
#define PRESIGND_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_MAX_KEY_BYTES 1024

/*
 * Reduce a client's filename to a safe basename: the part after the last '/'
 * or '\\', control characters, invisible ones (bidi controls, zero-width
 * characters, the BOM, soft hyphens) and invalid UTF-8 dropped, leading dots and
 * spaces trimmed, cut to MAX_BYTES on a UTF-8 character boundary (keeping the
 * extension when it can). Returns a malloc'd string, or NULL with ERR filled
 * when nothing usable is left.
 */
char *keys_sanitize_filename(const char *filename, size_t max_bytes,
                             char *err, size_t errlen);

/*
 * New key: PREFIX + uuid4 + "-" + sanitized FILENAME. Returns malloc'd key or
 * NULL with ERR filled.
 */
char *keys_new_upload_key(const char *prefix, const char *filename,
                          size_t max_filename_bytes, char *err, size_t errlen);

/*
 * A name a client wants a download saved under (not part of any key): 1 to
 * MAX_BYTES bytes of valid UTF-8 without control characters or characters
 * that draw nothing or reorder text (bidi controls, zero-width characters),
 * which make one name look like another. False with ERR filled ("must ...").
 */
bool keys_display_name_ok(const char *name, size_t max_bytes, char *err, size_t errlen);

/* The name a file was uploaded under: the last segment of KEY without the
 * "uuid-" keys_new_upload_key put in front (the whole segment when there
 * is none). Points into KEY. */
const char *keys_original_filename(const char *key);

/*
 * A key a client sent: inside PREFIX (and longer than it), valid UTF-8, no
 * control characters, no "." or ".." segment, no empty segment, at most
 * KEYS_MAX_KEY_BYTES bytes. Returns true, or false with ERR filled.
 */
bool keys_valid(const char *key, const char *prefix, char *err, size_t errlen);

/*
 * A listing prefix a client sent: must start with PREFIX (equal is fine), same
 * character rules as keys_valid (a trailing '/' is allowed).
 */
bool keys_valid_list_prefix(const char *list_prefix, const char *prefix,
                            char *err, size_t errlen);

/*
 * The key prefix of a principal: UPLOADS_PREFIX followed by TEMPLATE with
 * every "{claim}" replaced by LOOKUP(name, name_len, ARG) (an API key's
 * prefix has none). A claim value becomes part of a key only if it is one
 * plain piece of a path segment: 1..128 bytes of valid UTF-8 without '/',
 * '\\', control or invisible formatting characters, and not "." or "..";
 * anything else (a `sub` of "../bob", say) is refused: NULL with ERR
 * filled, and the request must be refused (403). Returns a malloc'd prefix.
 */
typedef const char *(*keys_claim_fn)(const char *name, size_t len, void *arg);
char *keys_principal_prefix(const char *uploads_prefix, const char *tmpl,
                            keys_claim_fn lookup, void *arg, char *err, size_t errlen);

/* What a principal may do with a key or listing prefix a client sent. */
enum keys_access {
    KEYS_ALLOWED,
    KEYS_INVALID,       /* not a valid key, or outside uploads.prefix: 400 */
    KEYS_FORBIDDEN,     /* valid, but outside the principal's prefix: 403 */
};

/*
 * The one check of a client's KEY: valid and inside UPLOADS_PREFIX
 * (keys_valid), then inside PRINCIPAL_PREFIX (which starts with
 * UPLOADS_PREFIX; the same string when there is no principal). ERR says why.
 */
enum keys_access keys_access(const char *key, const char *uploads_prefix,
                             const char *principal_prefix, char *err, size_t errlen);

/* The same for a listing prefix (keys_valid_list_prefix, then the
 * principal's prefix must contain the whole listing). */
enum keys_access keys_list_access(const char *list_prefix, const char *uploads_prefix,
                                  const char *principal_prefix, char *err, size_t errlen);

/*
 * A new random uuid4, lower-case, into OUT (36 characters and a NUL). The
 * bytes come from rnd.h's pool, so it is cheap enough for every request
 * and unique across workers.
 */
void keys_uuid4(char out[37]);

/* True when S (LEN bytes) is valid UTF-8 (no overlongs, no surrogates). */
bool keys_utf8_valid(const char *s, size_t len);

#endif
