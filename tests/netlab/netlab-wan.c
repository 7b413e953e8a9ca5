/*
 * netlab-wan.c - a userspace wide-area link for the network fault lab, for
 * kernels without sch_netem (netem is what `netlab netem` asks for; this
 * machine's kernel answers "Specified qdisc kind is unknown").
 *
 * It replaces one veth link of the lab by two TUN devices, one in each of
 * the two namespaces that link joined, and is the wire between them: every
 * IP packet one end sends is read here and written into the other end
 * after a fixed one-way delay, unless the seeded PRNG drops it (loss) or
 * holds it back a little longer so that later packets overtake it
 * (reordering).  Both kernels' TCP stacks then see what a long, lossy path
 * gives them: a real RTT, lost segments, retransmissions, out-of-order
 * arrivals.  The TUN ends sit in the leg's own namespaces (opened after
 * setns() into each), so no policy routing is needed: each end's route to
 * the other's subnet is simply its TUN device.
 *
 *   netlab-wan NS_A IFACE_A NS_B IFACE_B DELAY_MS LOSS_PERMILLE REORDER_PCT
 *              SEED READY_FILE
 *
 * Creates the TUN devices (TUNSETIFF; they live as long as this process),
 * writes READY_FILE, then forwards until SIGTERM or SIGINT, and prints one
 * line of counts per direction on stdout before it exits 0.  The addresses
 * and the link state are set by `netlab addr` / `netlab link-up`.
 * IPv4 and IPv6 packets alike, no options: it forwards whole packets.
 *
 * Bounded: each direction queues at most WAN_QUEUE packets of at most
 * WAN_PKT bytes (a full queue drops, as a router would, and counts it),
 * and at most WAN_LATE packets held back for reordering.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "netlab-args.h"

#define NETNS_RUN_DIR "/run/netns"
#define WAN_QUEUE 8192          /* packets in flight per direction */
#define WAN_LATE 256            /* packets held back for reordering, per direction */
#define WAN_PKT 2048            /* a TUN's default MTU is 1500 */
#define WAN_BATCH 64            /* packets read per wake-up and fd, for fairness */
/* How much longer a reordered packet waits: later ones overtake it. */
#define WAN_REORDER_EXTRA_NS (10LL * 1000 * 1000)

typedef struct {
    int64_t due_ns;
    uint16_t len;
    unsigned char data[WAN_PKT];
} Packet;

typedef struct {
    const char *name;           /* "a->b" */
    int in, out;
    Packet *ring;               /* FIFO: constant delay keeps it in due order */
    unsigned head, count;
    Packet *late;               /* held back: unordered, small, scanned */
    unsigned n_late;
    uint64_t forwarded, lost, reordered, overflow, too_big, read_errors, write_errors;
} Direction;

static volatile sig_atomic_t stop;
static uint64_t rng_state;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* splitmix64: small, seedable, good enough for drop decisions. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* TRUE with probability num/den. */
static int rng_chance(long num, long den)
{
    return num > 0 && (long)(rng_next() % (uint64_t)den) < num;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A TUN device IFACE in namespace NS (from `ip netns add NS`): enter the
 * namespace, create the device there; the descriptor stays bound to it. */
static int tun_in(const char *ns, const char *iface)
{
    char path[PATH_MAX];
    struct ifreq ifr;
    int nsfd, fd;

    if (strchr(ns, '/') != NULL || strlen(iface) >= IFNAMSIZ) {
        fprintf(stderr, "netlab-wan: bad namespace or interface name\n");
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", NETNS_RUN_DIR, ns);
    nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "netlab-wan: namespace %s: %s\n", path, strerror(errno));
        if (nsfd >= 0)
            close(nsfd);
        return -1;
    }
    close(nsfd);
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "netlab-wan: /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    memcpy(ifr.ifr_name, iface, strlen(iface));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "netlab-wan: TUNSETIFF %s in %s: %s\n", iface, ns, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Read what the kernel sent on d->in (a batch at most) into the queues. */
static void take(Direction *d, long loss_pm, long reorder_pct, int64_t delay_ns)
{
    unsigned char buf[65536];

    for (int i = 0; i < WAN_BATCH; i++) {
        ssize_t n = read(d->in, buf, sizeof buf);
        int64_t due;
        Packet *p;

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                /* counted, never fatal: the first one is told */
                if (d->read_errors++ == 0)
                    fprintf(stderr, "netlab-wan: %s: read: %s\n", d->name, strerror(errno));
            }
            return;
        }
        if (n == 0)
            return;
        if (n > WAN_PKT) {
            d->too_big++;
            continue;
        }
        if (rng_chance(loss_pm, 1000)) {
            d->lost++;
            continue;
        }
        due = now_ns() + delay_ns;
        if (rng_chance(reorder_pct, 100) && d->n_late < WAN_LATE) {
            p = &d->late[d->n_late++];
            due += WAN_REORDER_EXTRA_NS;
            d->reordered++;
        } else if (d->count < WAN_QUEUE) {
            p = &d->ring[(d->head + d->count++) % WAN_QUEUE];
        } else {
            d->overflow++;
            continue;
        }
        p->due_ns = due;
        p->len = (uint16_t)n;
        memcpy(p->data, buf, (size_t)n);
    }
}

static void emit(Direction *d, const Packet *p)
{
    ssize_t n = write(d->out, p->data, p->len);

    if (n == (ssize_t)p->len) {
        d->forwarded++;
    } else if (d->write_errors++ == 0) {
        /* counted, never fatal: the far end refuses packets (EIO) until it is
         * up, and the lab brings the two ends up one after the other */
        fprintf(stderr, "netlab-wan: %s: write of %u bytes: %s\n", d->name, p->len,
                n < 0 ? strerror(errno) : "short");
    }
}

/* Write every packet whose time has come; return the next due time
 * (INT64_MAX when nothing waits). */
static int64_t give(Direction *d, int64_t now)
{
    int64_t next = INT64_MAX;

    while (d->count > 0 && d->ring[d->head].due_ns <= now) {
        emit(d, &d->ring[d->head]);
        d->head = (d->head + 1) % WAN_QUEUE;
        d->count--;
    }
    for (unsigned i = 0; i < d->n_late;) {
        if (d->late[i].due_ns <= now) {
            emit(d, &d->late[i]);
            d->late[i] = d->late[--d->n_late];
        } else {
            if (d->late[i].due_ns < next)
                next = d->late[i].due_ns;
            i++;
        }
    }
    if (d->count > 0 && d->ring[d->head].due_ns < next)
        next = d->ring[d->head].due_ns;
    return next;
}

int main(int argc, char **argv)
{
    long delay_ms, loss_pm, reorder_pct, seed;
    Direction dir[2];
    struct sigaction sa;
    int fa, fb;
    FILE *ready;

    if (argc != 10 || parse_long(argv[5], 0, 10000, &delay_ms) < 0 ||
        parse_long(argv[6], 0, 1000, &loss_pm) < 0 ||
        parse_long(argv[7], 0, 100, &reorder_pct) < 0 ||
        parse_long(argv[8], 0, LONG_MAX, &seed) < 0) {
        fprintf(stderr, "usage: netlab-wan NS_A IFACE_A NS_B IFACE_B DELAY_MS(0..10000) "
                "LOSS_PERMILLE(0..1000) REORDER_PCT(0..100) SEED READY_FILE\n");
        return 2;
    }
    rng_state = (uint64_t)seed;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    fa = tun_in(argv[1], argv[2]);
    if (fa < 0)
        return 1;
    fb = tun_in(argv[3], argv[4]);
    if (fb < 0)
        return 1;
    memset(dir, 0, sizeof dir);
    dir[0] = (Direction){ .name = "a->b", .in = fa, .out = fb };
    dir[1] = (Direction){ .name = "b->a", .in = fb, .out = fa };
    for (int i = 0; i < 2; i++) {
        dir[i].ring = calloc(WAN_QUEUE, sizeof(Packet));
        dir[i].late = calloc(WAN_LATE, sizeof(Packet));
        if (dir[i].ring == NULL || dir[i].late == NULL) {
            fprintf(stderr, "netlab-wan: out of memory\n");
            return 1;
        }
    }
    ready = fopen(argv[9], "w");
    if (ready == NULL || fprintf(ready, "%d\n", (int)getpid()) < 0 || fclose(ready) != 0) {
        fprintf(stderr, "netlab-wan: cannot write %s\n", argv[9]);
        return 1;
    }

    while (!stop) {
        struct pollfd pfd[2] = { { .fd = fa, .events = POLLIN }, { .fd = fb, .events = POLLIN } };
        int64_t now = now_ns(), next = INT64_MAX;
        int timeout = -1;

        for (int i = 0; i < 2; i++) {
            int64_t t = give(&dir[i], now);

            if (t < next)
                next = t;
        }
        if (next != INT64_MAX) {
            /* round up: waking early would only spin */
            int64_t ms = (next - now + 999999) / 1000000;

            timeout = ms > 1000 ? 1000 : (int)ms;
        }
        if (poll(pfd, 2, timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "netlab-wan: poll: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                fprintf(stderr, "netlab-wan: TUN device %s failed\n", argv[i ? 4 : 2]);
                return 1;
            }
            if (pfd[i].revents & POLLIN)
                take(&dir[i], loss_pm, reorder_pct, delay_ms * 1000000LL);
        }
    }
    for (int i = 0; i < 2; i++) {
        printf("%s forwarded %llu lost %llu reordered %llu overflow %llu too_big %llu "
               "read_errors %llu write_errors %llu\n", dir[i].name,
               (unsigned long long)dir[i].forwarded, (unsigned long long)dir[i].lost,
               (unsigned long long)dir[i].reordered, (unsigned long long)dir[i].overflow,
               (unsigned long long)dir[i].too_big, (unsigned long long)dir[i].read_errors,
               (unsigned long long)dir[i].write_errors);
        free(dir[i].ring);
        free(dir[i].late);
    }
    fflush(stdout);
    close(fa);
    close(fb);
    return 0;
}
