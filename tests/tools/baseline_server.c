/*
 * baseline_server.c - the plain evhttp server `make bench` compares presignd
 * against.
 *
 * Same process shape as presignd (a master that binds one socket, then N
 * forked workers, each with its own event_base and evhttp accepting on the
 * inherited socket) but no work per request: every request, whatever its
 * path or method, gets 200 with a fixed JSON body of a given size. The gap
 * between the two is what presignd's own work (routing, JSON, signing,
 * logging, metrics) costs.
 *
 *   baseline_server -l 127.0.0.1:PORT -w WORKERS -s BODY_BYTES
 *
 * TERM/INT to the master stops the workers and the master. Workers die with
 * the master (PR_SET_PDEATHSIG).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static char *body;
static size_t body_len;
static volatile sig_atomic_t stop_flag;

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    /* A reference, not a copy: the body never changes. */
    evbuffer_add_reference(out, body, body_len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    event_base_loopbreak(arg);
}

static int worker(int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 0;
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (http == NULL || evhttp_accept_socket(http, fd) != 0) {
        fprintf(stderr, "baseline_server: worker setup failed\n");
        return 1;
    }
    /* The same limits presignd sets, so neither side is unbounded. */
    evhttp_set_max_headers_size(http, 8192);
    evhttp_set_max_body_size(http, 16384);
    evhttp_set_timeout(http, 30);
    evhttp_set_gencb(http, on_request, NULL);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST
                               | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    struct event *term = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}

static void on_master_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int listen_on(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sin = { .sin_family = AF_INET };
    sin.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 4096) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:8080";
    int workers = 2;
    long size = 512;
    int opt;
    while ((opt = getopt(argc, argv, "l:w:s:")) != -1) {
        switch (opt) {
        case 'l': addr = optarg; break;
        case 'w': workers = atoi(optarg); break;
        case 's': size = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-l HOST:PORT] [-w WORKERS] [-s BODY_BYTES]\n", argv[0]);
            return 2;
        }
    }
    if (workers < 1 || workers > 256 || size < 2 || size > 1 << 20) {
        fprintf(stderr, "baseline_server: bad -w or -s\n");
        return 2;
    }

    /* A valid JSON object of exactly SIZE bytes: {"p":"xxx..."} */
    body_len = (size_t)size;
    body = malloc(body_len);
    if (body == NULL)
        return 1;
    if (body_len >= 8) {
        memcpy(body, "{\"p\":\"", 6);
        memset(body + 6, 'x', body_len - 8);
        memcpy(body + body_len - 2, "\"}", 2);
    } else {
        memset(body, ' ', body_len);
        body[0] = '{';
        body[body_len - 1] = '}';
    }

    int fd = listen_on(addr);
    if (fd < 0) {
        fprintf(stderr, "baseline_server: cannot listen on %s: %s\n", addr, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    struct sigaction sa = { .sa_handler = on_master_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    pid_t *pids = calloc((size_t)workers, sizeof(*pids));
    if (pids == NULL)
        return 1;
    for (int i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            stop_flag = 1;
            break;
        }
        if (pids[i] == 0) {
            struct sigaction dfl = { .sa_handler = SIG_DFL };
            sigaction(SIGTERM, &dfl, NULL);
            sigaction(SIGINT, &dfl, NULL);
            _exit(worker(fd));
        }
    }
    printf("baseline_server: pid %d, %d workers on %s, body %zu bytes\n",
           (int)getpid(), workers, addr, body_len);
    fflush(stdout);

    int live = workers;
    while (!stop_flag && live > 0) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p > 0) {
            live--;
            for (int i = 0; i < workers; i++)
                if (pids[i] == p)
                    pids[i] = 0;    /* never signal a reaped (reusable) pid */
        }
    }
    for (int i = 0; i < workers; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    close(fd);
    free(pids);
    free(body);
    return 0;
}
