// tpacket-v3-rx: the reference receiver for Scripts/bench-rx.sh.
//
// A minimal AF_PACKET receiver with exactly lanad's ring settings
// (Sources/LANAPosix/PacketSocket.swift, Sources/lanad/EthernetHooks.swift):
// TPACKET_V3, 32 blocks of 256 KiB, 2048-byte frame size, 2 ms block retire
// timeout, PACKET_IGNORE_OUTGOING, promiscuous membership, a fanout group in
// hash mode with PACKET_FANOUT_FLAG_IGNORE_OUTGOING where the kernel has it
// (6.9+), bound to ETH_P_ALL on one interface. It walks every frame
// header of every block (as lanad's ReceiveRing does), counts frames and
// bytes, returns the block, and sleeps in poll(2) when the ring is empty.
// It does not copy the frames anywhere: it is the floor lanad is compared
// against.
//
// The frame count is stored after every block into an optional 8-byte
// counter file (-o, mmap'd, native-endian uint64: read it with
// `od -An -t u8 -N8 FILE`; created only once the socket is set up, so its
// appearance means the receiver is ready), so a script can sample it at any instant
// without signalling the process. On SIGTERM/SIGINT (or after -t seconds)
// it prints `frames=<n> bytes=<n> blocks=<n> ring_drops=<n>` to stdout.
//
// Usage: tpacket-v3-rx -i IFNAME [-c CPU] [-o COUNTFILE] [-g FANOUT_GROUP]
//                      [-t SECONDS]
//
// Build: gcc -O2 -Wall -o tpacket-v3-rx tpacket-v3-rx.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

enum { BLOCK_SIZE = 1 << 18, BLOCK_COUNT = 32, FRAME_SIZE = 2048, RETIRE_MS = 2 };

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
    fprintf(stderr, "tpacket-v3-rx: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: tpacket-v3-rx -i IFNAME [-c CPU] [-o COUNTFILE] [-g FANOUT_GROUP] [-t SECONDS]\n");
    exit(64);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *ifname = NULL, *countfile = NULL;
    volatile uint64_t *shared = NULL;
    int cpu = -1;
    unsigned group = (unsigned)getpid() & 0xffff;
    double seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "i:c:o:g:t:h")) != -1) {
        switch (opt) {
        case 'i': ifname = optarg; break;
        case 'c': cpu = atoi(optarg); break;
        case 'o': countfile = optarg; break;
        case 'g': group = (unsigned)strtoul(optarg, NULL, 0) & 0xffff; break;
        case 't': seconds = atof(optarg); break;
        default: usage();
        }
    }
    if (!ifname) usage();

    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; // no SA_RESTART: poll returns EINTR
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    unsigned ifindex = if_nametoindex(ifname);
    if (ifindex == 0) die("if_nametoindex");

    // Same order as PacketSocket.init: no protocol until bind, ring first.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0 && errno != ENOPROTOOPT)
        die("PACKET_IGNORE_OUTGOING");
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) die("PACKET_VERSION");
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = BLOCK_SIZE;
    req.tp_block_nr = BLOCK_COUNT;
    req.tp_frame_size = FRAME_SIZE;
    req.tp_frame_nr = BLOCK_SIZE / FRAME_SIZE * BLOCK_COUNT;
    req.tp_retire_blk_tov = RETIRE_MS;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) die("PACKET_RX_RING");
    uint8_t *ring = mmap(NULL, (size_t)BLOCK_SIZE * BLOCK_COUNT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) die("mmap ring");

    struct sockaddr_ll addr;
    memset(&addr, 0, sizeof addr);
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = (int)ifindex;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");

    struct packet_mreq mreq;
    memset(&mreq, 0, sizeof mreq);
    mreq.mr_ifindex = (int)ifindex;
    mreq.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) die("PACKET_ADD_MEMBERSHIP");
    // As lanad: the group flag first, without it on kernels that lack it.
    int fanout = (int)group | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16);
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof fanout) != 0) {
        fanout = (int)group | (PACKET_FANOUT_HASH << 16);
        if (errno != EINVAL || setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof fanout) != 0) die("PACKET_FANOUT");
    }

    // Created only once the socket is ready: its existence means "receiving".
    if (countfile) {
        int cfd = open(countfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (cfd < 0) die("open count file");
        if (ftruncate(cfd, 8) != 0) die("ftruncate count file");
        void *p = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        if (p == MAP_FAILED) die("mmap count file");
        close(cfd);
        shared = p;
        *shared = 0;
    }

    uint64_t deadline = seconds > 0 ? now_ns() + (uint64_t)(seconds * 1e9) : 0;
    uint64_t frames = 0, bytes = 0, blocks = 0;
    unsigned current = 0;
    struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLERR, .revents = 0 };

    while (!stop) {
        struct tpacket_block_desc *b = (struct tpacket_block_desc *)(ring + (size_t)current * BLOCK_SIZE);
        if ((__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
            int timeout = -1;
            if (deadline) {
                uint64_t t = now_ns();
                if (t >= deadline) break;
                timeout = (int)((deadline - t) / 1000000u) + 1;
            }
            if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) die("poll");
            if (pfd.revents & POLLERR) {
                // A pending socket error (link down, interface deleted) keeps
                // poll returning at once: clear it, and stop if the interface
                // is gone rather than spin.
                int err = 0;
                socklen_t errlen = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen);
                if (if_nametoindex(ifname) != ifindex) {
                    fprintf(stderr, "tpacket-v3-rx: %s is gone (%s)\n", ifname, strerror(err));
                    break;
                }
            }
            continue;
        }
        uint32_t n = b->hdr.bh1.num_pkts;
        const uint8_t *f = (const uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
        for (uint32_t i = 0; i < n; i++) {
            const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)f;
            bytes += h->tp_snaplen;
            f += h->tp_next_offset;
        }
        frames += n;
        blocks++;
        __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        current = current + 1 == BLOCK_COUNT ? 0 : current + 1;
        if (shared) __atomic_store_n(shared, frames, __ATOMIC_RELAXED);
    }

    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
    printf("frames=%llu bytes=%llu blocks=%llu ring_drops=%u\n", (unsigned long long)frames,
           (unsigned long long)bytes, (unsigned long long)blocks, st.tp_drops);
    fflush(stdout);
    return 0;
}
