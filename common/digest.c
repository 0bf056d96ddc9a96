/*
 * digest.c - SHA-256 and HMAC-SHA256 on libcrypto (see digest.h).
 */
#include "digest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

void digest_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/*
 * SHA-256 and HMAC-SHA256, fetched from the provider once per process.
 * EVP_sha256() and HMAC() look the algorithm up by name on every call,
 * which cost more than the hashing itself of a presign. The fetched objects
 * are immutable and shared by all threads. The hot path (hashing the
 * canonical request, the final HMAC with the signing key) reuses one
 * context of each kind, taken with an atomic flag; a caller that finds it
 * taken (another thread) works on a fresh copy instead. The derivation of
 * the signing key from the secret always uses a fresh context, freed (and
 * cleansed) at once, so the secret never stays behind in a cached one.
 */
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC_CTX *hmac_proto;     /* HMAC with SHA-256 selected, no key */
static EVP_MAC_CTX *hmac_reused;    /* a copy of it for the hot path */
static unsigned char hmac_reused_key[32];   /* the key HMAC_REUSED holds */
static bool hmac_reused_keyed;
static EVP_MD_CTX *md_reused;
static atomic_flag hmac_busy = ATOMIC_FLAG_INIT;
static atomic_flag md_busy = ATOMIC_FLAG_INIT;

static void crypto_init(void)
{
    EVP_MAC *mac;

    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        return;
    hmac_proto = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);          /* the context holds its own reference */
    if (hmac_proto) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        if (!EVP_MAC_CTX_set_params(hmac_proto, params)) {
            EVP_MAC_CTX_free(hmac_proto);
            hmac_proto = NULL;
        }
    }
    if (hmac_proto)
        hmac_reused = EVP_MAC_CTX_dup(hmac_proto);
    md_reused = EVP_MD_CTX_new();
}

bool digest_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    bool ok;

    pthread_once(&crypto_once, crypto_init);
    if (!sha256_md)
        return false;
    if (!md_reused || atomic_flag_test_and_set_explicit(&md_busy, memory_order_acquire))
        return EVP_Digest(data, len, out, &n, sha256_md, NULL) && n == 32;
    ok = EVP_DigestInit_ex2(md_reused, sha256_md, NULL) &&
         EVP_DigestUpdate(md_reused, data, len) &&
         EVP_DigestFinal_ex(md_reused, out, &n) && n == 32;
    atomic_flag_clear_explicit(&md_busy, memory_order_release);
    return ok;
}

bool digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32], bool reuse)
{
    EVP_MAC_CTX *ctx = NULL;
    size_t outlen = 0;
    bool ok, shared = false;

    pthread_once(&crypto_once, crypto_init);
    if (!hmac_proto)
        return false;
    if (reuse && hmac_reused &&
        !atomic_flag_test_and_set_explicit(&hmac_busy, memory_order_acquire)) {
        ctx = hmac_reused;
        shared = true;
    } else if (!(ctx = EVP_MAC_CTX_dup(hmac_proto))) {
        return false;
    }
    if (shared && hmac_reused_keyed && keylen == sizeof hmac_reused_key &&
        CRYPTO_memcmp(key, hmac_reused_key, keylen) == 0) {
        /* Same key as last time (the signing key changes daily): a NULL
         * key restarts from the keyed state instead of hashing the key
         * pads again. */
        ok = EVP_MAC_init(ctx, NULL, 0, NULL);
    } else {
        ok = EVP_MAC_init(ctx, key, keylen, NULL);
        if (shared) {
            hmac_reused_keyed = ok && keylen == sizeof hmac_reused_key;
            if (hmac_reused_keyed)
                memcpy(hmac_reused_key, key, keylen);
        }
    }
    ok = ok && EVP_MAC_update(ctx, data, len) &&
         EVP_MAC_final(ctx, out, &outlen, 32) && outlen == 32;
    if (shared)
        atomic_flag_clear_explicit(&hmac_busy, memory_order_release);
    else
        EVP_MAC_CTX_free(ctx);  /* clears the keyed state */
    return ok;
}

void digest_forget_reused_key(void)
{
    /* The hot-path HMAC context holds the last key: start it afresh
     * (unless another thread signs with it right now). */
    if (hmac_reused_keyed &&
        !atomic_flag_test_and_set_explicit(&hmac_busy, memory_order_acquire)) {
        EVP_MAC_CTX *fresh = EVP_MAC_CTX_dup(hmac_proto);
        if (fresh) {
            EVP_MAC_CTX_free(hmac_reused);
            hmac_reused = fresh;
        }
        OPENSSL_cleanse(hmac_reused_key, sizeof hmac_reused_key);
        hmac_reused_keyed = false;
        atomic_flag_clear_explicit(&hmac_busy, memory_order_release);
    }
}

void digest_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];

    if (!digest_sha256(data, len, md)) {
        /* Only on a broken libcrypto; an impossible hash makes the request
         * fail loudly at S3 instead of being signed with garbage. */
        memset(out, '0', 64);
        out[64] = '\0';
        return;
    }
    digest_hex(md, 32, out);
}
