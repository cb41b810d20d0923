// libpcap's classic BPF interpreter, for `lana-bench bpf` to measure LANA's
// machine against. Only the interpreter is exposed (programs are compiled
// on the Swift side), with LANA's own instruction layout, so that this
// module does not re-declare libpcap's types next to the main package's
// CPcap module.
#ifndef CBPFBENCH_H
#define CBPFBENCH_H

#include <stdint.h>

/// `struct bpf_insn`, field for field.
typedef struct {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} bench_bpf_insn;

/// libpcap's `bpf_filter(program, packet, length, length)`.
uint32_t bench_pcap_bpf_filter(const bench_bpf_insn *program, const uint8_t *packet, uint32_t length);

#endif
