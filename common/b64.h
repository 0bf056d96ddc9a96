/*
 * b64.h - base64 (RFC 4648) in its two alphabets: the standard one
 * (Content-MD5, x-amz-checksum-sha256, POST policies) and the URL-safe one
 * without padding (JWTs), over OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.
 */
#ifndef PRESIGND_B64_H
#define PRESIGND_B64_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Decode IN (LEN characters) into OUT (room for 3 * LEN / 4 + 3 bytes);
 * *OUT_LEN gets the byte count. URL: the URL-safe alphabet, padding
 * optional; else the standard one, padding required. False for anything
 * that is not canonical base64 of that kind (stray characters, bad
 * padding, non-zero unused bits).
 */
bool b64_decode(const char *in, size_t len, bool url, unsigned char *out, size_t *out_len);

/* Encode N bytes of IN into OUT (room for 4 * ((N + 2) / 3) + 1), standard
 * alphabet with padding; returns the length written (without the NUL). */
size_t b64_encode(const unsigned char *in, size_t n, char *out);

#endif
