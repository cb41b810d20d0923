// The engine benchmark's reference: the same per-packet work as LANA's
// engine benchmark, written as a plain C pipeline with nothing of a
// framework in it — a slab pool with a free stack, a 64-byte copy into a
// buffer, a counter, k forwarding blocks called through function pointers
// (as virtual calls would be), and the buffer freed at the end, in bursts
// of 32. It runs on the calling thread, in the same process and
// invocation as LANA's runs, so both see the same machine.
#include "CBenchSupport.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { POOL = 4096, BUFFER = 2048, BURST = 32, HEADROOM = 64 };

typedef struct {
    uint32_t length, next, source;
    uint8_t direction, hops;
} meta_t;

typedef struct pipeline pipeline_t;
typedef void (*block_fn)(pipeline_t *p, uint32_t self, const uint32_t *handles, int n);

typedef struct {
    block_fn process;
    uint32_t port[2];
} block_t;

struct pipeline {
    meta_t *metas;
    uint8_t *buffers;
    uint32_t free_stack[POOL];
    uint32_t free_top;
    block_t blocks[64];
    uint64_t counted_packets, counted_bytes, delivered;
};

static void forward(pipeline_t *p, uint32_t self, const uint32_t *h, int n) {
    const block_t *b = &p->blocks[self];
    for (int i = 0; i < n; i++) {
        meta_t *m = &p->metas[h[i]];
        m->next = b->port[m->direction];
        m->source = self;
        m->hops++;
    }
}

static void count(pipeline_t *p, uint32_t self, const uint32_t *h, int n) {
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += p->metas[h[i]].length;
    p->counted_packets += (uint64_t)n;
    p->counted_bytes += bytes;
    forward(p, self, h, n);
}

static void sink(pipeline_t *p, uint32_t self, const uint32_t *h, int n) {
    (void)self;
    for (int i = 0; i < n; i++) {
        p->metas[h[i]].next = 0;
        p->free_stack[p->free_top++] = h[i];
    }
    p->delivered += (uint64_t)n;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_c_reference(int blocks, uint64_t packets, const uint8_t *frame, int frame_length) {
    pipeline_t *p = calloc(1, sizeof *p);
    if (!p || blocks < 1 || blocks > 60) { free(p); return 0; }
    p->metas = calloc(POOL, sizeof(meta_t));
    p->buffers = aligned_alloc(64, (size_t)POOL * BUFFER);
    for (uint32_t i = 0; i < POOL; i++) p->free_stack[i] = POOL - 1 - i;
    p->free_top = POOL;
    // IDP 1 = counter, 2..k+1 = forwarding blocks, k+2 = sink.
    uint32_t sink_idp = (uint32_t)blocks + 2;
    p->blocks[1] = (block_t){ count, { 2, 0 } };
    for (uint32_t i = 2; i < sink_idp; i++) p->blocks[i] = (block_t){ forward, { i + 1, 0 } };
    p->blocks[sink_idp] = (block_t){ sink, { 0, 0 } };

    uint32_t work[BURST];
    uint64_t left = packets;
    uint64_t t0 = now_ns();
    while (left > 0) {
        int n = left < BURST ? (int)left : BURST;
        for (int i = 0; i < n; i++) {
            uint32_t h = p->free_stack[--p->free_top];
            memcpy(p->buffers + (size_t)h * BUFFER + HEADROOM, frame, (size_t)frame_length);
            meta_t *m = &p->metas[h];
            *m = (meta_t){ (uint32_t)frame_length, 1, 0, 0, 0 };
            work[i] = h;
        }
        left -= (uint64_t)n;
        // A chain: every packet of the burst has the same next block.
        uint32_t next = 1;
        while (next != 0) {
            uint32_t self = next;
            p->blocks[self].process(p, self, work, n);
            next = p->metas[work[0]].next;
        }
    }
    uint64_t elapsed = now_ns() - t0;
    int ok = p->delivered == packets && p->counted_packets == packets && p->free_top == POOL;
    free(p->buffers);
    free(p->metas);
    free(p);
    return ok ? elapsed : 0;
}
