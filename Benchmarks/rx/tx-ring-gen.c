// tx-ring-gen: the frame generator for Scripts/bench-rx.sh.
//
// Sends fixed-size Ethernet frames (default 64 bytes, EtherType 0x88B5,
// "local experimental", which the host stack drops cheaply) through a
// PACKET_TX_RING (TPACKET_V2) socket, pinned to one CPU (default 0).
//
// Pacing: with -r RATE (frames/s) the sender busy-waits on CLOCK_MONOTONIC
// until each frame is due, queues every frame that is due (at most -b per
// kick), and kicks the ring with send(2). After falling behind (e.g.
// preempted) it catches up -b frames per kick, so the average rate holds
// whenever the CPU allows it. With -r 0 it fills up to -b slots and kicks,
// as fast as it can. It stops after -n frames or -t seconds (whichever is
// first; 0 = unbounded) or on SIGTERM/SIGINT, and prints
// `sent=<n> seconds=<s> rate_fps=<r> send_errors=<n>` to stdout.
//
// Frames: destination MAC from -d (default broadcast), source MAC
// 02:00:00:00:<flow hi>:<flow lo> with the flow cycling over -f flows (so a
// fanout hash can spread them), EtherType 0x88B5, then a 64-bit sequence
// number and the 32-bit flow number; the rest is zero. With -F the frames
// are FLIP data packets instead (EtherType 0x2020, docs/flip.md): meta
// `94 50`, destination 10.0.0.2, Type 0x88B5, source 10.1.<flow>, Length =
// the body; sequence and flow follow the 14-byte FLIP header.
//
// Usage: tx-ring-gen -i IFNAME [-c CPU] [-r RATE] [-n COUNT] [-t SECONDS]
//                    [-s SIZE] [-f FLOWS] [-d DST_MAC] [-b BATCH] [-F]
//
// Build: gcc -O2 -Wall -o tx-ring-gen tx-ring-gen.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

enum { FRAME_SIZE = 256, BLOCK_SIZE = 1 << 16, BLOCK_COUNT = 64 };
enum { FRAME_COUNT = BLOCK_SIZE / FRAME_SIZE * BLOCK_COUNT };
// Where frame bytes start in a V2 slot (no PACKET_TX_HAS_OFF).
#define DATA_OFFSET (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
    fprintf(stderr, "tx-ring-gen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: tx-ring-gen -i IFNAME [-c CPU] [-r RATE] [-n COUNT] [-t SECONDS] [-s SIZE] [-f FLOWS] [-d DST_MAC] [-b BATCH] [-F]\n");
    exit(64);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *ifname = NULL;
    int cpu = 0;
    double rate = 0, seconds = 0;
    uint64_t count = 0;
    unsigned size = 64, flows = 1, batch = 64;
    int flip = 0;
    uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    int opt;
    while ((opt = getopt(argc, argv, "i:c:r:n:t:s:f:d:b:Fh")) != -1) {
        switch (opt) {
        case 'i': ifname = optarg; break;
        case 'c': cpu = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'n': count = strtoull(optarg, NULL, 0); break;
        case 't': seconds = atof(optarg); break;
        case 's': size = (unsigned)atoi(optarg); break;
        case 'f': flows = (unsigned)atoi(optarg); break;
        case 'b': batch = (unsigned)atoi(optarg); break;
        case 'F': flip = 1; break;
        case 'd':
            if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst[0], &dst[1], &dst[2], &dst[3], &dst[4], &dst[5]) != 6)
                usage();
            break;
        default: usage();
        }
    }
    if (!ifname || size < 60 || size > FRAME_SIZE - DATA_OFFSET || flows == 0 || batch == 0 || batch > FRAME_COUNT / 2)
        usage();

    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    unsigned ifindex = if_nametoindex(ifname);
    if (ifindex == 0) die("if_nametoindex");
    // Protocol 0: this socket receives nothing, it only sends.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int version = TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) die("PACKET_VERSION");
    int one = 1;
    (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    struct tpacket_req req = {
        .tp_block_size = BLOCK_SIZE, .tp_block_nr = BLOCK_COUNT,
        .tp_frame_size = FRAME_SIZE, .tp_frame_nr = FRAME_COUNT,
    };
    if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) != 0) die("PACKET_TX_RING");
    uint8_t *ring = mmap(NULL, (size_t)BLOCK_SIZE * BLOCK_COUNT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) die("mmap");
    struct sockaddr_ll addr;
    memset(&addr, 0, sizeof addr);
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(0x88B5);
    addr.sll_ifindex = (int)ifindex;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");

    // Pre-fill the constant part of every slot.
    for (unsigned i = 0; i < FRAME_COUNT; i++) {
        uint8_t *d = ring + (size_t)i * FRAME_SIZE + DATA_OFFSET;
        memset(d, 0, size);
        memcpy(d, dst, 6);
        d[6] = 0x02;
        d[12] = 0x88;
        d[13] = 0xB5;
        if (flip) {
            static const uint8_t header[14] = { 0x94, 0x50, 10, 0, 0, 2, 0x88, 0xB5, 10, 1, 0, 0, 0, 0 };
            d[12] = 0x20;
            d[13] = 0x20;
            memcpy(d + 14, header, sizeof header);
            d[26] = (uint8_t)((size - 14) >> 8);
            d[27] = (uint8_t)(size - 14);
        }
    }
    // Where the sequence and flow numbers go: after the FLIP header.
    const unsigned at = flip ? 28 : 14;

    uint64_t start = now_ns();
    uint64_t deadline = seconds > 0 ? start + (uint64_t)(seconds * 1e9) : UINT64_MAX;
    double interval = rate > 0 ? 1e9 / rate : 0;
    uint64_t sent = 0, errors = 0, seq = 0;
    unsigned slot = 0, flow = 0;

    while (!stop && (count == 0 || sent < count)) {
        uint64_t t = now_ns();
        if (t >= deadline) break;
        unsigned want = batch;
        if (count && count - sent < want) want = (unsigned)(count - sent);
        if (rate > 0) {
            // Frames due by now; spin until the next one is due.
            uint64_t due = (uint64_t)((double)(t - start) / interval) + 1;
            if (due <= seq) {
                uint64_t next = start + (uint64_t)((double)seq * interval);
                while ((t = now_ns()) < next && !stop) __builtin_ia32_pause();
                continue;
            }
            // Behind (preempted): catch up at most -b frames per kick, so
            // the average rate holds without one huge burst.
            if (due - seq < want) want = (unsigned)(due - seq);
        }
        unsigned queued = 0;
        while (queued < want) {
            struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)slot * FRAME_SIZE);
            if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) break;
            uint8_t *d = (uint8_t *)h + DATA_OFFSET;
            d[10] = (uint8_t)(flow >> 8);
            d[11] = (uint8_t)flow;
            memcpy(d + at, &seq, 8);
            memcpy(d + at + 8, &flow, 4);
            if (flip) {
                d[24] = (uint8_t)(flow >> 8);
                d[25] = (uint8_t)flow;
            }
            h->tp_len = size;
            __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
            slot = slot + 1 == FRAME_COUNT ? 0 : slot + 1;
            flow = flow + 1 == flows ? 0 : flow + 1;
            seq++;
            queued++;
        }
        if (queued == 0) {
            // Ring full of frames the kernel has not sent yet: wait for room.
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, 10);
            continue;
        }
        if (send(fd, NULL, 0, 0) < 0) {
            if (errno == EINTR) continue;
            errors++;
        }
        sent += queued;
    }
    // Flush whatever is still queued.
    while (send(fd, NULL, 0, 0) < 0 && errno == EINTR) {}

    double elapsed = (double)(now_ns() - start) / 1e9;
    printf("sent=%llu seconds=%.3f rate_fps=%.0f send_errors=%llu\n", (unsigned long long)sent, elapsed,
           elapsed > 0 ? (double)sent / elapsed : 0.0, (unsigned long long)errors);
    fflush(stdout);
    return 0;
}
