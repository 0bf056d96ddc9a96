/*
 * http.h - small, pure helpers of the HTTP API: request ids, time stamps in
 * the formats the API and the access log use, media-type checks, reason
 * phrases and JSON string escaping for hand-built lines.
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

/* True for "application/json", any case, with or without parameters. */
bool http_is_json_media_type(const char *content_type);

/* Reason phrase for STATUS ("OK", "Not Found", ...). */
const char *http_reason(int status);

/*
 * Append S (LEN bytes) to BUF at POS as the inside of a JSON string (no
 * quotes). '"', '\\', control characters and every byte >= 0x80 are
 * escaped (\u00XX), so the line stays valid JSON and valid UTF-8 whatever
 * bytes a client put in its request line. Returns the new position, or SIZE
 * when it did not fit (the caller then stops writing).
 */
size_t http_json_escape(char *buf, size_t pos, size_t size,
                        const char *s, size_t len);

/*
 * Append S (LEN bytes) to BUF at POS as a quoted JSON string, escaped the
 * way json-c writes strings with JSON_C_TO_STRING_NOSLASHESCAPE ('"', '\\',
 * \b \f \n \r \t, other control characters as \u00xx; every other byte,
 * UTF-8 included, as is), so an answer formatted directly has the same bytes
 * json-c would produce. BUF needs room for 6 * LEN + 2 bytes from POS.
 * Returns the new position.
 */
size_t http_json_quote(char *buf, size_t pos, const char *s, size_t len);

#endif
