// Counts heap allocations made by the calling thread, by interposing malloc and friends in the test
// binary (an executable's definitions win over libc's on ELF platforms). Used by the tests that prove a
// hot path (a control tick, a forward/backward pass, a SAC update) allocates nothing.
#pragma once
#include <stdint.h>

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by this thread so far.
uint64_t rx_thread_allocation_count(void);
/// 1 when the interposer is active in this process (0 would make a zero count meaningless).
int rx_allocation_counter_active(void);
