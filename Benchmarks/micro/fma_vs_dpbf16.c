/* Peak rate of one core for AVX-512 F32 FMA (vfmadd) against AVX512_BF16 dot products (vdpbf16ps): 24 independent
 * accumulators, no memory traffic, FLOPs counted as 2 per multiply-add (vdpbf16ps does 32 per instruction, an F32
 * FMA 16). Decides whether a bfloat16 GEMM can beat F32 on this machine: on the 2026-12 dev VM (Xeon, Sapphire
 * Rapids flags) F32 FMA reached 146–168 GFLOP/s and vdpbf16ps 73–80, so a bfloat16 dot-product kernel is slower here
 * (a packed ACT chunk at 480×640 took 480 ms with it against 381 ms in F32) and Reflex keeps F32 for compute-bound
 * layers.
 *
 *   clang -O2 -march=native Benchmarks/micro/fma_vs_dpbf16.c -o /tmp/fma_vs_dpbf16 && /tmp/fma_vs_dpbf16
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
  __m512 a[24];
  for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps(0.001f * i);
  const __m512 w = _mm512_set1_ps(0.5f), x = _mm512_set1_ps(0.25f);
  const __m512bh wb = (__m512bh)_mm512_set1_epi32(0x3f003f00), xb = (__m512bh)_mm512_set1_epi32(0x3e803e80);
  const long n = 100000000 / 24;
  double t = now();
  for (long k = 0; k < n; k++) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++) {
      a[i] = _mm512_fmadd_ps(a[i], w, x);
      __asm__("" : "+v"(a[i]));
    }
  }
  double f = now() - t;
  float s = 0;
  for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(a[i]);
  printf("F32 FMA (vfmadd231ps zmm):  %.1f GFLOP/s (%g)\n", n * 24.0 * 32 / f / 1e9, s);
  t = now();
  for (long k = 0; k < n; k++) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++) {
      a[i] = _mm512_dpbf16_ps(a[i], wb, xb);
      __asm__("" : "+v"(a[i]));
    }
  }
  f = now() - t;
  s = 0;
  for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(a[i]);
  printf("BF16 dot (vdpbf16ps zmm):   %.1f GFLOP/s (%g)\n", n * 24.0 * 64 / f / 1e9, s);
  return 0;
}
