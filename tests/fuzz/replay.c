/*
 * replay.c - runs a libFuzzer harness without libFuzzer: every file named
 * on the command line (a directory: every file in it) goes once through
 * LLVMFuzzerTestOneInput, in a buffer of exactly its size. Linked with a
 * harness by `make unit` (and under ASan/UBSan by `make unit-asan`), it
 * turns the committed corpora, tests/fuzz/corpus/NAME/, into regression
 * tests that need no clang: the inputs that once broke a contract stay
 * there and keep being checked.
 *
 *   build/fuzz-replay/NAME tests/fuzz/corpus/NAME
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;

    if (!f || fstat(fileno(f), &st) < 0) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *data = malloc(n ? n : 1);
    if (!data || fread(data, 1, n, f) != n) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    size_t runs = 0;
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= run_file(argv[i]) < 0;
            runs++;
            continue;
        }
        /* A directory, in name order, so that a run is repeatable. */
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char **nn = realloc(names, (n + 1) * sizeof *names);
            if (!nn || asprintf(&nn[n], "%s/%s", argv[i], e->d_name) < 0) {
                fprintf(stderr, "out of memory\n");
                return 2;
            }
            names = nn;
            n++;
        }
        if (d)
            closedir(d);
        qsort(names, n, sizeof *names, cmp);
        for (size_t j = 0; j < n; j++) {
            failed |= run_file(names[j]) < 0;
            runs++;
            free(names[j]);
        }
        free(names);
    }
    printf("%s: %zu inputs replayed\n", argv[0], runs);
    return failed;
}
