// CBridge: the only C++ in Reflex, behind this plain C header.
//
// Conventions: matrices are row-major with an explicit leading dimension (as in CBLAS); sizes are
// `long`; every pointer is owned by the caller unless a function says it returns a handle. Functions
// marked "real-time safe" neither allocate nor lock.
#ifndef REFLEX_CBRIDGE_H
#define REFLEX_CBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Build information

/// The SIMD instruction sets Eigen was compiled for, e.g. "AVX512, FMA" or "SSE2".
const char *rx_simd_instruction_sets(void);
/// 1 when the C++ kernels were compiled with optimization (>= -O1).
int rx_kernels_optimized(void);

// MARK: - Threads

/// Sets how many threads the large kernels (GEMM) may split over, counting the caller. 1 = single thread.
/// Not real-time safe (starts or stops worker threads).
void rx_set_num_threads(int n);
int rx_num_threads(void);

// MARK: - Dense kernels (Float32, real-time safe)

/// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is M×K, op(B) is K×N, C is M×N.
/// transA/transB != 0 means the stored matrix is the transpose (A stored K×M, B stored N×K).
/// beta == 0 never reads C (it may hold NaN).
void rx_sgemm(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
              const float *B, long ldb, float beta, float *C, long ldc);
/// `batch` independent GEMMs; matrix i starts at A + i*strideA (likewise B, C).
void rx_sgemm_batched(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                      long strideA, const float *B, long ldb, long strideB, float beta, float *C, long ldc,
                      long strideC, long batch);
/// y = alpha * op(A) * x + beta * y, A row-major M×N (op(A) = A^T when trans != 0).
void rx_sgemv(int trans, long M, long N, float alpha, const float *A, long lda, const float *x, float beta,
              float *y);
/// Y[r, :] += b for each of `rows` rows of width `cols` (row stride ldy).
void rx_bias_add(long rows, long cols, float *Y, long ldy, const float *b);
/// db (+)= column sums of dY; accumulate != 0 adds to db instead of overwriting it.
void rx_bias_grad(long rows, long cols, const float *dY, long lddy, float *db, int accumulate);

/// Activation functions, numbered as `Activation` in ReflexNN.
typedef enum {
  RX_ACT_IDENTITY = 0,
  RX_ACT_RELU = 1,
  RX_ACT_TANH = 2,
  RX_ACT_MISH = 3,
  RX_ACT_SILU = 4,
  RX_ACT_GELU = 5,     // exact, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default
  RX_ACT_SOFTPLUS = 6, // log(1 + e^x), linear above 20 as PyTorch's threshold
  RX_ACT_SIGMOID = 7,
} rx_activation;

/// y = f(x) elementwise over n values (y may equal x).
void rx_activation_forward(rx_activation f, long n, const float *x, float *y);
/// dx = dy * f'(x) elementwise, x the pre-activation input (dx may equal dy).
void rx_activation_backward(rx_activation f, long n, const float *x, const float *dy, float *dx);

/// Layer normalization over the last dimension (width d) of `rows` rows:
/// y = gamma * (x - mean) / sqrt(var + eps) + beta. mean and rstd (1/sqrt(var+eps)), one per row, are
/// written when not NULL (the backward pass needs them). gamma/beta may be NULL (no affine).
void rx_layernorm_forward(long rows, long d, const float *x, const float *gamma, const float *beta, float eps,
                          float *y, float *mean, float *rstd);
/// Backward of layer normalization: dx from dy, and dgamma/dbeta accumulated (+=) when not NULL.
void rx_layernorm_backward(long rows, long d, const float *x, const float *gamma, const float *mean,
                           const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta);

/// One Adam step over n parameters (Kingma & Ba 2015, Alg. 1, bias-corrected), `step` counted from 1.
/// weight_decay is L2 (added to the gradient, as torch.optim.Adam) or, when decoupled != 0, AdamW's
/// p -= lr * wd * p.
void rx_adam_step(long n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int decoupled, long step);
/// target = (1 - tau) * target + tau * source (Polyak averaging of target networks).
void rx_polyak(long n, float *target, const float *source, float tau);
/// y += alpha * x.
void rx_saxpy(long n, float alpha, const float *x, float *y);
/// Sum of squares, accumulated in double.
double rx_sum_squares(long n, const float *x);

/// Half-precision conversions (IEEE binary16 and bfloat16, round to nearest even).
void rx_f16_to_f32(long n, const uint16_t *src, float *dst);
void rx_bf16_to_f32(long n, const uint16_t *src, float *dst);
void rx_f32_to_f16(long n, const float *src, uint16_t *dst);
void rx_f32_to_bf16(long n, const float *src, uint16_t *dst);

// MARK: - YAML (libyaml)

/// One node of a parsed YAML document: a scalar, a sequence or a mapping. Children of a sequence are
/// `children[first_child ..< first_child + child_count]`; a mapping's children alternate key, value.
typedef enum { RX_YAML_SCALAR = 0, RX_YAML_SEQUENCE = 1, RX_YAML_MAPPING = 2 } rx_yaml_kind;
typedef struct {
  rx_yaml_kind kind;
  const char *scalar; // NUL-terminated for scalars (owned by the document), NULL otherwise
  long scalar_length;
  int plain;          // 1 for an unquoted scalar (so "null" and ~ mean null only when plain)
  long line;          // 1-based position of the node in the text
  long column;
  long first_child;
  long child_count;
} rx_yaml_node;

typedef struct rx_yaml_document rx_yaml_document;
/// Parses the first document of `text`. On failure returns NULL and writes a message and a 1-based
/// line/column into the out-parameters.
rx_yaml_document *rx_yaml_parse(const char *text, size_t length, char *error, size_t error_capacity,
                                long *error_line, long *error_column);
void rx_yaml_free(rx_yaml_document *doc);
/// Nodes of the document; index 0 is the root. NULL root (empty document) gives count 0.
long rx_yaml_node_count(const rx_yaml_document *doc);
const rx_yaml_node *rx_yaml_nodes(const rx_yaml_document *doc);
/// children[i] is the node index of the i-th child slot referenced by first_child.
const long *rx_yaml_children(const rx_yaml_document *doc);

// MARK: - Bullet world (double precision)

typedef struct rx_world rx_world;
/// A Bullet multibody dynamics world with gravity (m/s^2) along z.
rx_world *rx_world_create(double gravity_z);
void rx_world_destroy(rx_world *world);
/// Advances the world by dt seconds in one internal step (no substeps).
void rx_world_step(rx_world *world, double dt);
/// Number of steps taken so far.
long rx_world_step_count(const rx_world *world);

// MARK: - 1-D convolutions (ConditionalUnet1D; Float32, real-time safe)
//
// Activations are channel-major: channels × (batch · length), row-major, so one GEMM per layer computes all
// batch items and reads the weights once.

/// im2col for Conv1d: col[(c·kernel + j)][b·L_out + t] = x[c][b·length + t·stride + j − padding] (0 outside),
/// L_out = (length + 2·padding − kernel)/stride + 1. col holds in_channels·kernel × batch·L_out values.
void rx_conv1d_im2col(long in_channels, long batch, long length, long kernel, long stride, long padding,
                      const float *x, float *col);
/// col2im for ConvTranspose1d: y[c][b·L_out + i·stride − padding + j] += z[(c·kernel + j)][b·length + i], plus
/// bias[c] (may be NULL), L_out = (length − 1)·stride − 2·padding + kernel. y is overwritten.
void rx_conv_transpose1d_col2im(long out_channels, long batch, long length, long kernel, long stride, long padding,
                                const float *z, const float *bias, float *y);
/// y[r][i] += bias[r] for `rows` rows of `cols` values.
void rx_row_bias_add(long rows, long cols, float *y, const float *bias);
/// In place over channel-major x (channels × batch·length): adds bias[c] (may be NULL), then GroupNorm
/// (Wu & He 2018) per batch item over each of `groups` channel groups × length, y = γ (x − μ)/√(σ² + eps) + β
/// (gamma/beta may be NULL), then Mish when mish != 0.
void rx_group_norm(long channels, long batch, long length, long groups, const float *bias, const float *gamma,
                   const float *beta, float eps, int mish, float *x);
/// FiLM (Perez et al. 2018) in place: x[c][b·length + t] = scale[b·cond_stride + c] · x + shift[b·cond_stride + c];
/// scale may be NULL (shift only); cond_stride 0 shares one row across the batch.
void rx_film(long channels, long batch, long length, const float *scale, const float *shift, long cond_stride,
             float *x);

// MARK: - Small GEMM (register-tiled, for RL-sized networks; real-time safe after first use per thread)

/// rx_sgemm's contract on the calling thread through the register-tiled kernel of SmallGemm.cpp. Returns 0 and
/// leaves C untouched when the shape is outside its range (N < 16, K or N > 1024, or more than 3e7 multiply-adds);
/// rx_sgemm uses it automatically inside that range.
int rx_small_sgemm(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                   const float *B, long ldb, float beta, float *C, long ldc);

#ifdef __cplusplus
}
#endif

#endif
