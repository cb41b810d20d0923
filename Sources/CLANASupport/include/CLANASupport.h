// CLANASupport: the few operations Swift cannot express directly.
//
// Invariants: every function here is a thin `static inline` wrapper around a
// compiler builtin or a system call; none allocates, none keeps state.
// Relaxed atomics are used for per-engine counter slots that live in raw
// slab memory: the owning engine is the only writer (load + store, no
// read-modify-write needed), other threads only read. The Synchronization
// module's `Atomic` cannot live in raw memory, hence these helpers.
#ifndef CLANA_SUPPORT_H
#define CLANA_SUPPORT_H

#include <stdint.h>
#include <stddef.h>

static inline uint64_t lana_load_relaxed_u64(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void lana_store_relaxed_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/// Single-writer increment: only the owning engine calls this for a slot.
static inline void lana_add_owned_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint32_t lana_load_acquire_u32(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void lana_store_release_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t lana_load_acquire_u64(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void lana_store_release_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/// A spin lock word for rare writers (0 = free): `true` if taken.
static inline _Bool lana_try_lock_u32(uint32_t *p) {
    return __atomic_exchange_n(p, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void lana_unlock_u32(uint32_t *p) {
    __atomic_store_n(p, 0, __ATOMIC_RELEASE);
}

/// A non-blocking, close-on-exec CLOCK_MONOTONIC timer fd, or -1 (errno).
int lana_timerfd_create(void);

/// Arms `fd` to expire once after `nanoseconds` (0 disarms); 0 or -1 (errno).
int lana_timerfd_set(int fd, uint64_t nanoseconds);

/// Asks for the cache line at `p` ahead of its first read (a hint: never
/// faults, whatever `p` is).
static inline void lana_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

static inline void lana_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Pins the calling thread to one CPU. Returns 0 or an errno value.
int lana_pin_current_thread(int cpu);

/// Names the calling thread (at most 15 bytes are kept), as `top -H` and
/// `ps -L` show it. Returns 0 or an error number.
int lana_name_current_thread(const char *name);

/// The engine's wake-up signal (a real-time signal), with a handler that
/// does nothing installed once per process: its only effect is to end a
/// `lana_sleep_until_woken` early. Returns the signal number.
int lana_wake_signal_setup(void);

/// Blocks the wake-up signal in the calling thread, so one sent while the
/// thread works stays pending until it next sleeps. Returns 0 or an error
/// number.
int lana_block_wake_signal(void);

/// `poll(2)` on `fds` without a timeout, with the wake-up signal unblocked
/// only while waiting (`ppoll`): a wake-up sent at any time since the last
/// sleep ends it at once. Returns what ppoll returns (-1 with errno EINTR
/// when woken).
int lana_sleep_until_woken(void *fds, unsigned long count);

/// Sends the wake-up signal to `thread` (a `pthread_t`, which must not have
/// been joined). Returns 0 or an error number.
int lana_wake_thread(unsigned long thread);

/// Number of online CPUs.
int lana_online_cpus(void);

/// The C name of an errno value ("EBUSY"), or NULL if unknown.
const char *lana_errno_name(int code);

/// The C library's text for an errno value ("Device or resource busy").
const char *lana_errno_text(int code);

// ---------------------------------------------------------------------------
// LANAPosix helpers: packet rings, interface ioctls, affinity.
//
// The kernel's ring headers are unions and the ifreq ioctls are variadic
// with union arguments; Swift can import neither comfortably. The ring
// accessors are `static inline` so the optimizer folds them into the
// Swift receive loop. Ordering: a ring slot's status word is the only
// synchronization with the kernel, so it is read with acquire (the frame
// bytes written before it are then visible) and handed back with release
// (our reads/writes of the slot are complete before the kernel may reuse it).
// ---------------------------------------------------------------------------
#ifdef __linux__
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
// Not part of Swift's Glibc module; imported here for LANAPosix.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

/// One frame header of a TPACKET_V3 block, flattened.
typedef struct {
    uint32_t next_offset;   // from this header to the next frame's header
    uint32_t snaplen;       // bytes present in the ring
    uint32_t len;           // original length on the wire
    uint32_t status;        // TP_STATUS_* bits of this frame
    uint16_t mac;           // from this header to the Ethernet header
    uint16_t vlan_tci;
    uint16_t vlan_tpid;
    uint8_t pkttype;        // PACKET_HOST, PACKET_OUTGOING, ...
} lana_tp3_frame;

static inline uint32_t lana_tp3_block_status_acquire(const void *block) {
    const struct tpacket_block_desc *b = (const struct tpacket_block_desc *)block;
    return __atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
}

static inline void lana_tp3_block_release(void *block) {
    struct tpacket_block_desc *b = (struct tpacket_block_desc *)block;
    __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

static inline uint32_t lana_tp3_block_num_packets(const void *block) {
    return ((const struct tpacket_block_desc *)block)->hdr.bh1.num_pkts;
}

static inline uint32_t lana_tp3_block_first_offset(const void *block) {
    return ((const struct tpacket_block_desc *)block)->hdr.bh1.offset_to_first_pkt;
}

static inline lana_tp3_frame lana_tp3_frame_read(const void *frame) {
    const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)frame;
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)
        ((const uint8_t *)frame + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
    lana_tp3_frame f;
    f.next_offset = h->tp_next_offset;
    f.snaplen = h->tp_snaplen;
    f.len = h->tp_len;
    f.status = h->tp_status;
    f.mac = h->tp_mac;
    f.vlan_tci = (uint16_t)h->hv1.tp_vlan_tci;
    f.vlan_tpid = (uint16_t)h->hv1.tp_vlan_tpid;
    f.pkttype = sll->sll_pkttype;
    return f;
}

/// Puts back the VLAN tag the kernel took out of a received TPACKET_V3
/// frame (its status has TP_STATUS_VLAN_VALID), as libpcap does: the two
/// MAC addresses move 4 bytes back into the headroom in front of the
/// Ethernet header, and the TPID (tp_vlan_tpid, or 0x8100 from kernels
/// that report none) and the TCI fill the gap. The frame's header is
/// updated to match (tp_mac 4 less, tp_snaplen and tp_len 4 more), so
/// whoever reads the frame afterwards sees it as it was on the wire. The
/// frame must belong to user space. Returns 1, or 0 (nothing changed)
/// when the ring left less than 4 bytes of headroom between the
/// sockaddr_ll and the Ethernet header, or the frame holds no MAC
/// addresses.
int lana_tp3_restore_vlan(void *frame);

/// Where a TPACKET_V2 transmit slot's frame bytes start (no PACKET_TX_HAS_OFF).
static inline size_t lana_tp2_tx_data_offset(void) {
    return TPACKET_ALIGN(sizeof(struct tpacket2_hdr));
}

static inline uint32_t lana_tp2_status_acquire(const void *slot) {
    return __atomic_load_n(&((const struct tpacket2_hdr *)slot)->tp_status, __ATOMIC_ACQUIRE);
}

/// Publishes a filled transmit slot: length first, then the status word.
static inline void lana_tp2_submit(void *slot, uint32_t len) {
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)slot;
    h->tp_len = len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
}

// Interface ioctls on `fd`, answered in the network namespace of that
// socket. Each returns 0 or a positive errno value.
int lana_if_index(int fd, const char *name, int *index);
int lana_if_name(int fd, int index, char *name, size_t capacity);
int lana_if_hwaddr(int fd, const char *name, uint8_t address[6]);
int lana_if_mtu(int fd, const char *name, int *mtu);
int lana_if_flags(int fd, const char *name, unsigned *flags);

/// CPUs the calling thread may run on, ascending, up to `capacity`.
/// Returns the count or a negative errno value.
int lana_thread_affinity(int *cpus, int capacity);
/// Restricts the calling thread to `cpus[0..<count]`; 0 or an errno value.
int lana_set_thread_affinity(const int *cpus, int count);

/// The calling thread's effective capability set (capget(2), 64 bits:
/// bit n is capability n). Returns 0 or an errno value.
int lana_effective_capabilities(uint64_t *effective);

/// CPU the calling thread is running on, or -1.
int lana_current_cpu(void);

/// Moves the calling thread (only) into the network namespace open at `fd`.
/// Returns 0 or an errno value.
int lana_enter_net_namespace(int fd);

// The control socket layer (LANAControl/UnixSeqpacketSocket.swift) needs a
// few GNU extensions that Swift's Glibc module leaves out because they sit
// behind _GNU_SOURCE. They are re-stated here with the kernel's ABI rather
// than by defining _GNU_SOURCE, which would not reach the already-built
// Glibc module anyway.
#include <sys/socket.h>

/// `struct ucred` as returned by `getsockopt(SO_PEERCRED)`.
struct lana_ucred {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
};

/// `accept4(2)`: accept with SOCK_NONBLOCK | SOCK_CLOEXEC in one step, so a
/// client descriptor never exists in blocking or inheritable form.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// `SO_PEERGROUPS` (Linux 4.13): the peer's supplementary groups at connect().
static inline int lana_so_peergroups(void) { return 59; }
#endif

#endif
