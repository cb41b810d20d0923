#include "CBPFBench.h"

#include <sys/types.h>
#include <pcap/bpf.h>

_Static_assert(sizeof(bench_bpf_insn) == sizeof(struct bpf_insn), "bench_bpf_insn must match struct bpf_insn");

uint32_t bench_pcap_bpf_filter(const bench_bpf_insn *program, const uint8_t *packet, uint32_t length) {
    // A tail call: the wrapper adds a jump, not a frame.
    return bpf_filter((const struct bpf_insn *)program, packet, length, length);
}
