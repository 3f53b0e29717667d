// A register-tiled SGEMM for the small matrices of RL networks (batch ~100-256, widths 64-256).
//
// Eigen's general product packs both operands into blocks for every call and zero-fills C for beta = 0; at these
// sizes that overhead is most of the time (RLtools is fast on Pendulum for the same reason: fixed-size loops, no
// packing). Here op(B) is read as rows (K x N, contiguous along N) — B stored transposed is first copied into that
// layout, a K x N copy that costs about 1/M of the product — and each tile of C is accumulated in vector registers
// over the whole K loop, broadcasting one element of op(A) per row and step. The tile fits the register file:
// 4 x 64 in 16 of AVX-512's 32 zmm registers; 4 x 16 in 8 of AVX2's 16 ymm registers (the 4 x 64 tile there needs
// 32 ymm accumulators, so they spilled to the stack on every step: SAC ran 2.3x slower on an AVX2-only EPYC).
#include "CBridge.h"
#include "SmallGemm.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

namespace {

constexpr int kRows = 4; // rows per tile (6 with AVX2, 12 accumulators, measured slower on SAC's batch of 100)
#if defined(__AVX512F__)
constexpr long kLanes = 16; // floats per vector register
constexpr int kWide = 4;    // vectors per tile row: 4 x 64 tiles
#else
constexpr long kLanes = 8;
constexpr int kWide = 2; // 4 x 16 tiles
#endif
typedef float vec __attribute__((vector_size(kLanes * sizeof(float)), aligned(4)));

inline vec load(const float *p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float *p, vec v) { std::memcpy(p, &v, sizeof v); }

constexpr long kMaxSide = 1024;
// op(B) as K x N rows for one thread, allocated once at its largest size (K, N <= kMaxSide) on first use, so a
// later, larger shape never reallocates inside a hot path. Untouched pages cost no memory.
thread_local std::unique_ptr<float[]> transposed;

/// C[MR x kLanes*NV] (=|+=) alpha * op(A)[MR x K] * Brows[K x kLanes*NV]; op(A)[i, k] = A[i*sm + k*sk].
template <int MR, int NV>
inline void tile(long K, float alpha, const float *A, long sm, long sk, const float *B, long ldb, float beta, float *C,
                 long ldc) {
  vec acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = vec{};
  for (long k = 0; k < K; ++k) {
    vec b[NV];
    for (int j = 0; j < NV; ++j) b[j] = load(B + k * ldb + kLanes * j);
    for (int i = 0; i < MR; ++i) {
      const float a = A[i * sm + k * sk];
      for (int j = 0; j < NV; ++j) acc[i][j] += a * b[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) {
      float *c = C + i * ldc + kLanes * j;
      vec r = alpha * acc[i][j];
      if (beta != 0.0f) r += beta * load(c);
      store(c, r);
    }
}

template <int NV>
inline void rowBlock(long M, long K, float alpha, const float *A, long sm, long sk, const float *B, long ldb, float beta,
                     float *C, long ldc) {
  long m = 0;
  for (; m + kRows <= M; m += kRows) tile<kRows, NV>(K, alpha, A + m * sm, sm, sk, B, ldb, beta, C + m * ldc, ldc);
  for (; m < M; ++m) tile<1, NV>(K, alpha, A + m * sm, sm, sk, B, ldb, beta, C + m * ldc, ldc);
}

} // namespace

namespace reflex {
void prepareSmallGemmThread() {
  if (!transposed) transposed.reset(new float[size_t(kMaxSide * kMaxSide)]);
}


bool smallGemm(bool tA, bool tB, long M, long N, long K, float alpha, const float *A, long lda, const float *B,
               long ldb, float beta, float *C, long ldc) {
  // Past a few MB of operands Eigen's cache blocking wins; below kLanes columns there is no full vector.
  // A few rows against a stored-transposed B (acting at batch 1, K = 8 denoising candidates) would spend more on
  // the strided copy of B than on the product (measured: K = 8 MLP-denoiser evaluations went from ~60 µs to ~490 µs
  // with the threshold at 8): Eigen reads B in place.
  if (tB && M < 32) return false;
  if (N < kLanes || K > kMaxSide || N > kMaxSide || double(M) * double(N) * double(K) > 3.0e7) return false;
  const float *rows = B;
  long ldr = ldb;
  if (tB) { // B is stored N x K: lay it out as K x N.
    prepareSmallGemmThread(); // default-initialized: untouched
    float *t = transposed.get();
    for (long n = 0; n < N; ++n)
      for (long k = 0; k < K; ++k) t[k * N + n] = B[n * ldb + k];
    rows = t;
    ldr = N;
  }
  const long sm = tA ? 1 : lda, sk = tA ? lda : 1;
  long n = 0;
  for (; n + kLanes * kWide <= N; n += kLanes * kWide) rowBlock<kWide>(M, K, alpha, A, sm, sk, rows + n, ldr, beta, C + n, ldc);
  for (; n + kLanes <= N; n += kLanes) rowBlock<1>(M, K, alpha, A, sm, sk, rows + n, ldr, beta, C + n, ldc);
  for (; n < N; ++n) // leftover columns, one dot product each
    for (long m = 0; m < M; ++m) {
      float s = 0;
      for (long k = 0; k < K; ++k) s += A[m * sm + k * sk] * rows[k * ldr + n];
      C[m * ldc + n] = alpha * s + (beta != 0.0f ? beta * C[m * ldc + n] : 0.0f);
    }
  return true;
}

} // namespace reflex

extern "C" int rx_small_sgemm(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                              const float *B, long ldb, float beta, float *C, long ldc) {
  if (M <= 0 || N <= 0) return 1;
  return reflex::smallGemm(transA != 0, transB != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) ? 1 : 0;
}
