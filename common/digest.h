/*
 * digest.h - SHA-256 and HMAC-SHA256 for every signer in presignd (SigV4,
 * POST policies), with the algorithms fetched from libcrypto once per
 * process rather than looked up by name on every call, which cost more
 * than the hashing itself of a presign.
 */
#ifndef PRESIGND_DIGEST_H
#define PRESIGND_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

bool digest_sha256(const void *data, size_t len, unsigned char out[32]);

/*
 * HMAC-SHA256 of DATA under KEY. REUSE: may run on a context kept for the
 * hot path (keys that stay in memory anyway: a cached signing key); else
 * a fresh context is used and cleansed at once, so a secret never stays
 * behind in a cached one.
 */
bool digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32], bool reuse);

/* Forget the key the hot-path context holds (credentials replaced). */
void digest_forget_reused_key(void);

/* N bytes as 2N lower-case hex digits and a NUL into OUT. */
void digest_hex(const unsigned char *in, size_t n, char *out);

/* Hex SHA-256 of DATA into OUT (65 bytes with the NUL). */
void digest_sha256_hex(const void *data, size_t len, char out[65]);

#endif
