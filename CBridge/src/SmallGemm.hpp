// Register-tiled SGEMM for small matrices (see SmallGemm.cpp); used by rx_sgemm below its size limit.
#pragma once

namespace reflex {
/// Same contract as rx_sgemm on one thread; returns false (and touches nothing) when the shape is outside what the
/// small kernel handles well, leaving the product to Eigen.
bool smallGemm(bool tA, bool tB, long M, long N, long K, float alpha, const float *A, long lda, const float *B,
               long ldb, float beta, float *C, long ldc);
/// Allocates the calling thread's buffer for it now (a kernel thread at its start), not at its first small product.
void prepareSmallGemmThread();
} // namespace reflex
