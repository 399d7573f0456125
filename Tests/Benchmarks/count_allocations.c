/* LD_PRELOAD shim for `make bench`: counts the calls to malloc, calloc, realloc and
 * posix_memalign/aligned_alloc a process makes (the Swift runtime allocates through them), and
 * writes the count to the file named by $COUNT_ALLOCATIONS_OUT when the process exits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong allocations;

#define FORWARD(ret, name, params, args)                         \
    ret name params {                                            \
        static ret (*next) params;                               \
        if (!next) next = (ret (*) params)dlsym(RTLD_NEXT, #name); \
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); \
        return next args;                                        \
    }

FORWARD(void *, malloc, (size_t size), (size))
FORWARD(void *, realloc, (void *p, size_t size), (p, size))
FORWARD(int, posix_memalign, (void **p, size_t align, size_t size), (p, align, size))
FORWARD(void *, aligned_alloc, (size_t align, size_t size), (align, size))

/* dlsym itself may calloc: serve that first call from a static buffer, which free ignores. */
static char early[256];

void free(void *p) {
    static void (*next)(void *);
    if (p == early) return;
    if (!next) next = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next(p);
}

void *calloc(size_t n, size_t size) {
    static void *(*next)(size_t, size_t);
    static int resolving;
    if (!next) {
        if (resolving) return early;
        resolving = 1;
        next = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        resolving = 0;
    }
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return next(n, size);
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("COUNT_ALLOCATIONS_OUT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%lu\n", atomic_load(&allocations));
    fclose(f);
}
