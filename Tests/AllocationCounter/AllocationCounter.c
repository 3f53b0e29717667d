#define _GNU_SOURCE
#include "AllocationCounter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

// Under a sanitizer the sanitizer owns malloc: interposing it too crashes before the sanitizer's runtime is up (TSan
// segfaults in its trace on the first malloc). Sanitizer runs leave allocation counting out (scripts/sanitize.sh
// skips the allocation tests); rx_allocation_counter_active() then stays 0.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define RX_SANITIZED 1
#endif
#endif

#if defined(__linux__) && !defined(RX_SANITIZED)
#include <sys/syscall.h>
#include <unistd.h>

// glibc's own entry points, which the interposed symbols forward to.
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

// Every thread that allocates gets a slot of its own (never reused) holding its kernel thread id and its count, so a
// test can read the counts of OTHER threads — the control loop's, the inference worker's, the kernel pool's —
// named through /proc. Only the owning thread writes its slot.
#define RX_SLOTS 32768
static struct {
  _Atomic int32_t tid;
  _Atomic uint64_t count;
} slots[RX_SLOTS];
static _Atomic int used;
static _Atomic uint64_t unslotted; // allocations of threads past the last slot

static __thread uint64_t allocations;
static __thread int slot = -1;
static int active;

static inline void count_one(void) {
  allocations++;
  if (slot < 0) {
    slot = atomic_fetch_add_explicit(&used, 1, memory_order_relaxed);
    if (slot < RX_SLOTS) atomic_store_explicit(&slots[slot].tid, (int32_t)syscall(SYS_gettid), memory_order_relaxed);
  }
  if (slot < RX_SLOTS) atomic_store_explicit(&slots[slot].count, allocations, memory_order_relaxed);
  else atomic_fetch_add_explicit(&unslotted, 1, memory_order_relaxed);
}

void *malloc(size_t n) {
  active = 1;
  count_one();
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  count_one();
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  count_one();
  return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t n) {
  count_one();
  return __libc_memalign(alignment, n);
}
void *aligned_alloc(size_t alignment, size_t n) {
  count_one();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void **out, size_t alignment, size_t n) {
  count_one();
  void *p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

uint64_t rx_thread_allocation_count(void) { return allocations; }
int rx_allocation_counter_active(void) { return active; }

int rx_allocation_slots(void) {
  int n = atomic_load_explicit(&used, memory_order_relaxed);
  return n < RX_SLOTS ? n : RX_SLOTS;
}

int rx_allocation_slot(int index, int32_t *tid, uint64_t *count) {
  if (index < 0 || index >= rx_allocation_slots()) return 0;
  *tid = atomic_load_explicit(&slots[index].tid, memory_order_relaxed);
  *count = atomic_load_explicit(&slots[index].count, memory_order_relaxed);
  return *tid != 0;
}

uint64_t rx_allocations_without_slot(void) { return atomic_load_explicit(&unslotted, memory_order_relaxed); }
#else
uint64_t rx_thread_allocation_count(void) { return 0; }
int rx_allocation_counter_active(void) { return 0; }
int rx_allocation_slots(void) { return 0; }
int rx_allocation_slot(int index, int32_t *tid, uint64_t *count) { return 0; }
uint64_t rx_allocations_without_slot(void) { return 0; }
#endif
