// libnl-3 / libnl-genl-3 for Swift. Function-like macros do not import, so
// the ones the control protocol needs are re-stated as static inline shims.
#ifndef CNETLINK_SHIM_H
#define CNETLINK_SHIM_H
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/errno.h>

#include <stdint.h>
#include <sys/socket.h>
#include <sys/eventfd.h>

static inline int cnl_nlmsg_align(int len) { return NLMSG_ALIGN(len); }
static inline int cnl_nla_align(int len) { return NLA_ALIGN(len); }
static inline int cnl_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }
static inline int cnl_genl_hdrlen(void) { return GENL_HDRLEN; }
static inline int cnl_nla_hdrlen(void) { return NLA_HDRLEN; }
static inline int cnl_nlmsgerr_size(void) { return (int)sizeof(struct nlmsgerr); }

// The control socket layer (LANAControl/UnixSeqpacketSocket.swift) needs a
// few GNU extensions that Swift's Glibc module leaves out because they sit
// behind _GNU_SOURCE. They are re-stated here with the kernel's ABI rather
// than by defining _GNU_SOURCE, which would not reach the already-built
// Glibc module anyway.

/// `struct ucred` as returned by `getsockopt(SO_PEERCRED)`.
struct cnl_ucred {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
};

/// `accept4(2)`: accept with SOCK_NONBLOCK | SOCK_CLOEXEC in one step, so a
/// client descriptor never exists in blocking or inheritable form.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// `SO_PEERGROUPS` (Linux 4.13): the peer's supplementary groups at connect().
static inline int cnl_so_peergroups(void) { return 59; }

/// `POLLRDHUP`: the peer shut down its sending side. Distinguishes end of
/// stream from an empty datagram, both of which read as 0 bytes.
static inline short cnl_pollrdhup(void) { return 0x2000; }
#endif
