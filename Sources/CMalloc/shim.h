#pragma once
#if defined(__GLIBC__) || __has_include(<malloc.h>)
#include <malloc.h>
#endif

/* glibc gives each thread that allocates an arena of its own (up to 8 per core). The agent runs a
   thread per bus, so a gateway with a hundred meters ends up with a dozen arenas, each holding
   freed memory that the others cannot reuse: about 1 MB resident for nothing. One arena is
   enough, since every thread first allocates from its own lock-free tcache. Returns 1 on success,
   0 where the C library has no such setting (musl). */
static inline int meteragent_malloc_single_arena(void) {
#ifdef M_ARENA_MAX
    return mallopt(M_ARENA_MAX, 1);
#else
    return 0;
#endif
}
