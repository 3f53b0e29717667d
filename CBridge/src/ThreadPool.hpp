// A tiny fork-join pool for splitting one kernel call over the cores. Workers spin briefly and then sleep,
// so a burst of GEMMs (one training step) pays the wake-up once, and an idle process burns no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace reflex {

/// Makes the calling thread's kernel buffers (GEMM packing, the small-GEMM scratch); Kernels.cpp. Each pool worker
/// calls it when it starts.
void prepareKernelThread();

class ThreadPool {
public:
  static ThreadPool &shared();

  /// Total threads including the caller (>= 1).
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void resize(int threads);

  /// Runs task(i) for i in 0..<n, the caller taking i = 0. n must be <= size(). Real-time safe: no
  /// allocation (the task is passed by reference), one mutex-free handoff per call.
  template <class F> void run(int n, F &&task) {
    if (n <= 1 || workers_.empty()) {
      for (int i = 0; i < n; ++i) task(i);
      return;
    }
    Invoker<F> invoker(task);
    dispatch(n, &invoker);
  }

  ~ThreadPool();

private:
  struct Job {
    virtual void operator()(int i) = 0;
  };
  template <class F> struct Invoker final : Job {
    F &f;
    explicit Invoker(F &f) : f(f) {}
    void operator()(int i) override { f(i); }
  };

  void dispatch(int n, Job *job);
  void workerLoop(int index, uint64_t seen);
  void stopAll();

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  Job *job_ = nullptr;
  int jobCount_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::mutex dispatchMutex_; // one caller at a time; others run single-threaded rather than wait
};

} // namespace reflex
