/* Double-precision forward passes of every kernel, written independently of ref/ and as naively
 * as possible: the "plain expectation" of the forward tests and the function the finite
 * differences are taken of. Same layouts and argument order as ref/kernels.h. */
#ifndef LV_REF64_H
#define LV_REF64_H

#include "kernels.h"

void r64_linear(double *out, const double *inp, const double *w, const double *b,
                int64_t N, int64_t C, int64_t OC);
void r64_layernorm(double *out, const double *inp, const double *w, const double *b,
                   int64_t N, int64_t C, double eps);
void r64_gelu(double *out, const double *inp, int64_t n);
void r64_quick_gelu(double *out, const double *inp, int64_t n);
void r64_gelu_tanh(double *out, const double *inp, int64_t n);
void r64_attention(double *out, const double *q, const double *k, const double *v,
                   const lv_attn_groups *g, int64_t ldq, int64_t ldkv, int64_t H, int64_t D);
void r64_gated_residual(double *out, const double *h, const double *f, double gate, int64_t n);
void r64_mean_pool(double *out, const double *inp, const uint8_t *valid,
                   int64_t B, int64_t T, int64_t D);
void r64_l2norm(double *out, const double *inp, int64_t N, int64_t C);
void r64_tubelet(double *out, const double *video, const double *w, const double *b,
                 const int64_t *kept, const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D);
void r64_pos_embed(double *out, const double *inp, const double *spatial, const double *temporal,
                   const int64_t *kept, int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D);
void r64_segment_mean(double *out, const double *inp, const int64_t *start, int64_t G, int64_t D);
/* loss = symmetric InfoNCE of logits = exp(min(log_scale, log 100)) v t^T; logits (B, B) */
void r64_infonce(double *loss, double *logits, const double *v, const double *t, double log_scale,
                 int64_t B, int64_t E);
/* loss = mean over rows with targets[n] >= 0 of -log softmax(logits[n])[targets[n]] (0 when
 * none); lse (N) = log sum exp of every row */
void r64_cross_entropy(double *loss, double *lse, const double *logits, const int32_t *targets,
                       int64_t N, int64_t V);

#endif
