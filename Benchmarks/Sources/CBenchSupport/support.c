#define _GNU_SOURCE
#include "CBenchSupport.h"
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

int bench_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

void bench_malloc_probe(void) {
    void *volatile p = malloc(48);
    free(p);
}

static void *bench_probe_main(void *arg) {
    (void)arg;
    bench_malloc_probe();
    return NULL;
}

int bench_malloc_probe_on_thread(void) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, bench_probe_main, NULL);
    if (rc != 0) return rc;
    return pthread_join(t, NULL);
}
