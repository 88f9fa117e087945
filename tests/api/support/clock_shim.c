/* Shifts the wall clock of the process it is preloaded into, for tests of
 * clock steps: LD_PRELOAD=clock_shim.so CLOCK_SHIM_FILE=<file>. The file
 * holds one little-endian int64, the shift in milliseconds, read on every
 * call through a shared mapping, so a test steps the clock at run time by
 * writing it. Only CLOCK_REALTIME (and gettimeofday) move; monotonic
 * clocks stay true, as they do when NTP or an operator steps a host. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int64_t *shift_ms;

static int64_t shift(void) {
    if (!shift_ms) {
        const char *path = getenv("CLOCK_SHIM_FILE");
        int fd = path ? open(path, O_RDONLY) : -1;
        if (fd < 0) return 0;
        void *map = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (map == MAP_FAILED) return 0;
        shift_ms = map;
    }
    return *shift_ms;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int result = real(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + shift() * 1000000;
        ts->tv_sec = ns / 1000000000;
        ts->tv_nsec = ns % 1000000000;
    }
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *);
    if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    int result = real(tv, tz);
    if (result == 0 && tv) {
        int64_t us = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec + shift() * 1000;
        tv->tv_sec = us / 1000000;
        tv->tv_usec = us % 1000000;
    }
    return result;
}
