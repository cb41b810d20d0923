// CPcap: libpcap's filter compiler and reference interpreter, plus the
// Linux socket-filter definitions (struct sock_fprog, SKF_AD_*) that the
// LANABPF tests use to hand programs to the kernel.
//
// Invariants: header-only; nothing here keeps state. libpcap's
// `pcap_compile` and `bpf_image` are not thread-safe (static buffers,
// a global parser): LANABPF serializes every call with one lock.
#ifndef LANA_CPCAP_SHIM_H
#define LANA_CPCAP_SHIM_H

#include <pcap/pcap.h>
#include <pcap/bpf.h>

#ifdef __linux__
#include <linux/filter.h>
#include <sys/socket.h>

/// Attaches a classic BPF program to a socket (SO_ATTACH_FILTER).
/// Returns 0 or -1 with errno set, like setsockopt.
static inline int lana_attach_socket_filter(int fd, const struct sock_filter *code, unsigned short count) {
    struct sock_fprog prog;
    prog.len = count;
    prog.filter = (struct sock_filter *)code;
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}
#endif

#endif
