/*
 * jsonw.h - writing JSON text straight into a struct buf, for the lines and
 * answers on hot paths (access log, audit log, the upload answer) where
 * building a json-c tree would cost more than the rest of the work.
 * Everything else is written with json-c.
 *
 * Two escapings: jsonw_str writes bytes as json-c does with
 * JSON_C_TO_STRING_NOSLASHESCAPE ('"', '\\', \b \f \n \r \t, other
 * controls as \u00xx, UTF-8 as is), so an answer formatted here has the
 * same bytes as one made with json-c; jsonw_str_ascii also escapes every
 * byte from 0x7f up (\u00XX), which keeps a log line valid JSON and valid
 * UTF-8 whatever bytes a client put into its request.
 */
#ifndef PRESIGND_JSONW_H
#define PRESIGND_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* S (LEN bytes) as a quoted JSON string. */
void jsonw_str(struct buf *b, const char *s, size_t len);
void jsonw_str_ascii(struct buf *b, const char *s, size_t len);

/* The inside of a JSON string (no quotes), ASCII-only escaping. */
void jsonw_escape_ascii(struct buf *b, const char *s, size_t len);

void jsonw_i64(struct buf *b, int64_t v);
void jsonw_u64(struct buf *b, uint64_t v);

/* ',"NAME":' (or '"NAME":' right after '{'); NAME is a literal key. */
void jsonw_key(struct buf *b, const char *name);

#endif
