/*
 * keys.h - the rules for object keys: building a new upload key from a
 * client's filename, and checking keys and prefixes that clients send back.
 *
 * Every check that protects the bucket outside uploads.prefix lives here, so
 * handlers cannot each get it slightly wrong.
 */
#ifndef PRESIGND_KEYS_H
#define PRESIGND_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_MAX_KEY_BYTES 1024

/*
 * Reduce a client's filename to a safe basename: the part after the last '/'
 * or '\\', control characters and invalid UTF-8 dropped, leading dots and
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
 * A new random uuid4, lower-case, into OUT (36 characters and a NUL). The
 * bytes come from rnd.h's pool, so it is cheap enough for every request
 * and unique across workers.
 */
void keys_uuid4(char out[37]);

/* True when S (LEN bytes) is valid UTF-8 (no overlongs, no surrogates). */
bool keys_utf8_valid(const char *s, size_t len);

#endif
