/*
 * tls.c - TLS server contexts (see tls.h).
 */
#include "tls.h"

#include <stdio.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "errbuf.h"

/* Mozilla's "intermediate" configuration (TLS 1.2 suites; TLS 1.3 has its
 * own, which OpenSSL's defaults already match). */
#define TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"   \
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"   \
                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"   \
                      "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"         \
                      "DHE-RSA-CHACHA20-POLY1305"

/* The last error OpenSSL queued, into ERR after PREFIX; the queue emptied. */
static void ssl_error(const char *prefix, char *err, size_t errlen)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";

    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    errbuf_set(err, errlen, "%s%s%s", prefix, e ? ": " : "", reason);
}

/* ALPN: HTTP/1.1 is all presignd speaks. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char mine[] = "\x08http/1.1";
    unsigned char *sel = NULL;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, mine, sizeof mine - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tls_server_ctx(const char *certificate, const char *key, int min_version,
                        enum tls_fault *fault, char *err, size_t errlen)
{
    ERR_clear_error();
    *fault = TLS_FAULT_OTHER;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error("cannot make a TLS context", err, errlen);
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, min_version) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS)) {
        ssl_error("TLS settings refused", err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    /* Partial writes are how a bufferevent writes. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    /* OpenSSL says "system lib" for a file it cannot open: say why. */
    FILE *f = fopen(certificate, "r");
    if (!f) {
        *fault = TLS_FAULT_CERTIFICATE;
        errbuf_set(err, errlen, "cannot read the certificate: %s", strerror(errno));
        SSL_CTX_free(ctx);
        return NULL;
    }
    fclose(f);
    if (!(f = fopen(key, "r"))) {
        *fault = TLS_FAULT_KEY;
        errbuf_set(err, errlen, "cannot read the key: %s", strerror(errno));
        SSL_CTX_free(ctx);
        return NULL;
    }
    fclose(f);
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
        *fault = TLS_FAULT_CERTIFICATE;
        ssl_error("cannot use the certificate", err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        *fault = TLS_FAULT_KEY;
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        ssl_error(mismatch ? "the key does not match the certificate" : "cannot use the key",
                  err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *fault = TLS_FAULT_KEY;
        ssl_error("the key does not match the certificate", err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    *fault = TLS_FAULT_NONE;
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

void tls_ctx_serial(SSL_CTX *ctx, char *out, size_t outlen)
{
    X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    snprintf(out, outlen, "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}
