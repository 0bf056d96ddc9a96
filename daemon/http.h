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

/* True for "application/json", any case, with or without parameters. */
bool http_is_json_media_type(const char *content_type);

/* Reason phrase for STATUS ("OK", "Not Found", ...). */
const char *http_reason(int status);

#endif
