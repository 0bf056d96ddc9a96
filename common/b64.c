/*
 * b64.c - base64 in both alphabets (see b64.h).
 *
 * EVP_DecodeBlock decodes the standard alphabet only, always with
 * padding, and accepts some things a strict parser must not (whitespace,
 * non-zero unused bits); the checks around it make it strict, and the URL
 * alphabet is translated first.
 */
#include "b64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static bool std_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

bool b64_decode(const char *in, size_t len, bool url, unsigned char *out, size_t *out_len)
{
    char stack[512], *buf = stack;
    size_t pad = 0, n = len;

    *out_len = 0;
    /* Padding: required (and only as needed) in the standard alphabet,
     * optional in the URL one. */
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (!url && (len % 4 != 0))
        return false;
    if (url && pad && (n + pad) % 4 != 0)
        return false;
    if (n % 4 == 1)
        return false;
    size_t full = (n + 3) / 4 * 4;
    if (full + 1 > sizeof stack && !(buf = malloc(full + 1)))
        return false;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char c = in[i];
        if (url) {
            if (c == '-')
                c = '+';
            else if (c == '_')
                c = '/';
            else if (c == '+' || c == '/')
                ok = false;
        }
        ok = ok && std_char(c);
        buf[i] = c;
    }
    for (size_t i = n; i < full; i++)
        buf[i] = '=';
    buf[full] = '\0';
    int got = ok && full ? EVP_DecodeBlock(out, (const unsigned char *)buf, (int)full) : 0;
    if (ok && full && got < 0)
        ok = false;
    if (ok) {
        size_t missing = full - n;      /* '=' added or given */
        *out_len = (size_t)got - missing;
        /* Unused bits of the last character must be zero (canonical). */
        if (missing) {
            static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            const char *pos = strchr(alphabet, buf[n - 1]);
            int v = pos ? (int)(pos - alphabet) : 0;
            if ((missing == 1 && (v & 0x3)) || (missing == 2 && (v & 0xf)))
                ok = false;
        }
    }
    if (buf != stack)
        free(buf);
    if (!ok)
        *out_len = 0;
    return ok;
}

size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}
