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

static inline void lana_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Pins the calling thread to one CPU. Returns 0 or an errno value.
int lana_pin_current_thread(int cpu);

/// Number of online CPUs.
int lana_online_cpus(void);

#endif
