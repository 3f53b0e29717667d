// 1-D convolution helpers for the ConditionalUnet1D: im2col / col2im around one GEMM per layer, and the
// per-channel epilogues (bias, GroupNorm, Mish, FiLM). Activations are channel-major: a C × (batch·length)
// row-major matrix, so a convolution is W (C_out × C_in·k) · col (C_in·k × batch·length_out) and its output is
// already the next layer's input.
#include "CBridge.h"

#include <cmath>
#include <cstring>

extern "C" {

void rx_conv1d_im2col(long in_channels, long batch, long length, long kernel, long stride, long padding,
                      const float *x, float *col) {
  const long lout = (length + 2 * padding - kernel) / stride + 1;
  const long n = batch * lout;
  for (long c = 0; c < in_channels; ++c) {
    const float *xc = x + c * batch * length;
    for (long j = 0; j < kernel; ++j) {
      float *row = col + (c * kernel + j) * n;
      for (long b = 0; b < batch; ++b) {
        const float *xb = xc + b * length;
        float *rb = row + b * lout;
        if (stride == 1) {
          // Positions t with 0 <= t + j - padding < length are copied; the rest are zero padding.
          const long shift = j - padding;
          const long t0 = shift < 0 ? -shift : 0;
          const long t1 = length - shift < lout ? length - shift : lout;
          for (long t = 0; t < t0 && t < lout; ++t) rb[t] = 0.0f;
          if (t1 > t0) std::memcpy(rb + t0, xb + t0 + shift, size_t(t1 - t0) * sizeof(float));
          for (long t = t1 > t0 ? t1 : t0; t < lout; ++t) rb[t] = 0.0f;
        } else {
          for (long t = 0; t < lout; ++t) {
            const long s = t * stride + j - padding;
            rb[t] = (s >= 0 && s < length) ? xb[s] : 0.0f;
          }
        }
      }
    }
  }
}

void rx_conv_transpose1d_col2im(long out_channels, long batch, long length, long kernel, long stride, long padding,
                                const float *z, const float *bias, float *y) {
  const long lout = (length - 1) * stride - 2 * padding + kernel;
  const long n = batch * length;
  for (long c = 0; c < out_channels; ++c) {
    float *yc = y + c * batch * lout;
    const float b0 = bias ? bias[c] : 0.0f;
    for (long i = 0; i < batch * lout; ++i) yc[i] = b0;
    for (long j = 0; j < kernel; ++j) {
      const float *zr = z + (c * kernel + j) * n;
      for (long b = 0; b < batch; ++b) {
        for (long i = 0; i < length; ++i) {
          const long o = i * stride - padding + j;
          if (o >= 0 && o < lout) yc[b * lout + o] += zr[b * length + i];
        }
      }
    }
  }
}

void rx_row_bias_add(long rows, long cols, float *y, const float *bias) {
  for (long r = 0; r < rows; ++r) {
    const float b = bias[r];
    float *yr = y + r * cols;
    for (long i = 0; i < cols; ++i) yr[i] += b;
  }
}

void rx_group_norm(long channels, long batch, long length, long groups, const float *bias, const float *gamma,
                   const float *beta, float eps, int mish, float *x) {
  const long per = channels / groups;
  const long stride = batch * length;
  for (long g = 0; g < groups; ++g) {
    for (long b = 0; b < batch; ++b) {
      // Statistics in double over the group's per·length values (the conv bias folded in first).
      double sum = 0, sq = 0;
      for (long c = g * per; c < (g + 1) * per; ++c) {
        float *p = x + c * stride + b * length;
        const float bc = bias ? bias[c] : 0.0f;
        for (long t = 0; t < length; ++t) {
          const float v = p[t] + bc;
          p[t] = v;
          sum += v;
        }
      }
      const double count = double(per * length);
      const double mean = sum / count;
      for (long c = g * per; c < (g + 1) * per; ++c) {
        const float *p = x + c * stride + b * length;
        for (long t = 0; t < length; ++t) {
          const double d = p[t] - mean;
          sq += d * d;
        }
      }
      const float rstd = float(1.0 / std::sqrt(sq / count + double(eps)));
      const float m = float(mean);
      for (long c = g * per; c < (g + 1) * per; ++c) {
        float *p = x + c * stride + b * length;
        const float s = rstd * (gamma ? gamma[c] : 1.0f);
        const float o = beta ? beta[c] : 0.0f;
        for (long t = 0; t < length; ++t) p[t] = (p[t] - m) * s + o;
      }
    }
  }
  if (mish) rx_activation_forward(RX_ACT_MISH, channels * stride, x, x);
}

void rx_film(long channels, long batch, long length, const float *scale, const float *shift, long cond_stride,
             float *x) {
  const long stride = batch * length;
  for (long c = 0; c < channels; ++c) {
    for (long b = 0; b < batch; ++b) {
      const float s = scale ? scale[b * cond_stride + c] : 1.0f;
      const float h = shift[b * cond_stride + c];
      float *p = x + c * stride + b * length;
      for (long t = 0; t < length; ++t) p[t] = s * p[t] + h;
    }
  }
}

} // extern "C"
