// The reference of `lana-bench flip`: the per-packet work of the flip and
// arp blocks (docs/flip.md) written as plain C, with nothing of a framework
// in it. Same frames, same number of packets, bursts of 32, on the calling
// thread, in the same invocation as LANA's runs.
//
// Every packet costs what it costs LANA's in-memory source and terminal
// block too: a buffer from a slab pool with a free stack, its bytes copied
// in, and the buffer back on the stack at the end. Each stage runs over the
// whole burst before the next one, as the engine calls one block per burst.
//
//   deliver  Ethernet destination and EtherType checked, the FLIP header
//            parsed in full (meta bytes, header length, Length, checksum
//            recomputed with the field as zero, §4), the destination
//            compared with the local address; headers stripped, packet
//            cut to Length, the parsed header left in the annotation.
//   forward  the same up to the destination, which is not local: TTL down
//            by one, checksum recomputed, the next hop looked up in a
//            static table and the Ethernet header rewritten in place.
//   send     a payload with a request (the fields to send) in the
//            annotation: the minimal header built in front of it, Length
//            and checksum written, the next hop looked up and the Ethernet
//            header written in front of that.
#include "CBenchSupport.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { POOL = 4096, BUFFER = 2048, HEADROOM = 128, BURST = 32, ANNOTATION = 128, ETH = 14 };

typedef struct {
    uint32_t offset, length;
} fmeta_t;

/// What the receive path leaves for the blocks above (the annotation).
typedef struct {
    bench_flip_address destination, source;
    uint64_t link_source;
    uint16_t type, packet_length;
    uint8_t ttl, priority, header_length, flags;
} delivered_t;

typedef struct {
    fmeta_t metas[POOL];
    uint8_t *buffers;
    uint8_t *annotations;
    uint32_t free_stack[POOL];
    uint32_t free_top;
    uint64_t delivered, dropped, bytes;
} fpool_t;

static inline uint8_t *bytes_of(fpool_t *p, uint32_t h) { return p->buffers + (size_t)h * BUFFER + p->metas[h].offset; }

static inline uint16_t be16(const uint8_t *b) { return (uint16_t)((uint16_t)b[0] << 8 | b[1]); }

static inline int address_size(int kind) { return kind == 0 ? 0 : kind == 1 ? 2 : kind == 2 ? 4 : 16; }

static inline int address_equal(const bench_flip_address *a, int kind, const uint8_t *bytes) {
    return a->kind == kind && memcmp(a->bytes, bytes, (size_t)address_size(kind)) == 0;
}

static inline int address_is_broadcast(int kind, const uint8_t *bytes) {
    int n = address_size(kind);
    for (int i = 0; i < n; i++)
        if (bytes[i] != 0xFF) return 0;
    return n > 0;
}

/// RFC 1071 over `n` bytes with the two bytes at `skip` read as zero.
static inline uint16_t checksum(const uint8_t *b, uint32_t n, uint32_t skip) {
    uint64_t sum = 0;
    uint32_t i = 0;
    for (; i + 1 < n; i += 2) sum += be16(b + i);
    if (i < n) sum += (uint32_t)b[i] << 8;
    // Take the field back out; at an odd offset its bytes sit in two words.
    sum -= (skip & 1) ? ((uint32_t)b[skip] | (uint32_t)b[skip + 1] << 8) : be16(b + skip);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

typedef struct {
    int header_length, packet_length;
    int destination_kind, destination_at, source_kind, source_at;
    int ttl_at, checksum_at;
    uint16_t type;
    uint8_t priority;
} parsed_t;

/// docs/flip.md §6 steps 1–6 on a body of `count` bytes: 0, or -1 to drop.
static inline int parse(const uint8_t *b, int count, parsed_t *h) {
    if (count < 1) return -1;
    uint8_t m1 = b[0], m2 = 0, m3 = 0;
    if (m1 & 0x40) return -1;  // an ESP: not in these frames
    int meta = 1;
    if (m1 & 0x80) {
        if (count < 2) return -1;
        m2 = b[1];
        meta = 2;
        if (m2 & 0x80) {
            if (count < 3) return -1;
            m3 = b[2];
            meta = 3;
            if (m3 & 0x80) return -1;
        }
    }
    if (m2 & 0x03) return -1;
    if (m3 & 0x1F) return -1;
    int dk = (m1 >> 3) & 3, sk = (m2 >> 5) & 3;
    int at = meta;
    int version_at = (m1 & 0x20) ? at++ : -1;
    h->destination_kind = dk;
    h->destination_at = at;
    at += address_size(dk);
    int type_at = (m1 & 0x04) ? (at += 2) - 2 : -1;
    h->ttl_at = (m1 & 0x02) ? at++ : -1;
    if (m1 & 0x01) at += 4;
    h->source_kind = sk;
    h->source_at = at;
    at += address_size(sk);
    int length_at = (m2 & 0x10) ? (at += 2) - 2 : -1;
    h->checksum_at = (m2 & 0x08) ? (at += 2) - 2 : -1;
    int offset_at = (m3 & 0x40) ? (at += 2) - 2 : -1;
    h->header_length = at;
    if (count < at) return -1;
    h->priority = 0;
    if (version_at >= 0) {
        if (b[version_at] & 0xF0) return -1;
        h->priority = b[version_at];
    }
    h->type = type_at >= 0 ? be16(b + type_at) : 0;
    h->packet_length = count;
    if (length_at >= 0) {
        int l = be16(b + length_at);
        if (l < at || l > count) return -1;
        h->packet_length = l;
    }
    if (h->checksum_at >= 0 && checksum(b, (uint32_t)h->packet_length, (uint32_t)h->checksum_at) != be16(b + h->checksum_at))
        return -1;
    if (offset_at >= 0 && (be16(b + offset_at) != 0 || !(m3 & 0x20))) return -1;
    return 0;
}

static inline int is_local(const bench_flip_setup *s, const uint8_t *body, const parsed_t *h) {
    const uint8_t *d = body + h->destination_at;
    return h->destination_kind == 0 || address_is_broadcast(h->destination_kind, d)
        || address_equal(&s->local, h->destination_kind, d);
}

static inline uint64_t mac_at(const uint8_t *b) {
    uint64_t m = 0;
    for (int i = 0; i < 6; i++) m = m << 8 | b[i];
    return m;
}

static inline void write_mac(uint8_t *b, uint64_t m) {
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(m >> (40 - 8 * i));
}

/// The static table: the next hop's MAC, or 0 (then drop).
static inline uint64_t resolve(const bench_flip_setup *s, int kind, const uint8_t *bytes) {
    return address_equal(&s->next_hop, kind, bytes) ? s->next_mac : 0;
}

static inline void write_link(uint8_t *frame, uint64_t destination, uint64_t source) {
    write_mac(frame, destination);
    write_mac(frame + 6, source);
    frame[12] = 0x20;
    frame[13] = 0x20;
}

/// Link receive: our MAC (or a group address) and the FLIP EtherType.
static inline int link_accepts(const bench_flip_setup *s, const uint8_t *f, uint32_t length) {
    return length > ETH && (mac_at(f) == s->own_mac || (f[0] & 1)) && be16(f + 12) == 0x2020;
}

static void stage_deliver(const bench_flip_setup *s, fpool_t *p, uint32_t *h, int n, int *ok) {
    for (int i = 0; i < n; i++) {
        fmeta_t *m = &p->metas[h[i]];
        uint8_t *f = bytes_of(p, h[i]);
        parsed_t x;
        ok[i] = link_accepts(s, f, m->length) && parse(f + ETH, (int)m->length - ETH, &x) == 0 && is_local(s, f + ETH, &x);
        if (!ok[i]) continue;
        delivered_t *d = (delivered_t *)(p->annotations + (size_t)h[i] * ANNOTATION);
        memset(d, 0, sizeof *d);
        d->destination.kind = (uint8_t)x.destination_kind;
        memcpy(d->destination.bytes, f + ETH + x.destination_at, (size_t)address_size(x.destination_kind));
        d->source.kind = (uint8_t)x.source_kind;
        memcpy(d->source.bytes, f + ETH + x.source_at, (size_t)address_size(x.source_kind));
        d->link_source = mac_at(f + 6);
        d->type = x.type;
        d->packet_length = (uint16_t)x.packet_length;
        d->ttl = x.ttl_at >= 0 ? f[ETH + x.ttl_at] : 0;
        d->priority = x.priority;
        d->header_length = (uint8_t)x.header_length;
        m->offset += (uint32_t)(ETH + x.header_length);
        m->length = (uint32_t)(x.packet_length - x.header_length);
    }
}

static void stage_forward(const bench_flip_setup *s, fpool_t *p, uint32_t *h, int n, int *ok) {
    for (int i = 0; i < n; i++) {
        fmeta_t *m = &p->metas[h[i]];
        uint8_t *f = bytes_of(p, h[i]);
        uint8_t *body = f + ETH;
        parsed_t x;
        ok[i] = 0;
        if (!link_accepts(s, f, m->length) || parse(body, (int)m->length - ETH, &x) != 0 || is_local(s, body, &x)) continue;
        if (x.ttl_at >= 0) {
            if (body[x.ttl_at] <= 1) continue;
            body[x.ttl_at]--;
            if (x.checksum_at >= 0) {
                uint16_t c = checksum(body, (uint32_t)x.packet_length, (uint32_t)x.checksum_at);
                body[x.checksum_at] = (uint8_t)(c >> 8);
                body[x.checksum_at + 1] = (uint8_t)c;
            }
        }
        uint64_t mac = resolve(s, x.destination_kind, body + x.destination_at);
        if (mac == 0) continue;
        write_link(f, mac, s->own_mac);
        m->length = (uint32_t)(ETH + x.packet_length);
        ok[i] = 1;
    }
}

static void stage_send(const bench_flip_setup *s, fpool_t *p, uint32_t *h, int n, int *ok) {
    for (int i = 0; i < n; i++) {
        fmeta_t *m = &p->metas[h[i]];
        const bench_flip_fields *r = (const bench_flip_fields *)(p->annotations + (size_t)h[i] * ANNOTATION);
        int dk = r->destination.kind, sk = r->source.kind;
        int with_length = r->has_length || r->has_checksum;
        int meta = (sk || with_length || r->has_checksum) ? 2 : 1;
        int hl = meta + address_size(dk) + (r->has_type ? 2 : 0) + (r->has_ttl ? 1 : 0) + address_size(sk)
            + (with_length ? 2 : 0) + (r->has_checksum ? 2 : 0);
        uint32_t total = (uint32_t)hl + m->length;
        ok[i] = 0;
        if (total > 1500 || m->offset < (uint32_t)(hl + ETH)) continue;
        m->offset -= (uint32_t)hl;
        m->length = total;
        uint8_t *b = bytes_of(p, h[i]);
        b[0] = (uint8_t)((meta > 1 ? 0x80 : 0) | dk << 3 | (r->has_type ? 0x04 : 0) | (r->has_ttl ? 0x02 : 0));
        int at = 1;
        if (meta > 1) b[at++] = (uint8_t)(sk << 5 | (with_length ? 0x10 : 0) | (r->has_checksum ? 0x08 : 0));
        memcpy(b + at, r->destination.bytes, (size_t)address_size(dk));
        at += address_size(dk);
        if (r->has_type) { b[at] = (uint8_t)(r->type >> 8); b[at + 1] = (uint8_t)r->type; at += 2; }
        if (r->has_ttl) b[at++] = r->ttl;
        memcpy(b + at, r->source.bytes, (size_t)address_size(sk));
        at += address_size(sk);
        if (with_length) { b[at] = (uint8_t)(total >> 8); b[at + 1] = (uint8_t)total; at += 2; }
        if (r->has_checksum) {
            uint16_t c = checksum(b, total, (uint32_t)at);
            b[at] = (uint8_t)(c >> 8);
            b[at + 1] = (uint8_t)c;
        }
        // Link: resolve (broadcast without a destination) and prepend.
        uint64_t mac = dk == 0 || address_is_broadcast(dk, r->destination.bytes) ? 0xFFFFFFFFFFFFull
            : resolve(s, dk, r->destination.bytes);
        if (mac == 0) continue;
        m->offset -= ETH;
        m->length += ETH;
        write_link(b - ETH, mac, s->own_mac);
        ok[i] = 1;
    }
}

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_flip_c_reference(const bench_flip_setup *s, uint64_t packets, uint8_t *last, int *last_length,
                                uint64_t *cpu_ns) {
    if (s->op < 0 || s->op > 2 || s->input_length < 1 || s->input_length > BUFFER - HEADROOM) return 0;
    fpool_t *p = calloc(1, sizeof *p);
    if (!p) return 0;
    p->buffers = aligned_alloc(64, (size_t)POOL * BUFFER);
    p->annotations = aligned_alloc(64, (size_t)POOL * ANNOTATION);
    if (!p->buffers || !p->annotations) {
        free(p->buffers);
        free(p->annotations);
        free(p);
        return 0;
    }
    for (uint32_t i = 0; i < POOL; i++) p->free_stack[i] = POOL - 1 - i;
    p->free_top = POOL;

    uint32_t work[BURST];
    int ok[BURST];
    uint64_t left = packets;
    uint32_t length = (uint32_t)s->input_length;
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    while (left > 0) {
        int n = left < BURST ? (int)left : BURST;
        // Source: buffers, bytes, metadata (and the sender's request).
        for (int i = 0; i < n; i++) {
            uint32_t h = p->free_stack[--p->free_top];
            memcpy(p->buffers + (size_t)h * BUFFER + HEADROOM, s->input, length);
            p->metas[h] = (fmeta_t){ HEADROOM, length };
            if (s->op == 2) memcpy(p->annotations + (size_t)h * ANNOTATION, &s->fields, sizeof s->fields);
            work[i] = h;
        }
        left -= (uint64_t)n;
        switch (s->op) {
        case 0: stage_deliver(s, p, work, n, ok); break;
        case 1: stage_forward(s, p, work, n, ok); break;
        default: stage_send(s, p, work, n, ok); break;
        }
        if (left == 0 && last && last_length && ok[n - 1]) {
            fmeta_t *m = &p->metas[work[n - 1]];
            memcpy(last, bytes_of(p, work[n - 1]), m->length);
            *last_length = (int)m->length;
        }
        // Sink: count, keep nothing, give the buffers back.
        for (int i = 0; i < n; i++) {
            if (ok[i]) {
                p->delivered++;
                p->bytes += p->metas[work[i]].length;
            } else {
                p->dropped++;
            }
            p->free_stack[p->free_top++] = work[i];
        }
    }
    uint64_t elapsed = clock_ns(CLOCK_MONOTONIC) - t0;
    if (cpu_ns) *cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    int good = p->delivered == packets && p->dropped == 0 && p->free_top == POOL;
    free(p->buffers);
    free(p->annotations);
    free(p);
    return good ? (elapsed ? elapsed : 1) : 0;
}
