/*
 * http.h - small, pure helpers of the HTTP API: request ids, time stamps in
 * the formats the API and the access log use, media-type checks and reason
 * phrases.
 *
 * Nothing here knows about evhttp or S3, so each piece can be unit-tested
 * on its own.
 */
#ifndef PRESIGND_HTTP_H
#define PRESIGND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HTTP_REQUEST_ID_MAX 128
#define HTTP_UUID_LEN 36

/* True when ID is 1..128 characters of [A-Za-z0-9._-]. */
bool http_request_id_sane(const char *id);

/* A new random uuid4 in OUT (HTTP_UUID_LEN + 1 bytes), lower-case; the
 * randomness comes from a pool per thread, emptied on fork (keys_uuid4). */
void http_request_id_new(char *out);

/* "2026-11-28T06:15:55.123Z" for TS (UTC). Returns the length written. */
size_t http_time_iso_ms(const struct timespec *ts, char *buf, size_t len);

/*
 * A time S3 gave us, either ISO 8601 from ListObjectsV2
 * ("2026-11-28T06:15:55.000Z") or an HTTP-date from HeadObject
 * ("Sat, 28 Nov 2026 06:15:55 GMT"), as "2026-11-28T06:15:55Z".
 * Returns false (OUT untouched) when IN is neither.
 */
bool http_time_normalize(const char *in, char *out, size_t outlen);

/* "2026-11-28T06:15:55Z" for T (UTC): RFC 3339, whole seconds, as the
 * answers' expires_at. Returns the length written, 0 when LEN is short. */
size_t http_time_iso(time_t t, char *buf, size_t len);

/* True when the media type of CONTENT_TYPE (the part before any ';',
 * blanks trimmed) is TYPE, in any case: "Text/CSV; charset=utf-8" is
 * text/csv. */
bool http_media_type_is(const char *content_type, const char *type);

/* True for "application/json", any case, with or without parameters. */
bool http_is_json_media_type(const char *content_type);

/* True when V is 1..MAX bytes of visible ASCII, spaces and tabs, not
 * starting or ending with a blank: a value that goes into a signed header
 * exactly as a client will send it. */
bool http_header_value_ok(const char *v, size_t max);

/*
 * A Content-Disposition value (RFC 6266) for DISPOSITION ("attachment" or
 * "inline") and FILENAME (valid UTF-8 without control characters), into B:
 * filename="..." holds an ASCII fallback (anything but plain printable
 * ASCII, '"', '\', '%' and ';' becomes '_') and, when that differs from
 * the name, filename*=UTF-8''... (RFC 5987) holds the exact name, which
 * browsers prefer.
 */
struct buf;
void http_content_disposition(struct buf *b, const char *disposition, const char *filename);

/* Reason phrase for STATUS ("OK", "Not Found", ...). */
const char *http_reason(int status);

#endif
