// See CLANASupport.h for the invariants of this target.
#define _GNU_SOURCE
#include "CLANASupport.h"
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

int lana_pin_current_thread(int cpu) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
    (void)cpu;
    return 0;
#endif
}

int lana_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
