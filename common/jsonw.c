/*
 * jsonw.c - JSON text into a struct buf (see jsonw.h).
 */
#include "jsonw.h"

#include <stdbool.h>
#include <string.h>

#include "buf.h"

static const char hex[] = "0123456789abcdef";

/*
 * Eight bytes at a time: true when the word X may hold a byte that JSON
 * strings escape (below 0x20, '"' or '\\'), or with HIGH also 0x7f and
 * above. The classic "has a byte less than n / equal to n" tests: exact
 * about whether some byte matches, which is all a skip needs.
 */
static bool word_has_special(uint64_t x, bool high)
{
    const uint64_t ones = 0x0101010101010101ULL, top = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t hit = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);

    if (high) {
        uint64_t d = x ^ (ones * 0x7f);
        hit |= x | ((d - ones) & ~d);
    }
    return (hit & top) != 0;
}

static bool byte_special(unsigned char c, bool high)
{
    return c < 0x20 || c == '"' || c == '\\' || (high && c >= 0x7f);
}

/* Length of the run at S (at most LEN bytes) that needs no escape. */
static size_t plain_run(const unsigned char *s, size_t len, bool high)
{
    size_t i = 0;

    for (;;) {
        while (i + 8 <= len) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (word_has_special(x, high))
                break;
            i += 8;
        }
        if (i >= len || byte_special(s[i], high))
            return i;
        i++;
    }
}

/* The escaped inside of S, into room reserved by the caller (6 * LEN). */
static char *escape_into(char *o, const char *s, size_t len, bool ascii)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        size_t run = plain_run(u + i, len - i, ascii);
        memcpy(o, s + i, run);
        o += run;
        i += run;
        if (i >= len)
            break;
        unsigned char c = u[i++];
        char e = 0;
        if (c == '"' || c == '\\')
            e = (char)c;
        else if (!ascii)
            e = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' :
                c == '\r' ? 'r' : c == '\t' ? 't' : 0;
        *o++ = '\\';
        if (e) {
            *o++ = e;
        } else {
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    return o;
}

static void put_escaped(struct buf *b, const char *s, size_t len, bool ascii, bool quotes)
{
    /* Room for the worst case, whatever the limit says: the limit is
     * about what is written, checked below. */
    size_t limit = b->limit;
    b->limit = 0;
    bool ok = buf_reserve(b, 6 * len + 2);
    b->limit = limit;
    if (!ok)
        return;
    char *o = b->p + b->len;
    if (quotes)
        *o++ = '"';
    o = escape_into(o, s, len, ascii);
    if (quotes)
        *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    if (b->limit && b->len > b->limit)
        b->overflow = true;
}

void jsonw_str(struct buf *b, const char *s, size_t len)
{
    put_escaped(b, s, len, false, true);
}

void jsonw_str_ascii(struct buf *b, const char *s, size_t len)
{
    put_escaped(b, s, len, true, true);
}

void jsonw_escape_ascii(struct buf *b, const char *s, size_t len)
{
    put_escaped(b, s, len, true, false);
}

void jsonw_u64(struct buf *b, uint64_t v)
{
    char num[24], *end = num + sizeof num, *p = end;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_addn(b, p, (size_t)(end - p));
}

void jsonw_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_addc(b, '-');
        jsonw_u64(b, -(uint64_t)v);
    } else {
        jsonw_u64(b, (uint64_t)v);
    }
}

void jsonw_key(struct buf *b, const char *name)
{
    if (b->len && b->p[b->len - 1] != '{')
        buf_addc(b, ',');
    buf_addc(b, '"');
    buf_add(b, name);
    buf_add(b, "\":");
}
