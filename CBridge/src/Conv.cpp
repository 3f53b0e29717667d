// 1-D convolution helpers for the ConditionalUnet1D: im2col / col2im around one GEMM per layer, and the
// per-channel epilogues (GroupNorm, Mish, FiLM). Activations are position-major: a (batch·length) × C row-major
// matrix, one row of channels per sequence position, so a convolution is Y = col · Wᵀ with W re-laid out at load
// as (C_out, k, C_in) and im2col rows that are k input rows side by side.
#include "CBridge.h"
#include "ThreadPool.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>

extern "C" {

void rx_conv1d_im2col(long in_channels, long batch, long length, long kernel, long stride, long padding,
                      const float *x, float *col) {
  const long lout = (length + 2 * padding - kernel) / stride + 1;
  const long width = kernel * in_channels;
  for (long b = 0; b < batch; ++b) {
    for (long t = 0; t < lout; ++t) {
      float *row = col + (b * lout + t) * width;
      for (long j = 0; j < kernel; ++j) {
        const long s = t * stride + j - padding;
        float *dst = row + j * in_channels;
        if (s >= 0 && s < length) {
          std::memcpy(dst, x + (b * length + s) * in_channels, size_t(in_channels) * sizeof(float));
        } else {
          std::memset(dst, 0, size_t(in_channels) * sizeof(float));
        }
      }
    }
  }
}

void rx_conv_transpose1d_col2im(long out_channels, long batch, long length, long kernel, long stride, long padding,
                                const float *z, const float *bias, float *y) {
  const long lout = (length - 1) * stride - 2 * padding + kernel;
  for (long r = 0; r < batch * lout; ++r) {
    float *yr = y + r * out_channels;
    if (bias) std::memcpy(yr, bias, size_t(out_channels) * sizeof(float));
    else std::memset(yr, 0, size_t(out_channels) * sizeof(float));
  }
  for (long b = 0; b < batch; ++b) {
    for (long i = 0; i < length; ++i) {
      const float *zr = z + (b * length + i) * kernel * out_channels;
      for (long j = 0; j < kernel; ++j) {
        const long o = i * stride - padding + j;
        if (o < 0 || o >= lout) continue;
        float *yr = y + (b * lout + o) * out_channels;
        const float *zj = zr + j * out_channels;
        for (long c = 0; c < out_channels; ++c) yr[c] += zj[c];
      }
    }
  }
}

void rx_group_norm(long channels, long batch, long length, long groups, const float *bias, const float *gamma,
                   const float *beta, float eps, int mish, float *x) {
  const long per = channels / groups;
  for (long b = 0; b < batch; ++b) {
    float *xb = x + b * length * channels;
    if (bias) {
      for (long t = 0; t < length; ++t)
        for (long c = 0; c < channels; ++c) xb[t * channels + c] += bias[c];
    }
    for (long g = 0; g < groups; ++g) {
      // Statistics in double over the group's per·length values.
      double sum = 0, sq = 0;
      for (long t = 0; t < length; ++t) {
        const float *p = xb + t * channels + g * per;
        for (long c = 0; c < per; ++c) sum += p[c];
      }
      const double count = double(per * length);
      const double mean = sum / count;
      for (long t = 0; t < length; ++t) {
        const float *p = xb + t * channels + g * per;
        for (long c = 0; c < per; ++c) {
          const double d = p[c] - mean;
          sq += d * d;
        }
      }
      const float rstd = float(1.0 / std::sqrt(sq / count + double(eps)));
      const float m = float(mean);
      for (long t = 0; t < length; ++t) {
        float *p = xb + t * channels + g * per;
        for (long c = 0; c < per; ++c) {
          const long cc = g * per + c;
          p[c] = (p[c] - m) * rstd * (gamma ? gamma[cc] : 1.0f) + (beta ? beta[cc] : 0.0f);
        }
      }
    }
  }
  if (mish) rx_activation_forward(RX_ACT_MISH, channels * batch * length, x, x);
}

void rx_film(long channels, long batch, long length, const float *scale, const float *shift, long cond_stride,
             float *x) {
  for (long b = 0; b < batch; ++b) {
    const float *s = scale ? scale + b * cond_stride : nullptr;
    const float *h = shift + b * cond_stride;
    for (long t = 0; t < length; ++t) {
      float *p = x + (b * length + t) * channels;
      if (s) {
        for (long c = 0; c < channels; ++c) p[c] = s[c] * p[c] + h[c];
      } else {
        for (long c = 0; c < channels; ++c) p[c] += h[c];
      }
    }
  }
}

} // extern "C"

// MARK: - Skinny GEMM, Y = X · Wᵀ, for few rows of X (batch·length positions) against a large weight matrix.
//
// A denoising step is one pass over ~1 GB of weights with only 4–128 positions per layer: Eigen's Goto GEMM packs
// the weights into a second buffer before its microkernel runs, which doubles the traffic that bounds the step. Here
// each weight vector goes from memory straight into FMAs against R = 4 weight rows × P = 4 positions held in
// registers (dot products along K, reduced once per output). K is blocked so a block of X stays in L2 while every
// weight row streams past it once; threads split the weight rows, so each core streams its own share.
namespace {

typedef float v16 __attribute__((vector_size(64)));

inline v16 load16(const float *p) {
  v16 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline float hsum(v16 v) {
  float s = 0;
  for (int i = 0; i < 16; ++i) s += v[i];
  return s;
}

template <int R, int P>
void skinnyTile(const float *X, long ldx, const float *W, long ldw, long K, float *Y, long ldy, bool accumulate) {
  v16 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = v16{};
  long k = 0;
  for (; k + 16 <= K; k += 16) {
    v16 w[R];
    for (int r = 0; r < R; ++r) w[r] = load16(W + r * ldw + k);
    for (int p = 0; p < P; ++p) {
      const v16 x = load16(X + p * ldx + k);
      for (int r = 0; r < R; ++r) acc[r][p] += w[r] * x;
    }
  }
  for (int p = 0; p < P; ++p) {
    for (int r = 0; r < R; ++r) {
      float s = hsum(acc[r][p]);
      for (long kk = k; kk < K; ++kk) s += W[r * ldw + kk] * X[p * ldx + kk];
      float &y = Y[p * ldy + r];
      y = accumulate ? y + s : s;
    }
  }
}

template <int R>
void skinnyRows(long N, const float *X, long ldx, const float *W, long ldw, long K, float *Y, long ldy, bool acc) {
  long n = 0;
  for (; n + 4 <= N; n += 4) skinnyTile<R, 4>(X + n * ldx, ldx, W, ldw, K, Y + n * ldy, ldy, acc);
  switch (N - n) {
  case 3: skinnyTile<R, 3>(X + n * ldx, ldx, W, ldw, K, Y + n * ldy, ldy, acc); break;
  case 2: skinnyTile<R, 2>(X + n * ldx, ldx, W, ldw, K, Y + n * ldy, ldy, acc); break;
  case 1: skinnyTile<R, 1>(X + n * ldx, ldx, W, ldw, K, Y + n * ldy, ldy, acc); break;
  default: break;
  }
}

// Weight panels: K split into blocks of kc columns, block b holding all M rows × its width contiguously (row
// stride = the block's width), so the sweep over one K block reads memory sequentially.
void panelSerial(long N, long m0, long m1, long M, long K, long kc, const float *X, long ldx, const float *Wp,
                 float *Y, long ldy) {
  for (long k0 = 0; k0 < K; k0 += kc) {
    const long kb = std::min(kc, K - k0);
    const float *block = Wp + k0 * M;
    const bool acc = k0 > 0;
    long m = m0;
    for (; m + 4 <= m1; m += 4) skinnyRows<4>(N, X + k0, ldx, block + m * kb, kb, kb, Y + m, ldy, acc);
    for (; m < m1; ++m) skinnyRows<1>(N, X + k0, ldx, block + m * kb, kb, kb, Y + m, ldy, acc);
  }
}

} // namespace

extern "C" long rx_panel_width(long K) { return K <= 2048 ? K : 1024; }

extern "C" void rx_pack_panels(long M, long K, const float *W, long ldw, float *out) {
  const long kc = rx_panel_width(K);
  for (long k0 = 0; k0 < K; k0 += kc) {
    const long kb = std::min(kc, K - k0);
    float *block = out + k0 * M;
    for (long m = 0; m < M; ++m) std::memcpy(block + m * kb, W + m * ldw + k0, size_t(kb) * sizeof(float));
  }
}

extern "C" void rx_sgemm_panels(long N, long M, long K, const float *X, long ldx, const float *Wp, float *Y,
                                long ldy) {
  if (N <= 0 || M <= 0) return;
  const long kc = rx_panel_width(K);
  auto &pool = reflex::ThreadPool::shared();
  const int threads = pool.size();
  if (threads <= 1 || double(N) * double(M) * double(K) < 2.0e6) {
    panelSerial(N, 0, M, M, K, kc, X, ldx, Wp, Y, ldy);
    return;
  }
  const long chunk = ((M + threads - 1) / threads + 3) / 4 * 4;
  pool.run(threads, [&](int i) {
    const long m0 = i * chunk, m1 = std::min(M, m0 + chunk);
    if (m0 < m1) panelSerial(N, m0, m1, M, K, kc, X, ldx, Wp, Y, ldy);
  });
}

// MARK: - Memory read bandwidth (for the U-Net benchmark's floor)


extern "C" double rx_stream_sum(long n, const float *x) {
  auto &pool = reflex::ThreadPool::shared();
  const int threads = pool.size();
  double partial[64] = {0};
  const long chunk = ((n + threads - 1) / threads + 15) / 16 * 16;
  pool.run(threads, [&](int i) {
    const long a = i * chunk, b = std::min(n, a + chunk);
    if (a >= b) return;
    partial[i] = double(Eigen::Map<const Eigen::ArrayXf>(x + a, b - a).sum());
  });
  double s = 0;
  for (int i = 0; i < threads && i < 64; ++i) s += partial[i];
  return s;
}
