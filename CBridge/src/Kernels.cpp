// Dense Float32 kernels over Eigen. Row-major maps with outer strides stand in for CBLAS.
#include "CBridge.h"
#include "SmallGemm.hpp"
#include "ThreadPool.hpp"

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <algorithm>
#include <cmath>
#include <cstring>

using namespace Eigen;

namespace {

using RowMat = Matrix<float, Dynamic, Dynamic, RowMajor>;
using CMap = Map<const RowMat, Unaligned, OuterStride<>>;
using MMap = Map<RowMat, Unaligned, OuterStride<>>;
using Vec = Map<const ArrayXf>;
using MVec = Map<ArrayXf>;

// Eigen's packing buffers for one thread, kept between calls: Eigen would otherwise allocate them on the heap
// for every product over 128 KB, and the hot path must not allocate. They grow to the largest product seen.
struct PackingBuffers {
  float *a = nullptr, *b = nullptr;
  size_t capacityA = 0, capacityB = 0;
  ~PackingBuffers() {
    internal::aligned_free(a);
    internal::aligned_free(b);
  }
  // The first reservation is generous (untouched pages cost no memory): a thread whose share of a product changes
  // with the kernel thread count (set globally, possibly by another thread) must not grow, i.e. allocate, later.
  static constexpr size_t kInitial = size_t(1) << 22;
  void reserve(size_t na, size_t nb) {
    if (na > capacityA) na = std::max(na, kInitial);
    if (nb > capacityB) nb = std::max(nb, kInitial);
    if (na > capacityA) {
      internal::aligned_free(a);
      a = static_cast<float *>(internal::aligned_malloc(na * sizeof(float)));
      capacityA = na;
    }
    if (nb > capacityB) {
      internal::aligned_free(b);
      b = static_cast<float *>(internal::aligned_malloc(nb * sizeof(float)));
      capacityB = nb;
    }
  }
};
thread_local PackingBuffers packing;
} // namespace

namespace reflex {
/// A kernel thread's buffers, made when the thread starts: its first touch of a thread_local registers the destructor
/// (glibc allocates for that) and reserves; done lazily, that happened the first time some caller's product of a new
/// kind (a small GEMM, say) reached the thread, possibly mid-run, while the pool served other callers beside the loop.
void prepareKernelThread() {
  packing.reserve(1, 1);
  prepareSmallGemmThread();
}
} // namespace reflex

namespace {

struct FixedBlocking : internal::level3_blocking<float, float> {
  FixedBlocking(float *a, float *b, Index mc, Index nc, Index kc) {
    m_blockA = a;
    m_blockB = b;
    m_mc = mc;
    m_nc = nc;
    m_kc = kc;
  }
};

template <int LhsOrder, int RhsOrder>
void gemmKernel(long M, long N, long K, float alpha, const float *A, long lda, const float *B, long ldb, float *C,
                long ldc) {
  // A row-major result is computed as the column-major transposed product, as Eigen does; blocking sizes
  // follow Eigen's heuristic for that problem (Goto's algorithm, cache sizes from cpuid).
  Index kc = K, mc = N, nc = M;
  internal::computeProductBlockingSizes<float, float, 1>(kc, mc, nc, Index(1));
  packing.reserve(size_t(kc * mc), size_t(kc * nc));
  FixedBlocking blocking(packing.a, packing.b, mc, nc, kc);
  internal::general_matrix_matrix_product<Index, float, LhsOrder, false, float, RhsOrder, false, RowMajor, 1>::run(
      M, N, K, A, lda, B, ldb, C, 1, ldc, alpha, blocking);
}

/// One GEMM on the calling thread.
void gemmSerial(bool tA, bool tB, long M, long N, long K, float alpha, const float *A, long lda, const float *B,
                long ldb, float beta, float *C, long ldc) {
  if (K > 0 && reflex::smallGemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  MMap c(C, M, N, OuterStride<>(ldc));
  if (beta == 0.0f) {
    c.setZero();
  } else if (beta != 1.0f) {
    c *= beta;
  }
  if (K == 0) return;
  if (M == 1 || N == 1) { // a vector result: GEMV streams the matrix once
    // Vector operands as compile-time vectors with runtime strides, so Eigen's GEMV needs no heap temporary.
    using SVec = Map<const VectorXf, Unaligned, InnerStride<>>;
    using MSVec = Map<VectorXf, Unaligned, InnerStride<>>;
    if (M == 1) { // c^T (N) = op(B)^T a^T
      SVec a(A, K, InnerStride<>(tA ? lda : 1));
      MSVec cv(C, N, InnerStride<>(1));
      if (tB) cv.noalias() += alpha * (CMap(B, N, K, OuterStride<>(ldb)) * a);
      else cv.noalias() += alpha * (CMap(B, K, N, OuterStride<>(ldb)).transpose() * a);
    } else { // c (M) = op(A) b
      SVec b(B, K, InnerStride<>(tB ? 1 : ldb));
      MSVec cv(C, M, InnerStride<>(ldc));
      if (!tA) cv.noalias() += alpha * (CMap(A, M, K, OuterStride<>(lda)) * b);
      else cv.noalias() += alpha * (CMap(A, K, M, OuterStride<>(lda)).transpose() * b);
    }
    return;
  }
  // op(A) is RowMajor when stored as is, ColMajor when stored transposed (likewise B).
  if (!tA && !tB) gemmKernel<RowMajor, RowMajor>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else if (!tA && tB) gemmKernel<RowMajor, ColMajor>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else if (tA && !tB) gemmKernel<ColMajor, RowMajor>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else gemmKernel<ColMajor, ColMajor>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
}

// Below about this many multiply-adds, waking a second thread costs more than it saves.
constexpr double kParallelMACs = 2.0e6;

} // namespace

extern "C" {

const char *rx_simd_instruction_sets(void) { return Eigen::SimdInstructionSetsInUse(); }

int rx_kernels_optimized(void) {
#if defined(__OPTIMIZE__)
  return 1;
#else
  return 0;
#endif
}

void rx_sgemm(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
              const float *B, long ldb, float beta, float *C, long ldc) {
  if (M <= 0 || N <= 0) return;
  auto &pool = reflex::ThreadPool::shared();
  const int threads = pool.size();
  const double macs = double(M) * double(N) * double(K);
  if (threads <= 1 || macs < kParallelMACs) {
    gemmSerial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the larger output dimension; each part is an independent GEMM on a sub-block of C.
  if (M >= N) {
    const long chunk = (M + threads - 1) / threads;
    pool.run(threads, [&](int i) {
      const long m0 = i * chunk, m1 = std::min(M, m0 + chunk);
      if (m0 >= m1) return;
      const float *a = transA ? A + m0 : A + m0 * lda;
      gemmSerial(transA, transB, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + m0 * ldc, ldc);
    });
  } else {
    const long chunk = ((N + threads - 1) / threads + 15) / 16 * 16;
    pool.run(threads, [&](int i) {
      const long n0 = i * chunk, n1 = std::min(N, n0 + chunk);
      if (n0 >= n1) return;
      const float *b = transB ? B + n0 * ldb : B + n0;
      gemmSerial(transA, transB, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, C + n0, ldc);
    });
  }
}

void rx_sgemm_batched(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                      long strideA, const float *B, long ldb, long strideB, float beta, float *C, long ldc,
                      long strideC, long batch) {
  auto &pool = reflex::ThreadPool::shared();
  const int threads = std::min<long>(pool.size(), batch);
  const double macs = double(M) * double(N) * double(K) * double(batch);
  if (threads <= 1 || macs < kParallelMACs) {
    for (long i = 0; i < batch; ++i)
      gemmSerial(transA, transB, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta,
                 C + i * strideC, ldc);
    return;
  }
  pool.run(threads, [&](int t) {
    for (long i = t; i < batch; i += threads)
      gemmSerial(transA, transB, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta,
                 C + i * strideC, ldc);
  });
}

void rx_sgemv(int trans, long M, long N, float alpha, const float *A, long lda, const float *x, float beta,
              float *y) {
  CMap a(A, M, N, OuterStride<>(lda));
  const long outN = trans ? N : M, inN = trans ? M : N;
  Map<VectorXf> yv(y, outN);
  Map<const VectorXf> xv(x, inN);
  if (beta == 0.0f) yv.setZero();
  else if (beta != 1.0f) yv *= beta;
  if (trans) yv.noalias() += alpha * (a.transpose() * xv);
  else yv.noalias() += alpha * (a * xv);
}

void rx_bias_add(long rows, long cols, float *Y, long ldy, const float *b) {
  for (long r = 0; r < rows; ++r) {
    float *y = Y + r * ldy;
#pragma clang loop vectorize(assume_safety)
    for (long c = 0; c < cols; ++c) y[c] += b[c];
  }
}

void rx_bias_grad(long rows, long cols, const float *dY, long lddy, float *db, int accumulate) {
  if (!accumulate) std::memset(db, 0, sizeof(float) * cols);
  for (long r = 0; r < rows; ++r) {
    const float *d = dY + r * lddy;
#pragma clang loop vectorize(assume_safety)
    for (long c = 0; c < cols; ++c) db[c] += d[c];
  }
}

} // extern "C"

// Elementwise activations. Plain loops auto-vectorize at -O3; the transcendental parts go through Eigen's
// vectorized exp/tanh/erf on fixed-size blocks kept on the stack. Mish and softplus are rewritten in terms of
// exp alone, because log1p has no vectorized form in Eigen 3.4:
//   tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2),
//   softplus(x) = max(x, 0) + log1p(e^{-|x|}), log1p(u) by its series when u is tiny.
namespace {

constexpr long kBlock = 256;
using ActBlock = Array<float, Dynamic, 1, 0, kBlock, 1>;

// log1p(u) for u in [0, 1]: log(1 + u), or the series u - u^2/2 + u^3/3 where 1 + u would round.
inline ActBlock log1pSmall(const ActBlock &u) {
  return (u < 1e-3f).select(u * (1.0f - u * (0.5f - u * (1.0f / 3.0f))), (1.0f + u).log());
}

inline ActBlock softplusBlock(const ActBlock &x) { return x.max(0.0f) + log1pSmall((-x.abs()).exp()); }

inline ActBlock sigmoidBlock(const ActBlock &x) { return 1.0f / (1.0f + (-x).exp()); }

// tanh(softplus(x)), exact form n/(n+2); above 20 it is 1 in float (and e^{2x} would overflow past 44).
inline ActBlock tanhSoftplusBlock(const ActBlock &x) {
  const ActBlock e = x.min(20.0f).exp();
  const ActBlock n = e * (e + 2.0f);
  return n / (n + 2.0f);
}

template <class F> inline void blocks(long n, F &&f) {
  for (long i = 0; i < n; i += kBlock) f(i, std::min(kBlock, n - i));
}

} // namespace

extern "C" {

void rx_activation_forward(rx_activation f, long n, const float *x, float *y) {
  switch (f) {
  case RX_ACT_IDENTITY:
    if (x != y) std::memmove(y, x, sizeof(float) * n);
    return;
  case RX_ACT_RELU:
    // Elementwise (in place or not), so there is no loop-carried dependence to guard against.
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return;
  default:
    break;
  }
  blocks(n, [&](long i, long m) {
    const ActBlock xs = Map<const ArrayXf>(x + i, m);
    Map<ArrayXf> ys(y + i, m);
    switch (f) {
    case RX_ACT_TANH: ys = xs.tanh(); break;
    case RX_ACT_SIGMOID: ys = sigmoidBlock(xs); break;
    case RX_ACT_SOFTPLUS: ys = (xs > 20.0f).select(xs, softplusBlock(xs)); break; // PyTorch's threshold 20
    case RX_ACT_MISH: ys = xs * tanhSoftplusBlock(xs); break;
    case RX_ACT_SILU: ys = xs * sigmoidBlock(xs); break;
    case RX_ACT_GELU: ys = 0.5f * xs * (1.0f + (xs * float(M_SQRT1_2)).erf()); break;
    default: break;
    }
  });
}

void rx_activation_backward(rx_activation f, long n, const float *x, const float *dy, float *dx) {
  switch (f) {
  case RX_ACT_IDENTITY:
    if (dy != dx) std::memmove(dx, dy, sizeof(float) * n);
    return;
  case RX_ACT_RELU:
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    return;
  default:
    break;
  }
  blocks(n, [&](long i, long m) {
    const ActBlock xs = Map<const ArrayXf>(x + i, m);
    const ActBlock g = Map<const ArrayXf>(dy + i, m);
    Map<ArrayXf> out(dx + i, m);
    switch (f) {
    case RX_ACT_TANH: out = g * (1.0f - xs.tanh().square()); break;
    case RX_ACT_SIGMOID: {
      const ActBlock s = sigmoidBlock(xs);
      out = g * s * (1.0f - s);
      break;
    }
    case RX_ACT_SOFTPLUS: out = (xs > 20.0f).select(g, g * sigmoidBlock(xs)); break;
    case RX_ACT_MISH: { // d/dx x tanh(sp(x)) = t + x (1 - t^2) sigmoid(x)
      const ActBlock t = tanhSoftplusBlock(xs);
      out = g * (t + xs * (1.0f - t.square()) * sigmoidBlock(xs));
      break;
    }
    case RX_ACT_SILU: {
      const ActBlock s = sigmoidBlock(xs);
      out = g * s * (1.0f + xs * (1.0f - s));
      break;
    }
    case RX_ACT_GELU: { // Phi(x) + x phi(x)
      const float invSqrt2Pi = 0.3989422804014327f;
      out = g * (0.5f * (1.0f + (xs * float(M_SQRT1_2)).erf()) + xs * invSqrt2Pi * (-0.5f * xs.square()).exp());
      break;
    }
    default: break;
    }
  });
}

void rx_layernorm_forward(long rows, long d, const float *x, const float *gamma, const float *beta, float eps,
                          float *y, float *mean, float *rstd) {
  for (long r = 0; r < rows; ++r) {
    Map<const ArrayXf> xr(x + r * d, d);
    Map<ArrayXf> yr(y + r * d, d);
    const float mu = xr.mean();
    const float var = (xr - mu).square().mean();
    const float rs = 1.0f / std::sqrt(var + eps);
    if (mean) mean[r] = mu;
    if (rstd) rstd[r] = rs;
    if (gamma && beta) yr = (xr - mu) * rs * Map<const ArrayXf>(gamma, d) + Map<const ArrayXf>(beta, d);
    else yr = (xr - mu) * rs;
  }
}

void rx_softmax_rows(long rows, long n, float *x, long ld) {
  for (long r = 0; r < rows; ++r) {
    Map<ArrayXf> xr(x + r * ld, n);
    const float top = xr.maxCoeff();
    xr = (xr - top).exp();
    xr /= xr.sum();
  }
}

void rx_layernorm_backward(long rows, long d, const float *x, const float *gamma, const float *mean,
                           const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta) {
  for (long r = 0; r < rows; ++r) {
    Map<const ArrayXf> xr(x + r * d, d), dyr(dy + r * d, d);
    Map<ArrayXf> dxr(dx + r * d, d);
    const float mu = mean[r], rs = rstd[r];
    // dxhat = dy * gamma; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    float sumD = 0, sumDX = 0;
    for (long i = 0; i < d; ++i) {
      const float xh = (x[r * d + i] - mu) * rs;
      const float dxh = dy[r * d + i] * (gamma ? gamma[i] : 1.0f);
      sumD += dxh;
      sumDX += dxh * xh;
      if (dgamma) dgamma[i] += dy[r * d + i] * xh;
      if (dbeta) dbeta[i] += dy[r * d + i];
    }
    const float mD = sumD / d, mDX = sumDX / d;
    if (gamma)
      dxr = rs * (dyr * Map<const ArrayXf>(gamma, d) - mD - (xr - mu) * rs * mDX);
    else
      dxr = rs * (dyr - mD - (xr - mu) * rs * mDX);
  }
}

void rx_adam_step(long n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int decoupled, long step) {
  MVec pv(p, n), mv(m, n), vv(v, n);
  Vec gv(g, n);
  const float c1 = 1.0f - std::pow(beta1, float(step));
  const float c2 = 1.0f - std::pow(beta2, float(step));
  const float stepSize = lr / c1;
  const float rc2 = 1.0f / std::sqrt(c2);
  if (weight_decay != 0.0f && !decoupled) {
    mv = beta1 * mv + (1.0f - beta1) * (gv + weight_decay * pv);
    vv = beta2 * vv + (1.0f - beta2) * (gv + weight_decay * pv).square();
  } else {
    if (weight_decay != 0.0f) pv *= (1.0f - lr * weight_decay);
    mv = beta1 * mv + (1.0f - beta1) * gv;
    vv = beta2 * vv + (1.0f - beta2) * gv.square();
  }
  // PyTorch's form: p -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps)
  pv -= stepSize * mv / (vv.sqrt() * rc2 + eps);
}

void rx_polyak(long n, float *target, const float *source, float tau) {
  MVec t(target, n);
  Vec s(source, n);
  t = (1.0f - tau) * t + tau * s;
}

void rx_saxpy(long n, float alpha, const float *x, float *y) {
  MVec(y, n) += alpha * Vec(x, n);
}

double rx_sum_squares(long n, const float *x) {
  return Vec(x, n).cast<double>().square().sum();
}

// IEEE half and bfloat16 conversions, bit-exact with numpy / torch (round to nearest even).
void rx_f16_to_f32(long n, const uint16_t *src, float *dst) {
  for (long i = 0; i < n; ++i) dst[i] = static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(src[i]));
}
void rx_bf16_to_f32(long n, const uint16_t *src, float *dst) {
  for (long i = 0; i < n; ++i) {
    const uint32_t bits = uint32_t(src[i]) << 16;
    std::memcpy(dst + i, &bits, 4);
  }
}
void rx_f32_to_f16(long n, const float *src, uint16_t *dst) {
  for (long i = 0; i < n; ++i) dst[i] = Eigen::numext::bit_cast<uint16_t>(Eigen::half(src[i]));
}
void rx_f32_to_bf16(long n, const float *src, uint16_t *dst) {
  for (long i = 0; i < n; ++i) dst[i] = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(src[i]));
}

} // extern "C"
