/*
 * tls.h - TLS for presignd's own listeners (server.tls): the server context
 * made from a certificate chain and its key.
 *
 * TLS 1.2 or 1.3 only, the "intermediate" cipher list of Mozilla's server
 * side TLS guidelines, ALPN http/1.1, no compression, no renegotiation.
 * Session tickets are on, with the keys OpenSSL draws for each context: a
 * context is made per configuration load, so every generation of workers
 * (every reload) has its own keys, and tickets of a generation long gone
 * are not accepted.
 */
#ifndef PRESIGND_TLS_H
#define PRESIGND_TLS_H

#include <stddef.h>

struct ssl_ctx_st;

/* What a context could not be made of. */
enum tls_fault {
    TLS_FAULT_NONE,
    TLS_FAULT_CERTIFICATE,      /* unreadable, not PEM, no certificate */
    TLS_FAULT_KEY,              /* unreadable, not PEM, or not the certificate's */
    TLS_FAULT_OTHER,            /* out of memory, the library refused a setting */
};

/*
 * A server context for CERTIFICATE (a PEM chain, leaf first) and KEY (PEM),
 * accepting MIN_VERSION ("1.2" or "1.3", as TLS1_x_VERSION) and up. NULL
 * with *FAULT set and ERR filled (OpenSSL's reason).
 */
struct ssl_ctx_st *tls_server_ctx(const char *certificate, const char *key, int min_version,
                                  enum tls_fault *fault, char *err, size_t errlen);
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* The serial number of the context's certificate as hex, for the log
 * (which certificate a generation serves). */
void tls_ctx_serial(struct ssl_ctx_st *ctx, char *out, size_t outlen);

#endif
