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

#endif
