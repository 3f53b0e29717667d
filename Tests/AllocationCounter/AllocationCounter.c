#define _GNU_SOURCE
#include "AllocationCounter.h"

#include <errno.h>
#include <stddef.h>

#if defined(__linux__)
// glibc's own entry points, which the interposed symbols forward to.
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread uint64_t allocations;
static int active;

void *malloc(size_t n) {
  active = 1;
  allocations++;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  allocations++;
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  allocations++;
  return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t n) {
  allocations++;
  return __libc_memalign(alignment, n);
}
void *aligned_alloc(size_t alignment, size_t n) {
  allocations++;
  return __libc_memalign(alignment, n);
}
int posix_memalign(void **out, size_t alignment, size_t n) {
  allocations++;
  void *p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

uint64_t rx_thread_allocation_count(void) { return allocations; }
int rx_allocation_counter_active(void) { return active; }
#else
uint64_t rx_thread_allocation_count(void) { return 0; }
int rx_allocation_counter_active(void) { return 0; }
#endif
