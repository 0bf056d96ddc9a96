/*
 * fuzz_config.c - libFuzzer harness for cfg_load_string().
 *
 * Besides memory errors (ASan) it checks the loader's contract on every
 * input: either a config and no error lines, or NULL and at least one line,
 * each "NAME:LINE:COL: message" with LINE and COL >= 1; and whatever loads
 * holds the invariants other modules rely on.
 *
 *   scripts/fuzz 60 fuzz_config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_config: contract broken: %s\n", what);
        abort();
    }
}

static void check_line(const char *line)
{
    static const char name[] = "fuzz.yaml:";
    check(strncmp(line, name, sizeof(name) - 1) == 0, "error line starts with the name");
    const char *p = line + sizeof(name) - 1;
    char *end;
    unsigned long l = strtoul(p, &end, 10);
    check(end > p && *end == ':' && l >= 1, "error line has LINE >= 1");
    p = end + 1;
    unsigned long c = strtoul(p, &end, 10);
    check(end > p && end[0] == ':' && end[1] == ' ' && c >= 1, "error line has COL >= 1");
    check(end[2] != '\0', "error line has a message");
    check(strchr(line, '\n') == NULL, "error line is one line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors errs = { 0 };
    struct cfg *cfg = cfg_load_string("fuzz.yaml", (const char *)data, size, &errs);

    if (cfg) {
        check(errs.n == 0, "a loaded config comes with no error lines");
        check(cfg->server.n_listen >= 1, "at least one listen address");
        check(cfg->server.workers >= 1 && cfg->server.workers <= 1024, "workers in 1..1024");
        check(cfg->s3.bucket && strlen(cfg->s3.bucket) >= 3, "a bucket");
        check(cfg->uploads.prefix && cfg->uploads.prefix[0] && cfg->uploads.prefix[0] != '/', "a valid prefix");
        check(cfg->presign.expires >= 1 && cfg->presign.expires <= 604800, "expires in range");
        check(cfg->presign.max_file_size >= 1, "max_file_size >= 1");
        check(!cfg->s3.secret_access_key == !cfg->s3.access_key_id, "keys come in pairs");
        for (size_t i = 0; i < cfg->uploads.n_types; i++) {
            char name[64];
            check(cfg->uploads.types[i].ext[0] == '.', "extensions start with a dot");
            snprintf(name, sizeof(name), "X%s", cfg->uploads.types[i].ext);
            const char *t = cfg_type_for_filename(cfg, name);
            check(t && strcmp(t, cfg->uploads.types[i].type) == 0, "each extension maps to its type");
        }
        (void)cfg_origin_allowed(cfg, "https://example.com");
        cfg_free(cfg);
    } else {
        check(errs.n >= 1, "a failed load has at least one error line");
        for (size_t i = 0; i < errs.n; i++)
            check_line(errs.lines[i]);
    }
    cfg_errors_free(&errs);
    return 0;
}
