/*
 * fuzz_keys.c - libFuzzer harness for the key rules (common/keys.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
 *         tests/fuzz/fuzz_keys.c common/keys.c -luuid -o build/fuzz_keys
 *
 * Besides "no crash", it checks the properties the rest of presignd relies
 * on: a sanitized filename is non-empty, within its byte limit, valid UTF-8,
 * free of separators, control characters and leading dots/spaces, and
 * unchanged when sanitized again; every key
 * keys_new_upload_key() makes passes keys_valid(); whatever keys_valid()
 * accepts is inside the prefix, valid UTF-8 and has no "." / ".." / empty
 * segment.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PFX "uploads/"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_segments(const char *s)
{
    const char *seg = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - seg);
            check(n != 0);
            check(!(n == 1 && seg[0] == '.'));
            check(!(n == 2 && seg[0] == '.' && seg[1] == '.'));
            if (*p == '\0')
                break;
            seg = p + 1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    /* First byte picks the filename limit; the rest is the input. */
    size_t max = size ? (size_t)data[0] + 1 : 1;
    char *s = malloc(size + 1);

    if (!s)
        return 0;
    if (size)
        memcpy(s, data + 1, size - 1);
    s[size ? size - 1 : 0] = '\0';

    char *name = keys_sanitize_filename(s, max, err, sizeof(err));
    if (name) {
        size_t n = strlen(name);
        check(n > 0 && n <= max);
        check(keys_utf8_valid(name, n));
        check(!strchr(name, '/') && !strchr(name, '\\'));
        check(name[0] != '.' && name[0] != ' ');
        for (size_t i = 0; i < n; i++)
            check((unsigned char)name[i] >= 0x20 && name[i] != 0x7f);
        /* Idempotent: the daemon sanitizes once for the type check and
         * keys_new_upload_key() again; both must agree. */
        char *again = keys_sanitize_filename(name, max, err, sizeof(err));
        check(again && strcmp(again, name) == 0);
        free(again);
        free(name);
    }

    char *key = keys_new_upload_key(PFX, s, max, err, sizeof(err));
    if (key) {
        check(keys_valid(key, PFX, err, sizeof(err)));
        free(key);
    }

    if (keys_valid(s, PFX, err, sizeof(err))) {
        size_t n = strlen(s);
        check(n > strlen(PFX) && n <= KEYS_MAX_KEY_BYTES);
        check(strncmp(s, PFX, strlen(PFX)) == 0);
        check(keys_utf8_valid(s, n));
        check_segments(s);
    }
    (void)keys_valid_list_prefix(s, PFX, err, sizeof(err));
    free(s);
    return 0;
}
