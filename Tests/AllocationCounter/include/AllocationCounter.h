// Counts heap allocations per thread, by interposing malloc and friends in the test binary (an executable's
// definitions win over libc's on ELF platforms). Used by the tests that prove a hot path (a control tick, a
// forward/backward pass, a SAC update, the inference worker and the kernel threads) allocates nothing.
#pragma once
#include <stdint.h>

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by this thread so far.
uint64_t rx_thread_allocation_count(void);
/// 1 when the interposer is active in this process (0 would make a zero count meaningless).
int rx_allocation_counter_active(void);

/// Threads seen allocating so far (one slot each, in order of their first allocation; slots are never reused).
int rx_allocation_slots(void);
/// Slot `index`'s kernel thread id and allocation count; returns 0 for a slot not yet filled in.
int rx_allocation_slot(int index, int32_t *tid, uint64_t *count);
/// Allocations of threads that found no free slot (the table is full).
uint64_t rx_allocations_without_slot(void);
