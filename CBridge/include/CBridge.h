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
/// Softmax of each of `rows` rows of width n in place (row stride ld): x ← exp(x − max) / Σ exp(x − max).
void rx_softmax_rows(long rows, long n, float *x, long ld);
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

// MARK: - Simulation: arms and objects in the Bullet world (ReflexSim)
//
// Arms are fixed- or free-base btMultiBodies built as pybullet's URDF importer builds them; joint indices are
// multibody link indices (every URDF joint, fixed ones included, in depth-first order), as pybullet numbers
// them. Stepping and state access are real-time safe; adding bodies is not.

typedef enum { RX_JOINT_FIXED = 0, RX_JOINT_REVOLUTE = 1, RX_JOINT_CONTINUOUS = 2, RX_JOINT_PRISMATIC = 3 } rx_joint_type;
typedef enum {
  RX_SHAPE_BOX = 0,        // size = full extents x, y, z
  RX_SHAPE_SPHERE = 1,     // size[0] = radius
  RX_SHAPE_CYLINDER = 2,   // size[0] = radius, size[1] = length along z
  RX_SHAPE_CAPSULE = 3,    // size[0] = radius, size[1] = length of the cylinder part along z
  RX_SHAPE_CONVEX_HULL = 4, // vertices: vertex_count points, x y z each, already scaled
  RX_SHAPE_OBJ_HULL = 5     // the same, wrapped in a compound as pybullet wraps an OBJ mesh's hull
} rx_shape_type;

/// One collision shape of a link, placed in the link frame by xyz/rpy (URDF convention).
typedef struct {
  rx_shape_type type;
  double xyz[3];
  double rpy[3];
  double size[3];
  const double *vertices;
  long vertex_count;
} rx_shape_desc;

/// One link and the joint to its parent (ignored for the root, index 0). Parents precede children.
typedef struct {
  int parent;
  rx_joint_type joint_type;
  double joint_xyz[3]; // joint origin in the parent link frame
  double joint_rpy[3];
  double axis[3];      // joint axis in the joint frame
  double lower, upper; // lower > upper: no limit
  double damping, friction, max_force, max_velocity;
  double mass;
  double inertial_xyz[3];
  double inertial_rpy[3];
  double inertia[6];   // ixx ixy ixz iyy iyz izz about the inertial origin, in the inertial frame
  long first_shape, shape_count;
  double lateral_friction; // < 0: Bullet's default (0.5)
} rx_link_desc;

/// Flags of rx_world_add_multibody.
enum {
  RX_MULTIBODY_SELF_COLLISION = 1,
  /// Inertia from the collision shapes, as pybullet's loadURDF without URDF_USE_INERTIA_FROM_FILE; otherwise the
  /// URDF's inertia tensor (diagonalized), as with that flag.
  RX_MULTIBODY_INERTIA_FROM_SHAPES = 2,
};
/// Builds a multibody from `link_count` links (index 0 is the root). A fixed base gets zero mass. Returns the
/// body index, or -1 with a message in `error`. Not real-time safe.
int rx_world_add_multibody(rx_world *world, const rx_link_desc *links, long link_count, const rx_shape_desc *shapes,
                           long shape_count, int fixed_base, const double base_xyz[3], int flags,
                           char *error, size_t error_capacity);
/// Runs `n` steps of dt seconds.
void rx_world_step_n(rx_world *world, double dt, long n);
/// Constraint-solver iterations per step (pybullet's default: 50).
void rx_world_set_solver_iterations(rx_world *world, int iterations);
/// Multibody links (= joints, fixed ones included).
long rx_body_link_count(const rx_world *world, int body);
/// Sets every 1-dof joint's position and velocity (arrays of rx_body_link_count values; qd may be NULL).
void rx_body_reset_joints(rx_world *world, int body, const double *q, const double *qd);
/// Reads joint positions and velocities (0 for fixed joints); either pointer may be NULL.
void rx_body_joint_state(const rx_world *world, int body, double *q, double *qd);
/// pybullet's POSITION_CONTROL on `count` joints: the joint motor's velocity-level constraint
/// rhs = kp * (target - q) / dt + kd * (velocity - qd), impulse limited to max_force * dt, target clamped to the
/// joint limits; max_velocity (may be NULL; <= 0 keeps the previous) clamps rhs. velocity may be NULL (0).
void rx_body_position_control(rx_world *world, int body, long count, const int *links, const double *position,
                              const double *velocity, const double *kp, const double *kd, const double *max_force,
                              const double *max_velocity, double dt);
/// Joint torques applied at every step until changed; turns those joints' motors off (max force 0).
void rx_body_torque_control(rx_world *world, int body, long count, const int *links, const double *torque);
/// World pose of a link's URDF frame (link -1: the base); quat is x, y, z, w.
void rx_body_link_pose(const rx_world *world, int body, int link, double pos[3], double quat[4]);
/// A static plane z = height with the given friction. Returns the object index.
int rx_world_add_plane(rx_world *world, double z, double friction);
/// A dynamic box (mass > 0) or static one (mass 0). Returns the object index.
int rx_world_add_box(rx_world *world, const double half_extents[3], double mass, double friction, const double pos[3],
                     const double quat[4]);
/// Places an object at rest.
void rx_object_set_pose(rx_world *world, int object, const double pos[3], const double quat[4]);
/// An object's pose and velocities (velocity pointers may be NULL).
void rx_object_pose(const rx_world *world, int object, double pos[3], double quat[4], double linear_velocity[3],
                    double angular_velocity[3]);

// MARK: - Render meshes (ReflexSim's camera)

/// The triangles pybullet's TinyRenderer draws for a cylinder, capsule or sphere visual (size as in rx_shape_desc):
/// the shape as pybullet's visual-shape converter builds it (a 32-sided hull with a 1 mm margin for cylinders and
/// capsules, the sphere itself), tessellated by Bullet's btShapeHull from 42 support directions. Writes at most
/// vertex_capacity vertices (x y z each) and index_capacity indices (three per triangle, outward counter-clockwise).
/// Returns the index count and sets *vertex_count, or -1 when a capacity is too small or the type is not one of
/// those three. Not real-time safe.
long rx_primitive_render_mesh(rx_shape_type type, const double size[3], double *vertices, long vertex_capacity,
                              long *vertex_count, int *indices, long index_capacity);

// MARK: - 1-D convolutions (ConditionalUnet1D; Float32, real-time safe)
//
// Activations are position-major: (batch · length) × channels, row-major, one row per sequence position. A layer
// is one GEMM over all batch items, so its weights are read once per call whatever the batch.

/// im2col for Conv1d: row (b·L_out + t) of col is the k input rows x[b·length + t·stride + j − padding]
/// (j = 0..<kernel; zeros outside) side by side, k·in_channels wide, matching weights laid out (C_out, k, C_in).
/// L_out = (length + 2·padding − kernel)/stride + 1.
void rx_conv1d_im2col(long in_channels, long batch, long length, long kernel, long stride, long padding,
                      const float *x, float *col);
/// col2im for ConvTranspose1d: z has a row per input position holding kernel blocks of out_channels (tap j at
/// j·out_channels); y[b·L_out + i·stride − padding + j] += z[b·length + i][j·out_channels ...], after y = bias
/// (NULL: 0). L_out = (length − 1)·stride − 2·padding + kernel.
void rx_conv_transpose1d_col2im(long out_channels, long batch, long length, long kernel, long stride, long padding,
                                const float *z, const float *bias, float *y);
/// In place over position-major x: adds bias[c] (may be NULL), then GroupNorm (Wu & He 2018) per batch item over
/// each of `groups` channel groups × length, y = γ (x − μ)/√(σ² + eps) + β (gamma/beta may be NULL), then Mish
/// when mish != 0.
void rx_group_norm(long channels, long batch, long length, long groups, const float *bias, const float *gamma,
                   const float *beta, float eps, int mish, float *x);
/// FiLM (Perez et al. 2018) in place: x[b·length + t][c] = scale[b·cond_stride + c] · x + shift[b·cond_stride + c];
/// scale may be NULL (shift only); cond_stride 0 shares one row across the batch.
void rx_film(long channels, long batch, long length, const float *scale, const float *shift, long cond_stride,
             float *x);

// MARK: - 2-D feature maps (image encoders; Float32, real-time safe)
//
// Feature maps are position-major too (NHWC): (batch · height · width) × channels, one row per pixel, so a 2-D
// convolution is the same packed GEMM over im2col rows and GroupNorm is rx_group_norm with length = height · width.

/// im2col for Conv2d: row (b·H_out·W_out + oy·W_out + ox) of col holds, for each tap (i, j) of the kh × kw kernel in
/// row-major order, the input pixel x[b][oy·stride + i·dilation − padding][ox·stride + j·dilation − padding] (zeros
/// outside): kh·kw·in_channels wide, matching weights laid out (C_out, kh, kw, C_in).
/// H_out = (height + 2·padding − dilation·(kh − 1) − 1)/stride + 1, likewise W_out.
void rx_conv2d_im2col(long in_channels, long batch, long height, long width, long kh, long kw, long stride,
                      long padding, long dilation, const float *x, float *col);
/// Rows row0 ..< row0 + rows of rx_conv2d_im2col's output, written from `col` on: a convolution over a large map
/// runs im2col and GEMM a band of rows at a time, so the band stays in cache between the two.
void rx_conv2d_im2col_rows(long in_channels, long batch, long height, long width, long kh, long kw, long stride,
                           long padding, long dilation, long row0, long rows, const float *x, float *col);
/// MaxPool2d (PyTorch's, floor mode, padding never selected): y[b][oy][ox][c] = max over the k × k window at
/// (oy·stride − padding, ox·stride − padding). H_out = (height + 2·padding − kernel)/stride + 1.
void rx_max_pool2d(long channels, long batch, long height, long width, long kernel, long stride, long padding,
                   const float *x, float *y);

/// Winograd F(2×2, 3×3) for a 3×3 convolution with stride 1, padding 1, dilation 1 (Lavin & Gray 2016): the output
/// is cut into 2×2 tiles, tile t = b·⌈H/2⌉·⌈W/2⌉ + ty·⌈W/2⌉ + tx. Weights: w (C_out, C_in, 3, 3) as PyTorch stores
/// them → u, 16 matrices C_out × C_in (u[ξ] = (G g Gᵀ) at point ξ = 4i + j), computed in double. Done once at load.
void rx_winograd23_weights(long out_channels, long in_channels, const float *w, float *u);
/// Input transform of tiles tile0 ..< tile0 + tiles of position-major x: v holds 16 matrices tiles × channels
/// (matrix ξ at v + ξ·tiles·channels), row t − tile0 of matrix ξ = (Bᵀ d B)[ξ] for the tile's 4×4 input patch d
/// (zeros outside the map). channels ≤ 4096.
void rx_winograd23_input(long channels, long batch, long height, long width, long tile0, long tiles, const float *x,
                         float *v);
/// Output transform: m holds 16 matrices tiles × channels (the products of the 16 GEMMs); writes y's pixels of
/// those tiles, Aᵀ m A + bias (bias may be NULL), skipping the pixels past an odd edge.
void rx_winograd23_output(long channels, long batch, long height, long width, long tile0, long tiles, const float *m,
                          const float *bias, float *y);

/// Floats rx_pack_panels writes for an M × K matrix (M rounded up to a multiple of 16, times K).
long rx_packed_size(long M, long K);
/// Packs W (M × K, row stride ldw) into `out` (rx_packed_size floats): groups of 64 rows, each split into K blocks
/// stored k-major, so a GEMM sweep reads memory sequentially. Done once at load.
void rx_pack_panels(long M, long K, const float *W, long ldw, float *out);
/// Y (N × M, row stride ldy) = X (N × K, row stride ldx) · Wᵀ with W packed by rx_pack_panels. Built for few rows
/// (N = batch·length, 4–128) against large weights: each weight is streamed from memory once into register-tiled
/// dot products, without the second packing pass of a general GEMM. Splits M over the kernel threads.
void rx_sgemm_panels(long N, long M, long K, const float *X, long ldx, const float *Wp, float *Y, long ldy);
/// The same with the packed weights stored as bfloat16 (rx_pack_panels' output through rx_f32_to_bf16): half the
/// bytes streamed per call, each weight widened to F32 before its FMAs (F32 compute).
void rx_sgemm_panels_bf16(long N, long M, long K, const float *X, long ldx, const uint16_t *Wp, float *Y, long ldy);

/// Sum of n floats read once, split over the kernel threads: `reflex bench unet` times it over a buffer much larger
/// than the caches to measure the memory read bandwidth that bounds a denoising step.
double rx_stream_sum(long n, const float *x);

// MARK: - Small GEMM (register-tiled, for RL-sized networks; real-time safe after first use per thread)

/// rx_sgemm's contract on the calling thread through the register-tiled kernel of SmallGemm.cpp. Returns 0 and
/// leaves C untouched when the shape is outside its range (N < 16, K or N > 1024, more than 3e7 multiply-adds, or
/// fewer than 32 rows against a transposed B);
/// rx_sgemm uses it automatically inside that range.
int rx_small_sgemm(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                   const float *B, long ldb, float beta, float *C, long ldc);

#ifdef __cplusplus
}
#endif

#endif
