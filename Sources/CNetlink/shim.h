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

static inline int cnl_nlmsg_align(int len) { return NLMSG_ALIGN(len); }
static inline int cnl_nla_align(int len) { return NLA_ALIGN(len); }
static inline int cnl_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }
static inline int cnl_genl_hdrlen(void) { return GENL_HDRLEN; }
static inline int cnl_nla_hdrlen(void) { return NLA_HDRLEN; }
static inline int cnl_nlmsgerr_size(void) { return (int)sizeof(struct nlmsgerr); }

#endif
