/*
 * str.h - the small string operations several modules need: ASCII case
 * folding (locale-independent, as protocols want), control-character
 * checks, trimming and joining.
 */
#ifndef PRESIGND_STR_H
#define PRESIGND_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-case the ASCII letters of S in place (other bytes untouched). */
void str_lower(char *s);

/* True when S (LEN bytes) holds a C0 control character or DEL. */
bool str_has_ctl(const char *s, size_t len);

/* A malloc'd copy of P (N bytes) without leading and trailing spaces,
 * tabs, CRs and LFs; NULL when out of memory. */
char *str_ndup_trim(const char *p, size_t n);

/* ITEMS joined with SEP, malloc'd; NULL when out of memory. */
char *str_join(char *const *items, size_t n, const char *sep);

/* True when S starts with PREFIX. */
bool str_starts(const char *s, const char *prefix);

/* ASCII letter or digit (no locale). */
bool str_is_alnum(char c);

/* True when S (LEN bytes, LEN > 0) is all ASCII digits. */
bool str_is_digits(const char *s, size_t len);

/* Cut S (LEN bytes) back to a whole UTF-8 character: drop a sequence the
 * end cut in half (snprintf into a fixed buffer does that). Returns the
 * new length; S is NUL-terminated there. */
size_t str_utf8_cut(char *s, size_t len);

/* Wipe S (a secret) and free it; NULL is fine. */
void str_free_secret(char *s);

#endif
