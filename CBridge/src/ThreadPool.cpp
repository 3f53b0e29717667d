#include "ThreadPool.hpp"

#include <thread>

#if defined(__linux__)
#include <pthread.h>
#endif

#include "CBridge.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RX_PAUSE() _mm_pause()
#else
#define RX_PAUSE() ((void)0)
#endif

namespace reflex {

ThreadPool &ThreadPool::shared() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() { stopAll(); }

void ThreadPool::stopAll() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto &t : workers_) t.join();
  workers_.clear();
  stopping_.store(false);
}

void ThreadPool::resize(int threads) {
  std::lock_guard<std::mutex> guard(dispatchMutex_);
  if (threads < 1) threads = 1;
  if (threads == size()) return;
  stopAll();
  // Each worker starts from the generation as it is now: a worker that read it itself, after starting, could
  // read the generation of the first job and wait for the next one while the caller waits for it (lost wake-up).
  const uint64_t start = generation_.load();
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i, start] { workerLoop(i, start); });
}

void ThreadPool::dispatch(int n, Job *job) {
  std::unique_lock<std::mutex> guard(dispatchMutex_, std::try_to_lock);
  if (!guard.owns_lock() || n > size()) { // another thread is using the pool: do the work here
    for (int i = 0; i < n; ++i) (*job)(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = job;
    jobCount_ = n;
    pending_.store(n - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  (*job)(0);
  // Spin while the workers finish; past ~10 µs yield the core, so that on an oversubscribed machine the worker we wait
  // for gets to run instead of this thread burning its time slice.
  for (int spin = 0; pending_.load(std::memory_order_acquire) > 0; ++spin) {
    if (spin < 4000) RX_PAUSE();
    else std::this_thread::yield();
  }
}

void ThreadPool::workerLoop(int index, uint64_t seen) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), "reflex-kernel"); // for ps, perf and the tests that find it in /proc
#endif
  reflex::prepareKernelThread(); // every per-thread buffer now, so no kernel allocates on this thread later
  for (;;) {
    // Spin a little (about 50 µs) for the next job of a burst before sleeping.
    for (int spin = 0; generation_.load(std::memory_order_acquire) == seen && spin < 20000; ++spin) RX_PAUSE();
    Job *job;
    int count;
    {
      // The generation, job and count are read together under the lock that dispatch() writes them under, so a
      // worker that missed a job (it had no index in it) never runs a later job twice.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      if (stopping_.load()) return;
      job = job_;
      count = jobCount_;
    }
    if (index < count) {
      (*job)(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

} // namespace reflex

extern "C" void rx_set_num_threads(int n) { reflex::ThreadPool::shared().resize(n); }
extern "C" int rx_num_threads(void) { return reflex::ThreadPool::shared().size(); }
