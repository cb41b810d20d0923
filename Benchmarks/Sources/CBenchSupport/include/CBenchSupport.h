// CBenchSupport: what the benchmark needs from libc that Swift's Glibc
// module does not expose (GNU extensions).
#ifndef CBENCH_SUPPORT_H
#define CBENCH_SUPPORT_H

/// Pins the calling thread to one CPU. Returns 0 or an errno value.
int bench_pin_current_thread(int cpu);

/// Allocates and frees one block through the global `malloc`/`free`
/// symbols in a way the compiler cannot elide (probe for the interposer).
void bench_malloc_probe(void);

/// Runs `bench_malloc_probe` on a new thread and joins it: checks that
/// allocations of other threads (the engines) are counted too. Returns 0 or
/// an errno value.
int bench_malloc_probe_on_thread(void);

#include <stdint.h>

/// The reference pipeline (see reference.c): `packets` packets through
/// counter → `blocks` forwarding blocks → sink on the calling thread.
/// Returns the elapsed nanoseconds, or 0 if a packet went missing.
uint64_t bench_c_reference(int blocks, uint64_t packets, const uint8_t *frame, int frame_length);

/// A FLIP address for the C reference: size code (0 none, 1 two bytes,
/// 2 IPv4, 3 object id) and bytes in wire order.
typedef struct {
    uint8_t kind;
    uint8_t bytes[16];
} bench_flip_address;

/// What a sender asks for (the C reference's annotation for `send`).
typedef struct {
    bench_flip_address destination, source;
    uint16_t type;
    uint8_t ttl, has_type, has_ttl, has_length, has_checksum;
} bench_flip_fields;

/// One `lana-bench flip` operation for the C reference (flip_reference.c).
typedef struct {
    /// 0 deliver, 1 forward, 2 send.
    int op;
    /// The frame received (deliver, forward) or the payload sent (send).
    const uint8_t *input;
    int input_length;
    /// The flip block's local address and the link's MAC.
    bench_flip_address local;
    uint64_t own_mac;
    /// The one static ARP entry.
    bench_flip_address next_hop;
    uint64_t next_mac;
    /// send: the fields of every packet.
    bench_flip_fields fields;
} bench_flip_setup;

/// Runs `packets` packets of one operation in bursts of 32 on the calling
/// thread. Returns the elapsed nanoseconds, or 0 if a packet was dropped
/// or went missing. The last packet's bytes as the sink saw them go to
/// `last` (room for 2048 bytes) and their count to `last_length`, the
/// thread's CPU time over the run to `cpu_ns`; each may be NULL.
uint64_t bench_flip_c_reference(const bench_flip_setup *setup, uint64_t packets, uint8_t *last, int *last_length,
                                uint64_t *cpu_ns);

#endif
