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

// 64-byte vectors (v16) passed between this file's inlined helpers: without AVX-512 the compiler warns that their
// calling convention differs from an AVX-512 build's. None crosses this file (anonymous namespace), so none can
// meet code built the other way.
#pragma clang diagnostic ignored "-Wpsabi"

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

void rx_conv2d_im2col(long in_channels, long batch, long height, long width, long kh, long kw, long stride,
                      long padding, long dilation, const float *x, float *col) {
  const long hout = (height + 2 * padding - dilation * (kh - 1) - 1) / stride + 1;
  const long wout = (width + 2 * padding - dilation * (kw - 1) - 1) / stride + 1;
  rx_conv2d_im2col_rows(in_channels, batch, height, width, kh, kw, stride, padding, dilation, 0, batch * hout * wout,
                        x, col);
}

void rx_conv2d_im2col_rows(long in_channels, long batch, long height, long width, long kh, long kw, long stride,
                           long padding, long dilation, long row0, long rows, const float *x, float *col) {
  const long hout = (height + 2 * padding - dilation * (kh - 1) - 1) / stride + 1;
  const long wout = (width + 2 * padding - dilation * (kw - 1) - 1) / stride + 1;
  const size_t run = size_t(in_channels) * sizeof(float);
  float *row = col;
  (void)batch;
  for (long r = row0; r < row0 + rows; ++r) {
    const long b = r / (hout * wout), pos = r % (hout * wout);
    const long oy = pos / wout, ox = pos % wout;
    const float *xb = x + b * height * width * in_channels;
    for (long i = 0; i < kh; ++i) {
      const long sy = oy * stride + i * dilation - padding;
      for (long j = 0; j < kw; ++j) {
        const long sx = ox * stride + j * dilation - padding;
        if (sy >= 0 && sy < height && sx >= 0 && sx < width) {
          std::memcpy(row, xb + (sy * width + sx) * in_channels, run);
        } else {
          std::memset(row, 0, run);
        }
        row += in_channels;
      }
    }
  }
}

void rx_max_pool2d(long channels, long batch, long height, long width, long kernel, long stride, long padding,
                   const float *x, float *y) {
  const long hout = (height + 2 * padding - kernel) / stride + 1;
  const long wout = (width + 2 * padding - kernel) / stride + 1;
  for (long b = 0; b < batch; ++b) {
    const float *xb = x + b * height * width * channels;
    for (long oy = 0; oy < hout; ++oy) {
      for (long ox = 0; ox < wout; ++ox) {
        float *out = y + ((b * hout + oy) * wout + ox) * channels;
        for (long c = 0; c < channels; ++c) out[c] = -INFINITY;
        for (long i = 0; i < kernel; ++i) {
          const long sy = oy * stride + i - padding;
          if (sy < 0 || sy >= height) continue;
          for (long j = 0; j < kernel; ++j) {
            const long sx = ox * stride + j - padding;
            if (sx < 0 || sx >= width) continue;
            const float *p = xb + (sy * width + sx) * channels;
            for (long c = 0; c < channels; ++c) out[c] = std::max(out[c], p[c]);
          }
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

// MARK: - Packed GEMM, Y = X · Wᵀ, for few rows of X (batch·length positions) against a large weight matrix.
//
// A denoising step is one pass over ~1 GB of weights with only 4–128 positions per layer. Eigen's Goto GEMM packs
// the weights into a second buffer on every call before its microkernel runs, which doubles the traffic that bounds
// the step. Here the weights are packed once at load: groups of 64 output rows, each K block of a group stored
// k-major (64 consecutive floats per k), so a sweep reads memory sequentially. The microkernel keeps a 4 × 16-wide
// column of outputs for up to 6 positions in registers and, per k, loads 4 weight vectors and broadcasts 6 inputs
// (24 FMAs per 4 loads): every weight goes from memory into FMAs once per K block, and the K block (64 × 1024
// floats, 256 KB) stays in L2 while all positions pass over it.
namespace {

typedef float v16 __attribute__((vector_size(64)));
constexpr long kGroup = 64; // output rows per packed group (4 vectors of 16)
constexpr long kBlock = 1024; // K block
constexpr long kSlice = 128; // k per L1-resident slice of a block (see packedSerial)

inline v16 load16(const float *p) {
  v16 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline void store16(float *p, v16 v) { __builtin_memcpy(p, &v, sizeof(v)); }

/// s in every lane. Written as a splat (not `v16{} + s`, whose −0 semantics keep a scalar add in front of a
/// register broadcast: two uops on the FMA ports per input instead of one broadcast load).
inline v16 splat(float s) { return v16{s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }

typedef uint16_t u16x16 __attribute__((vector_size(32)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));

/// 16 weights as float: F32 as stored, or bfloat16 widened (its bits are the high half of a float).
inline v16 loadWeights(const float *p) { return load16(p); }
inline v16 loadWeights(const uint16_t *p) {
  u16x16 h;
  __builtin_memcpy(&h, p, sizeof(h));
  const u32x16 w = __builtin_convertvector(h, u32x16) << 16;
  v16 f;
  __builtin_memcpy(&f, &w, sizeof(f));
  return f;
}

/// One 16-wide column slice for P positions: acc[p] (+)= Σ_k W[k][0..16) · X[p][k], the slice's weights `stride`
/// floats apart from one k to the next.
template <typename WT, int P>
void slice(const WT *Wb, long stride, long kb, const float *X, long ldx, float *Y, long ldy, bool accumulate) {
  v16 acc[P];
  for (int p = 0; p < P; ++p) acc[p] = accumulate ? load16(Y + p * ldy) : v16{};
  const WT *w = Wb;
  for (long k = 0; k < kb; ++k, w += stride) {
    const v16 wv = loadWeights(w);
    for (int p = 0; p < P; ++p) acc[p] += wv * splat(X[p * ldx + k]);
  }
  for (int p = 0; p < P; ++p) store16(Y + p * ldy, acc[p]);
}

/// acc[r][p] (+)= Σ_k W[k][16r ..] · X[p][k] over one K block; Y rows p, columns 16r.. (row stride ldy), all in
/// registers: 24 zmm accumulators of AVX-512's 32 at R = 4, P = 6.
template <typename WT, int R, int P>
void tileRegisters(const WT *Wb, long kb, const float *X, long ldx, float *Y, long ldy, bool accumulate) {
  v16 acc[R][P];
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) acc[r][p] = accumulate ? load16(Y + p * ldy + 16 * r) : v16{};
  const WT *w = Wb;
  for (long k = 0; k < kb; ++k, w += 16 * R) {
    v16 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = loadWeights(w + 16 * r);
    for (int p = 0; p < P; ++p) {
      const v16 xv = splat(X[p * ldx + k]);
      for (int r = 0; r < R; ++r) acc[r][p] += wv[r] * xv;
    }
  }
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) store16(Y + p * ldy + 16 * r, acc[r][p]);
}

template <typename WT, int R, int P>
void tile(const WT *Wb, long kb, const float *X, long ldx, float *Y, long ldy, bool accumulate) {
#if defined(__AVX512F__)
  tileRegisters<WT, R, P>(Wb, kb, X, ldx, Y, ldy, accumulate);
#else
  // Without AVX-512 a v16 is two of AVX2's 16 ymm registers: the R x P tile's 48 accumulators would live on the
  // stack (measured: every FMA beside a spill). One 16-wide slice at a time keeps 12 accumulators, 2 weight and 1
  // input register; each weight is still read once per K block, and each output's sum keeps its order.
  for (int r = 0; r < R; ++r) slice<WT, P>(Wb + 16 * r, 16 * R, kb, X, ldx, Y + 16 * r, ldy, accumulate);
#endif
}

template <typename WT, int R>
void tileRows(long N, const WT *Wb, long kb, const float *X, long ldx, float *Y, long ldy, bool acc) {
  long n = 0;
#if !defined(__AVX512F__)
  // Few positions (a U-Net at K = 1) are bound by reading the weights from memory: one position at a time over all
  // R vectors reads each group sequentially, where the slices' 256-byte stride measured 1.4x slower.
  if (N < 12) {
    for (; n < N; ++n) tileRegisters<WT, R, 1>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc);
    return;
  }
#endif
  for (; n + 6 <= N; n += 6) tile<WT, R, 6>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc);
  switch (N - n) {
  case 5: tile<WT, R, 5>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc); break;
  case 4: tile<WT, R, 4>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc); break;
  case 3: tile<WT, R, 3>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc); break;
  case 2: tile<WT, R, 2>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc); break;
  case 1: tile<WT, R, 1>(Wb, kb, X + n * ldx, ldx, Y + n * ldy, ldy, acc); break;
  default: break;
  }
}

template <typename WT>
void tileDispatch(int R, long N, const WT *Wb, long kb, const float *X, long ldx, float *Y, long ldy, bool acc) {
  switch (R) {
  case 4: tileRows<WT, 4>(N, Wb, kb, X, ldx, Y, ldy, acc); break;
  case 3: tileRows<WT, 3>(N, Wb, kb, X, ldx, Y, ldy, acc); break;
  case 2: tileRows<WT, 2>(N, Wb, kb, X, ldx, Y, ldy, acc); break;
  default: tileRows<WT, 1>(N, Wb, kb, X, ldx, Y, ldy, acc); break;
  }
}

inline long paddedRows(long M) { return (M + 15) / 16 * 16; }

/// Groups [g0, g1) of the packed matrix. A last group whose rows are not a multiple of 16 goes through a small
/// buffer so the kernel never writes past column M of Y.
template <typename WT>
void packedSerial(long N, long g0, long g1, long M, long K, const float *X, long ldx, const WT *Wp, float *Y,
                  long ldy) {
  const long Mp = paddedRows(M);
  for (long g = g0; g < g1; ++g) {
    const long m0 = g * kGroup;
    const long rows = std::min(kGroup, Mp - m0);
    const int R = int(rows / 16);
    const WT *group = Wp + m0 * K;
    const bool ragged = m0 + rows > M;
    float spill[6 * kGroup];
    for (long k0 = 0; k0 < K; k0 += kBlock) {
      const long kb = std::min(kBlock, K - k0);
      const WT *block = group + k0 * rows;
      if (!ragged) {
        // Many positions (a convolution's im2col rows, a transformer's tokens): sweep the block in slices of
        // kSlice k so the slice of weights (64 × 128 floats, 32 KB) stays in L1 while every position passes over
        // it; one slice per block when there are too few positions to reuse it.
        const long slice = N >= 12 ? kSlice : kb;
        for (long ks = 0; ks < kb; ks += slice)
          tileDispatch(R, N, block + ks * rows, std::min(slice, kb - ks), X + k0 + ks, ldx, Y + m0, ldy, k0 + ks > 0);
        continue;
      }
      for (long n = 0; n < N; n += 6) { // through `spill`, 6 positions at a time
        const long np = std::min(6L, N - n);
        const long valid = M - m0;
        for (long p = 0; p < np; ++p)
          for (long c = 0; c < rows; ++c) spill[p * rows + c] = (k0 > 0 && c < valid) ? Y[(n + p) * ldy + m0 + c] : 0.0f;
        tileDispatch(R, np, block, kb, X + n * ldx + k0, ldx, spill, rows, k0 > 0);
        for (long p = 0; p < np; ++p)
          for (long c = 0; c < valid; ++c) Y[(n + p) * ldy + m0 + c] = spill[p * rows + c];
      }
    }
  }
}

} // namespace

extern "C" long rx_packed_size(long M, long K) { return paddedRows(M) * K; }

extern "C" void rx_pack_panels(long M, long K, const float *W, long ldw, float *out) {
  const long Mp = paddedRows(M);
  for (long m0 = 0; m0 < Mp; m0 += kGroup) {
    const long rows = std::min(kGroup, Mp - m0);
    float *group = out + m0 * K;
    for (long k0 = 0; k0 < K; k0 += kBlock) {
      const long kb = std::min(kBlock, K - k0);
      float *block = group + k0 * rows;
      for (long k = 0; k < kb; ++k)
        for (long r = 0; r < rows; ++r) block[k * rows + r] = (m0 + r < M) ? W[(m0 + r) * ldw + k0 + k] : 0.0f;
    }
  }
}

namespace {

template <typename WT>
void sgemmPanels(long N, long M, long K, const float *X, long ldx, const WT *Wp, float *Y, long ldy) {
  if (N <= 0 || M <= 0) return;
  if (K <= 0) {
    for (long n = 0; n < N; ++n) std::memset(Y + n * ldy, 0, size_t(M) * sizeof(float));
    return;
  }
  const long groups = (paddedRows(M) + kGroup - 1) / kGroup;
  auto &pool = reflex::ThreadPool::shared();
  const int threads = int(std::min<long>(pool.size(), groups));
  if (threads <= 1 || double(N) * double(M) * double(K) < 2.0e6) {
    packedSerial(N, 0, groups, M, K, X, ldx, Wp, Y, ldy);
    return;
  }
  const long chunk = (groups + threads - 1) / threads;
  pool.run(threads, [&](int i) {
    const long g0 = i * chunk, g1 = std::min(groups, g0 + chunk);
    if (g0 < g1) packedSerial(N, g0, g1, M, K, X, ldx, Wp, Y, ldy);
  });
}

} // namespace

extern "C" void rx_sgemm_panels(long N, long M, long K, const float *X, long ldx, const float *Wp, float *Y,
                                long ldy) {
  sgemmPanels(N, M, K, X, ldx, Wp, Y, ldy);
}

extern "C" void rx_sgemm_panels_bf16(long N, long M, long K, const float *X, long ldx, const uint16_t *Wp, float *Y,
                                     long ldy) {
  sgemmPanels(N, M, K, X, ldx, Wp, Y, ldy);
}

// MARK: - Winograd F(2×2, 3×3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks", §4) for the
// 3×3 stride-1 padding-1 convolutions of a ResNet. Each 2×2 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over a 4×4
// input tile d: 16 multiplies per output pair of pixels and channel pair instead of 36, so the convolution becomes
// 16 GEMMs (one per point ξ of the 4×4 transform domain), tiles × C_in against C_out × C_in, 2.25× fewer
// multiply-adds than the direct convolution. The transforms hold only 0, ±1 and ±½, so the extra rounding is a few
// ulps of the inputs' magnitude (stated in ImageLayersTests).
namespace {

/// Stands in for the input pixels of a tile that fall in the zero padding.
alignas(64) const float kZeros[4096] = {};

template <typename T, typename Load, typename Store> inline void inputTile(Load ld, Store st) {
  T d[4][4], r[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) d[i][j] = ld(i, j);
  for (int j = 0; j < 4; ++j) { // Bᵀ d
    r[0][j] = d[0][j] - d[2][j];
    r[1][j] = d[1][j] + d[2][j];
    r[2][j] = d[2][j] - d[1][j];
    r[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) { // (Bᵀ d) B
    st(4 * i + 0, r[i][0] - r[i][2]);
    st(4 * i + 1, r[i][1] + r[i][2]);
    st(4 * i + 2, r[i][2] - r[i][1]);
    st(4 * i + 3, r[i][1] - r[i][3]);
  }
}

template <typename T, typename Load, typename Store> inline void outputTile(Load ld, Store st) {
  T m[4][4], s[2][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) m[i][j] = ld(4 * i + j);
  for (int j = 0; j < 4; ++j) { // Aᵀ m
    s[0][j] = m[0][j] + m[1][j] + m[2][j];
    s[1][j] = m[1][j] - m[2][j] - m[3][j];
  }
  for (int i = 0; i < 2; ++i) { // (Aᵀ m) A
    st(i, 0, s[i][0] + s[i][1] + s[i][2]);
    st(i, 1, s[i][1] - s[i][2] - s[i][3]);
  }
}

} // namespace

extern "C" void rx_winograd23_weights(long out_channels, long in_channels, const float *w, float *u) {
  const long plane = out_channels * in_channels;
  for (long o = 0; o < out_channels; ++o) {
    for (long c = 0; c < in_channels; ++c) {
      const float *g = w + (o * in_channels + c) * 9;
      double t[4][3], v[4][4];
      for (int j = 0; j < 3; ++j) { // G g
        t[0][j] = g[j];
        t[1][j] = 0.5 * (double(g[j]) + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5 * (double(g[j]) - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) { // (G g) Gᵀ
        v[i][0] = t[i][0];
        v[i][1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
        v[i][2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
        v[i][3] = t[i][2];
      }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) u[(4 * i + j) * plane + o * in_channels + c] = float(v[i][j]);
    }
  }
}

extern "C" void rx_winograd23_input(long channels, long batch, long height, long width, long tile0, long tiles,
                                    const float *x, float *v) {
  (void)batch;
  const long th = (height + 1) / 2, tw = (width + 1) / 2, plane = tiles * channels;
  for (long t = tile0; t < tile0 + tiles; ++t) {
    const long b = t / (th * tw), r = t % (th * tw), ty = r / tw, tx = r % tw;
    const float *p[4][4];
    for (int i = 0; i < 4; ++i) {
      const long sy = 2 * ty - 1 + i;
      for (int j = 0; j < 4; ++j) {
        const long sx = 2 * tx - 1 + j;
        p[i][j] = (sy >= 0 && sy < height && sx >= 0 && sx < width) ? x + ((b * height + sy) * width + sx) * channels
                                                                     : kZeros;
      }
    }
    float *out = v + (t - tile0) * channels;
    long c = 0;
    for (; c + 16 <= channels; c += 16)
      inputTile<v16>([&](int i, int j) { return load16(p[i][j] + c); },
                     [&](int xi, v16 val) { store16(out + xi * plane + c, val); });
    for (; c < channels; ++c)
      inputTile<float>([&](int i, int j) { return p[i][j][c]; }, [&](int xi, float val) { out[xi * plane + c] = val; });
  }
}

extern "C" void rx_winograd23_output(long channels, long batch, long height, long width, long tile0, long tiles,
                                     const float *m, const float *bias, float *y) {
  (void)batch;
  const long th = (height + 1) / 2, tw = (width + 1) / 2, plane = tiles * channels;
  for (long t = tile0; t < tile0 + tiles; ++t) {
    const long b = t / (th * tw), r = t % (th * tw), ty = r / tw, tx = r % tw;
    float *q[2][2];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        const long oy = 2 * ty + i, ox = 2 * tx + j;
        q[i][j] = (oy < height && ox < width) ? y + ((b * height + oy) * width + ox) * channels : nullptr;
      }
    const float *in = m + (t - tile0) * channels;
    long c = 0;
    for (; c + 16 <= channels; c += 16) {
      const v16 bv = bias ? load16(bias + c) : v16{};
      outputTile<v16>([&](int xi) { return load16(in + xi * plane + c); }, [&](int i, int j, v16 val) {
        if (q[i][j]) store16(q[i][j] + c, val + bv);
      });
    }
    for (; c < channels; ++c) {
      const float bc = bias ? bias[c] : 0.0f;
      outputTile<float>([&](int xi) { return in[xi * plane + c]; }, [&](int i, int j, float val) {
        if (q[i][j]) q[i][j][c] = val + bc;
      });
    }
  }
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
