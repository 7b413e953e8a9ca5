/*
 * netlab.c - sets up and impairs the links of the network fault lab
 * (tests/netlab/) through rtnetlink with libnl-route.
 *
 * The lab's hosts are network namespaces that lab.sh creates; this tool
 * runs inside one of them (`ip netns exec NS netlab ...`) and changes that
 * namespace's links: veth pairs towards another namespace, addresses, link
 * up and down, and a tbf rate limit on a link's egress.  It speaks netlink
 * itself instead of calling ip/tc, so that the fault injection the tests
 * rely on is the project's own code, with one clear message per failure.
 *
 * Every sub-command is one or two netlink requests, each acknowledged by
 * the kernel (libnl waits for the ACK), so the tool never runs for long.
 *
 * Exit status: 0 done, 1 the kernel refused (message on stderr), 2 usage,
 * 3 the kernel has no such qdisc (netem on a kernel without sch_netem), so
 * that a test can tell "not possible here" from "broken".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>
#include "netlab-args.h"

/* Where `ip netns add NAME` bind-mounts a namespace; veth peers are moved
 * into a namespace by an open descriptor of that file. */
#define NETNS_RUN_DIR "/run/netns"

static const char *prog = "netlab";

/* Print "netlab: WHAT: libnl's reason" and return 1 (the exit status). */
static int nl_fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, nl_geterror(err));
    return 1;
}

/* The ifindex of IFACE in this namespace, or 0 after printing why not. */
static int ifindex_of(const char *iface)
{
    unsigned idx = if_nametoindex(iface);

    if (idx == 0 || idx > INT_MAX) {
        fprintf(stderr, "%s: no interface '%s' in this namespace\n", prog, iface);
        return 0;
    }
    return (int)idx;
}

/* veth NAME PEER NETNS: a veth pair, NAME here, PEER in the namespace
 * that `ip netns add NETNS` created.  Both ends start down. */
static int cmd_veth(struct nl_sock *sk, const char *name, const char *peer_name,
                    const char *netns)
{
    char path[PATH_MAX];
    struct rtnl_link *link, *peer;
    int fd, err;

    if (strchr(netns, '/') != NULL || strlen(name) >= IFNAMSIZ ||
        strlen(peer_name) >= IFNAMSIZ) {
        fprintf(stderr, "%s: veth: bad interface or namespace name\n", prog);
        return 2;
    }
    snprintf(path, sizeof path, "%s/%s", NETNS_RUN_DIR, netns);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: veth: namespace %s: %s\n", prog, path, strerror(errno));
        return 1;
    }
    link = rtnl_link_veth_alloc();
    if (link == NULL) {
        close(fd);
        return nl_fail("veth", -NLE_NOMEM);
    }
    rtnl_link_set_name(link, name);
    peer = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(peer, peer_name);
    rtnl_link_set_ns_fd(peer, fd);
    /* EXCL: a leftover interface of the same name means a lab that was
     * not torn down; better to say so than to reuse it. */
    err = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(peer);    /* get_peer took a reference */
    rtnl_link_veth_release(link);
    close(fd);
    if (err < 0)
        return nl_fail("veth: cannot create the pair", err);
    return 0;
}

/* addr IFACE ADDRESS/PREFIX: add an address to IFACE. */
static int cmd_addr(struct nl_sock *sk, const char *iface, const char *cidr)
{
    struct nl_addr *local = NULL;
    struct rtnl_addr *addr;
    int idx, err;

    idx = ifindex_of(iface);
    if (idx == 0)
        return 1;
    err = nl_addr_parse(cidr, AF_UNSPEC, &local);
    if (err < 0 || nl_addr_get_prefixlen(local) == 0) {
        fprintf(stderr, "%s: addr: '%s' is not ADDRESS/PREFIX\n", prog, cidr);
        if (local != NULL)
            nl_addr_put(local);
        return 2;
    }
    addr = rtnl_addr_alloc();
    if (addr == NULL) {
        nl_addr_put(local);
        return nl_fail("addr", -NLE_NOMEM);
    }
    rtnl_addr_set_ifindex(addr, idx);
    err = rtnl_addr_set_local(addr, local);
    if (err >= 0)
        err = rtnl_addr_add(sk, addr, 0);
    rtnl_addr_put(addr);
    nl_addr_put(local);
    if (err < 0)
        return nl_fail("addr: cannot add the address", err);
    return 0;
}

/* link-up / link-down IFACE: set or clear IFF_UP.  Down on one end of a
 * veth takes the carrier from the other end too: the cable is cut. */
static int cmd_link(struct nl_sock *sk, const char *iface, int up)
{
    struct rtnl_link *orig = NULL, *change;
    int err;

    err = rtnl_link_get_kernel(sk, 0, iface, &orig);
    if (err < 0) {
        fprintf(stderr, "%s: %s: no link '%s' in this namespace: %s\n", prog,
                up ? "link-up" : "link-down", iface, nl_geterror(err));
        return 1;
    }
    change = rtnl_link_alloc();
    if (change == NULL) {
        rtnl_link_put(orig);
        return nl_fail("link", -NLE_NOMEM);
    }
    if (up)
        rtnl_link_set_flags(change, IFF_UP);
    else
        rtnl_link_unset_flags(change, IFF_UP);
    err = rtnl_link_change(sk, orig, change, 0);
    rtnl_link_put(change);
    rtnl_link_put(orig);
    if (err < 0)
        return nl_fail(up ? "link-up" : "link-down", err);
    return 0;
}

/* A root qdisc on IFACE with handle 1:, ready for the kind's options. */
static struct rtnl_qdisc *root_qdisc(int idx, const char *kind)
{
    struct rtnl_qdisc *q = rtnl_qdisc_alloc();

    if (q == NULL)
        return NULL;
    rtnl_tc_set_ifindex(TC_CAST(q), idx);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(1, 0));
    if (kind != NULL && rtnl_tc_set_kind(TC_CAST(q), kind) < 0) {
        rtnl_qdisc_put(q);
        return NULL;
    }
    return q;
}

/* rate IFACE KBIT: add, or replace, a tbf on IFACE's egress at KBIT
 * kbit/s.  Bucket and queue are sized for the rate (about 20 ms and
 * 200 ms of traffic, never under 16 KiB) so that a limit shapes the
 * stream rather than dropping most of it. */
static int cmd_rate(struct nl_sock *sk, const char *iface, const char *kbit_text)
{
    struct rtnl_qdisc *q;
    long kbit, bytes_per_s, bucket, limit;
    int idx, err;

    if (parse_long(kbit_text, 8, 10 * 1000 * 1000, &kbit) < 0) {
        fprintf(stderr, "%s: rate: KBIT must be 8..10000000, not '%s'\n", prog, kbit_text);
        return 2;
    }
    idx = ifindex_of(iface);
    if (idx == 0)
        return 1;
    bytes_per_s = kbit * 1000 / 8;
    bucket = bytes_per_s / 50 > 16384 ? bytes_per_s / 50 : 16384;
    limit = bytes_per_s / 5 > 16384 ? bytes_per_s / 5 : 16384;
    q = root_qdisc(idx, "tbf");
    if (q == NULL)
        return nl_fail("rate", -NLE_NOMEM);
    rtnl_qdisc_tbf_set_rate(q, (int)bytes_per_s, (int)bucket, 0);
    rtnl_qdisc_tbf_set_limit(q, (int)limit);
    err = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_qdisc_put(q);
    if (err < 0)
        return nl_fail("rate: cannot set the tbf qdisc", err);
    return 0;
}

/* netem IFACE DELAY_MS LOSS_PERMILLE [REORDER_PCT]: add, or replace, a
 * netem qdisc on IFACE's egress: a fixed one-way delay, a loss rate and,
 * optionally, the share of packets sent at once, ahead of the delayed ones
 * (netem's reordering, which needs the delay to overtake).  netem takes
 * probabilities as fractions of 2^32-1.  A kernel without sch_netem
 * answers ENOENT (no such qdisc kind): exit 3 with one clear message. */
static int cmd_netem(struct nl_sock *sk, const char *iface, const char *delay_text,
                     const char *loss_text, const char *reorder_text)
{
    struct rtnl_qdisc *q;
    long delay_ms, loss_pm, reorder_pct = 0;
    int idx, err;

    if (parse_long(delay_text, 0, 10000, &delay_ms) < 0 ||
        parse_long(loss_text, 0, 1000, &loss_pm) < 0 ||
        (reorder_text && parse_long(reorder_text, 0, 100, &reorder_pct) < 0)) {
        fprintf(stderr, "%s: netem: DELAY_MS 0..10000, LOSS_PERMILLE 0..1000, "
                "REORDER_PCT 0..100\n", prog);
        return 2;
    }
    if (reorder_pct > 0 && delay_ms == 0) {
        fprintf(stderr, "%s: netem: reordering needs a delay to overtake\n", prog);
        return 2;
    }
    idx = ifindex_of(iface);
    if (idx == 0)
        return 1;
    q = root_qdisc(idx, "netem");
    if (q == NULL)
        return nl_fail("netem", -NLE_NOMEM);
    rtnl_netem_set_delay(q, (int)(delay_ms * 1000));    /* microseconds */
    rtnl_netem_set_loss(q, (int)(uint32_t)(loss_pm * (double)UINT32_MAX / 1000));
    if (reorder_pct > 0) {
        /* gap 1: every packet draws for reordering, not every Nth */
        rtnl_netem_set_gap(q, 1);
        rtnl_netem_set_reorder_probability(q,
            (int)(uint32_t)(reorder_pct * (double)UINT32_MAX / 100));
    }
    /* room for the bandwidth-delay product of a fast local link */
    rtnl_netem_set_limit(q, 10000);
    err = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_qdisc_put(q);
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_OPNOTSUPP) {
        fprintf(stderr, "%s: netem: not supported by this kernel (no sch_netem): %s\n",
                prog, nl_geterror(err));
        return 3;
    }
    if (err < 0)
        return nl_fail("netem: cannot set the netem qdisc", err);
    return 0;
}

/* del IFACE: delete a link (a veth takes its peer along). */
static int cmd_del(struct nl_sock *sk, const char *iface)
{
    struct rtnl_link *link;
    int err;

    if (ifindex_of(iface) == 0)
        return 1;
    link = rtnl_link_alloc();
    if (link == NULL)
        return nl_fail("del", -NLE_NOMEM);
    rtnl_link_set_name(link, iface);
    err = rtnl_link_delete(sk, link);
    rtnl_link_put(link);
    if (err < 0)
        return nl_fail("del: cannot delete the link", err);
    return 0;
}

/* unrate IFACE: remove the root qdisc (back to the default). */
static int cmd_unrate(struct nl_sock *sk, const char *iface)
{
    struct rtnl_qdisc *q;
    int idx, err;

    idx = ifindex_of(iface);
    if (idx == 0)
        return 1;
    q = root_qdisc(idx, NULL);
    if (q == NULL)
        return nl_fail("unrate", -NLE_NOMEM);
    err = rtnl_qdisc_delete(sk, q);
    rtnl_qdisc_put(q);
    if (err < 0)
        return nl_fail("unrate: cannot remove the root qdisc", err);
    return 0;
}

/* blackhole / unblackhole ADDR/PREFIX: a route that silently drops what
 * this namespace sends to ADDR, or its removal.  Unlike a link going down,
 * neither end's interface notices: a cut somewhere further along the path. */
static int cmd_blackhole(struct nl_sock *sk, const char *cidr, int add)
{
    struct nl_addr *dst = NULL;
    struct rtnl_route *route;
    int err;

    err = nl_addr_parse(cidr, AF_UNSPEC, &dst);
    if (err < 0 || nl_addr_get_prefixlen(dst) == 0) {
        fprintf(stderr, "%s: blackhole: '%s' is not ADDRESS/PREFIX\n", prog, cidr);
        if (dst != NULL)
            nl_addr_put(dst);
        return 2;
    }
    route = rtnl_route_alloc();
    if (route == NULL) {
        nl_addr_put(dst);
        return nl_fail("blackhole", -NLE_NOMEM);
    }
    rtnl_route_set_family(route, (uint8_t)nl_addr_get_family(dst));
    rtnl_route_set_table(route, RT_TABLE_MAIN);
    rtnl_route_set_type(route, RTN_BLACKHOLE);
    rtnl_route_set_protocol(route, RTPROT_STATIC);
    rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
    err = rtnl_route_set_dst(route, dst);
    if (err >= 0)
        err = add ? rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL)
                  : rtnl_route_delete(sk, route, 0);
    rtnl_route_put(route);
    nl_addr_put(dst);
    if (err < 0)
        return nl_fail(add ? "blackhole: cannot add the route"
                           : "unblackhole: cannot delete the route", err);
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage (inside a namespace: ip netns exec NS netlab ...):\n"
            "  netlab veth NAME PEER NETNS     veth pair, PEER moved to NETNS\n"
            "  netlab addr IFACE ADDR/PREFIX   add an address\n"
            "  netlab link-up IFACE            bring a link up\n"
            "  netlab link-down IFACE          bring a link down (cut)\n"
            "  netlab rate IFACE KBIT          tbf rate limit on IFACE's egress\n"
            "  netlab unrate IFACE             remove the rate limit\n"
            "  netlab netem IFACE DELAY_MS LOSS_PERMILLE [REORDER_PCT]\n"
            "                                  netem on IFACE's egress (exit 3: no netem here)\n"
            "  netlab unnetem IFACE            remove it (as unrate: the root qdisc)\n"
            "  netlab del IFACE                delete a link (a veth with its peer)\n"
            "  netlab blackhole ADDR/PREFIX    drop what is sent to ADDR (a cut elsewhere)\n"
            "  netlab unblackhole ADDR/PREFIX  remove that route\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct nl_sock *sk;
    const char *cmd;
    int err, rc;

    if (argc < 3)
        return usage();
    cmd = argv[1];
    sk = nl_socket_alloc();
    if (sk == NULL)
        return nl_fail("socket", -NLE_NOMEM);
    err = nl_connect(sk, NETLINK_ROUTE);
    if (err < 0) {
        nl_socket_free(sk);
        return nl_fail("cannot open rtnetlink", err);
    }
    if (strcmp(cmd, "veth") == 0 && argc == 5)
        rc = cmd_veth(sk, argv[2], argv[3], argv[4]);
    else if (strcmp(cmd, "addr") == 0 && argc == 4)
        rc = cmd_addr(sk, argv[2], argv[3]);
    else if (strcmp(cmd, "link-up") == 0 && argc == 3)
        rc = cmd_link(sk, argv[2], 1);
    else if (strcmp(cmd, "link-down") == 0 && argc == 3)
        rc = cmd_link(sk, argv[2], 0);
    else if (strcmp(cmd, "rate") == 0 && argc == 4)
        rc = cmd_rate(sk, argv[2], argv[3]);
    else if ((strcmp(cmd, "unrate") == 0 || strcmp(cmd, "unnetem") == 0) && argc == 3)
        rc = cmd_unrate(sk, argv[2]);
    else if (strcmp(cmd, "netem") == 0 && (argc == 5 || argc == 6))
        rc = cmd_netem(sk, argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    else if (strcmp(cmd, "del") == 0 && argc == 3)
        rc = cmd_del(sk, argv[2]);
    else if (strcmp(cmd, "blackhole") == 0 && argc == 3)
        rc = cmd_blackhole(sk, argv[2], 1);
    else if (strcmp(cmd, "unblackhole") == 0 && argc == 3)
        rc = cmd_blackhole(sk, argv[2], 0);
    else
        rc = usage();
    nl_socket_free(sk);
    return rc;
}
