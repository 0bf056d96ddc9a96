/*
 * main.c - presignd's command line: -c FILE runs the daemon in the
 * foreground, -t checks the file and exits, -V prints the version, -R PID
 * reloads a running master and waits for the outcome (systemd's ExecReload).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "master.h"
#include "reloadctl.h"
#include "wipealloc.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: presignd -c FILE        run in the foreground\n"
            "       presignd -t -c FILE     check FILE and exit\n"
            "       presignd -V             print the version and exit\n"
            "       presignd -R PID         reload the master PID, wait for the outcome\n"
            "       presignd -h             this help\n");
}

static void print_errors(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->lines[i]);
}

/*
 * How long -R waits for the master's answer. A reload is over once the new
 * workers serve (the master gives them 30 s) and the rejection of a bad file
 * is immediate, so 120 s only ends a wait on a master that cannot answer
 * (e.g. an older binary): -R then exits 1 and systemd reports the reload as
 * failed rather than hanging.
 */
#define RELOAD_TIMEOUT_SEC 120

int main(int argc, char **argv)
{
    long reload_pid = 0;
    const char *path = NULL;
    int test_only = 0;
    int opt;

    /* Before libevent allocates anything: its buffers hold requests. */
    wipealloc_install_libevent();
    while ((opt = getopt(argc, argv, "c:tVhR:")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'V':
            printf("presignd %s\n", PRESIGND_VERSION);
            return 0;
        case 'R': {
            char *end;
            errno = 0;
            reload_pid = strtol(optarg, &end, 10);
            if (errno || *end || reload_pid <= 1) {
                fprintf(stderr, "presignd: -R needs the master's pid, not \"%s\"\n", optarg);
                return 2;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (reload_pid && optind == argc && !test_only)
        return reloadctl_request((pid_t)reload_pid, RELOAD_TIMEOUT_SEC);
    if (optind != argc || !path || reload_pid) {
        usage(stderr);
        return 2;
    }

    struct cfg_errors errs = { 0 };
    struct cfg *cfg = cfg_load(path, &errs);
    if (!cfg) {
        /* Exactly one line per problem: tools read them as FILE:LINE:COL. */
        print_errors(&errs);
        cfg_errors_free(&errs);
        return 1;
    }
    cfg_errors_free(&errs);

    if (test_only) {
        printf("configuration file %s test is successful\n", path);
        cfg_free(cfg);
        return 0;
    }
    return master_run(cfg);
}
