// See CLANASupport.h for the invariants of this target.
#define _GNU_SOURCE
#include "CLANASupport.h"
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <poll.h>
#ifdef __linux__
#include <linux/capability.h>
#endif

int lana_pin_current_thread(int cpu) {
#ifdef __linux__
    return lana_set_thread_affinity(&cpu, 1);
#else
    (void)cpu;
    return 0;
#endif
}

int lana_name_current_thread(const char *name) {
#ifdef __linux__
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = '\0';
    return pthread_setname_np(pthread_self(), shortened);
#else
    (void)name;
    return 0;
#endif
}

#ifdef __linux__
int lana_tp3_restore_vlan(void *frame) {
    struct tpacket3_hdr *h = (struct tpacket3_hdr *)frame;
    // The sockaddr_ll ends TPACKET3_HDRLEN bytes into the frame; the room
    // between it and the Ethernet header is what the kernel left (14 bytes
    // for Ethernet, whose 14-byte header is padded to 16 in its layout).
    if (h->tp_mac < TPACKET3_HDRLEN + 4 || h->tp_snaplen < 2 * ETH_ALEN) return 0;
    uint8_t *mac = (uint8_t *)frame + h->tp_mac;
    uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    uint16_t tci = h->hv1.tp_vlan_tci;
    memmove(mac - 4, mac, 2 * ETH_ALEN);
    mac[8] = (uint8_t)(tpid >> 8);
    mac[9] = (uint8_t)tpid;
    mac[10] = (uint8_t)(tci >> 8);
    mac[11] = (uint8_t)tci;
    h->tp_mac -= 4;
    h->tp_snaplen += 4;
    h->tp_len += 4;
    return 1;
}
#endif

int lana_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#ifdef __linux__
#include <errno.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>

// Fills ifr_name, refusing names the kernel would truncate.
static int lana_ifreq_named(struct ifreq *ifr, const char *name) {
    memset(ifr, 0, sizeof(*ifr));
    size_t n = strlen(name);
    if (n == 0 || n >= IFNAMSIZ) return ENODEV;
    memcpy(ifr->ifr_name, name, n);
    return 0;
}

int lana_if_index(int fd, const char *name, int *index) {
    struct ifreq ifr;
    int e = lana_ifreq_named(&ifr, name);
    if (e) return e;
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) return errno;
    *index = ifr.ifr_ifindex;
    return 0;
}

int lana_if_name(int fd, int index, char *name, size_t capacity) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_ifindex = index;
    if (ioctl(fd, SIOCGIFNAME, &ifr) < 0) return errno;
    size_t n = strnlen(ifr.ifr_name, IFNAMSIZ);
    if (n + 1 > capacity) return ERANGE;
    memcpy(name, ifr.ifr_name, n);
    name[n] = 0;
    return 0;
}

int lana_if_hwaddr(int fd, const char *name, uint8_t address[6]) {
    struct ifreq ifr;
    int e = lana_ifreq_named(&ifr, name);
    if (e) return e;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return errno;
    memcpy(address, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

int lana_if_mtu(int fd, const char *name, int *mtu) {
    struct ifreq ifr;
    int e = lana_ifreq_named(&ifr, name);
    if (e) return e;
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) return errno;
    *mtu = ifr.ifr_mtu;
    return 0;
}

int lana_if_flags(int fd, const char *name, unsigned *flags) {
    struct ifreq ifr;
    int e = lana_ifreq_named(&ifr, name);
    if (e) return e;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return errno;
    *flags = (unsigned)(unsigned short)ifr.ifr_flags;
    return 0;
}

int lana_thread_affinity(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int e = pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
    if (e) return -e;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    }
    return n;
}

int lana_effective_capabilities(uint64_t *effective) {
    // Version 3: two 32-bit words per set (capabilities 0-63). No libcap
    // wrapper: capget is one system call.
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return errno;
    *effective = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
    return 0;
}

int lana_set_thread_affinity(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return EINVAL;
        CPU_SET(cpus[i], &set);
    }
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int lana_current_cpu(void) {
    return sched_getcpu();
}
int lana_enter_net_namespace(int fd) {
    return setns(fd, CLONE_NEWNET) == 0 ? 0 : errno;
}
#endif

const char *lana_errno_name(int code) {
    return strerrorname_np(code);
}

const char *lana_errno_text(int code) {
    return strerror(code);
}

static int wake_signal_number;
static pthread_once_t wake_signal_once = PTHREAD_ONCE_INIT;

static void wake_signal_handler(int signo) { (void)signo; }

static void wake_signal_install(void) {
    wake_signal_number = SIGRTMIN + 3;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = wake_signal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: the wait must end
    sigaction(wake_signal_number, &action, NULL);
}

int lana_wake_signal_setup(void) {
    pthread_once(&wake_signal_once, wake_signal_install);
    return wake_signal_number;
}

// The calling thread's signal mask while it sleeps: its mask from when it
// blocked the wake-up signal, without that signal. Kept per thread so a
// sleep costs no extra system call to read the mask.
static __thread sigset_t sleep_mask;
static __thread int sleep_mask_ready;

int lana_block_wake_signal(void) {
    sigset_t set, previous;
    int signo = lana_wake_signal_setup();
    sigemptyset(&set);
    sigaddset(&set, signo);
    int rc = pthread_sigmask(SIG_BLOCK, &set, &previous);
    if (rc != 0) return rc;
    sigdelset(&previous, signo);
    sleep_mask = previous;
    sleep_mask_ready = 1;
    return 0;
}

int lana_sleep_until_woken(void *fds, unsigned long count) {
    if (!sleep_mask_ready) lana_block_wake_signal();
    return ppoll((struct pollfd *)fds, (nfds_t)count, NULL, &sleep_mask);
}

int lana_wake_thread(unsigned long thread) {
    return pthread_kill((pthread_t)thread, lana_wake_signal_setup());
}

#include <sys/timerfd.h>

int lana_timerfd_create(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
}

int lana_timerfd_set(int fd, uint64_t nanoseconds) {
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = (time_t)(nanoseconds / 1000000000u);
    spec.it_value.tv_nsec = (long)(nanoseconds % 1000000000u);
    return timerfd_settime(fd, 0, &spec, NULL);
}
