/*
 * str.c - small string operations (see str.h).
 */
#include "str.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void str_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

bool str_has_ctl(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *str_ndup_trim(const char *p, size_t n)
{
    while (n && blank(*p)) {
        p++;
        n--;
    }
    while (n && blank(p[n - 1]))
        n--;
    return strndup(p, n);
}

char *str_join(char *const *items, size_t n, const char *sep)
{
    size_t slen = strlen(sep), len = 1;

    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + slen;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(p, sep, slen);
            p += slen;
        }
        size_t l = strlen(items[i]);
        memcpy(p, items[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

bool str_starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool str_is_digits(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

void str_free_secret(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

size_t str_utf8_cut(char *s, size_t len)
{
    /* Back over at most three continuation bytes to the lead byte; keep
     * the sequence only if it is all there. */
    size_t i = len, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i > 0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (lead >= 0xC0 && need != cont)
            len = i - 1;
        else if (lead < 0x80 && cont)
            len = i;        /* stray continuation bytes */
    }
    s[len] = '\0';
    return len;
}
