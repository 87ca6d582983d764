/* The members of the cuda backend, one launcher per member of the port contract, with the
 * contract's signatures (ref/backend.h: names, shapes, accumulation rules). Each .cu file of
 * cuda/ defines the launchers of its kernels; backend_cuda.cu puts them in the table. Every
 * pointer is device memory. Reductions run in a fixed order (no float atomics), so two runs on
 * one GPU are bit-identical. */
#ifndef LV_KERNELS_CUDA_H
#define LV_KERNELS_CUDA_H

#include "lv_cuda.h"

/* backend_cuda.cu: memory, elementwise, LayerNorm, linear, AdamW, sums */
lv_alloc_fn lv_cuda_alloc;
lv_free_fn lv_cuda_free;
lv_upload_fn lv_cuda_upload;
lv_download_fn lv_cuda_download;
lv_copy_fn lv_cuda_copy;
lv_set_fn lv_cuda_set;
lv_linear_forward_fn lv_cuda_linear_forward;
lv_linear_backward_fn lv_cuda_linear_backward;
lv_layernorm_forward_fn lv_cuda_layernorm_forward;
lv_layernorm_backward_fn lv_cuda_layernorm_backward;
lv_gelu_forward_fn lv_cuda_gelu_forward;
lv_gelu_backward_fn lv_cuda_gelu_backward;
lv_quick_gelu_forward_fn lv_cuda_quick_gelu_forward;
lv_quick_gelu_backward_fn lv_cuda_quick_gelu_backward;
lv_gelu_tanh_forward_fn lv_cuda_gelu_tanh_forward;
lv_gelu_tanh_backward_fn lv_cuda_gelu_tanh_backward;
lv_residual_forward_fn lv_cuda_residual_forward;
lv_residual_backward_fn lv_cuda_residual_backward;
lv_gated_residual_forward_fn lv_cuda_gated_residual_forward;
lv_gated_residual_backward_fn lv_cuda_gated_residual_backward;
lv_scale_fn lv_cuda_scale;
lv_adamw_update_fn lv_cuda_adamw_update;
lv_sum_squares_fn lv_cuda_sum_squares;

/* A device buffer of at least `bytes` for scratch slot `slot` (0..7), grown when a call needs
 * more and kept for the process (allocated once in steady state; the cpu backend does the same). */
void *lv_cuda_scratch(int slot, size_t bytes);

/* column sums of x (rows, cols) added to out (cols), one thread per column in row order */
void lv_cuda_column_sums_add(float *out, const float *x, int64_t rows, int64_t cols);

/* attention.cu: memory-efficient attention over groups (attention_lse = 1) */
lv_attention_forward_fn lv_cuda_attention_forward;
lv_attention_backward_fn lv_cuda_attention_backward;

/* tokens.cu: embeddings of video tubes, positions and text ids */
lv_tubelet_embed_forward_fn lv_cuda_tubelet_embed_forward;
lv_tubelet_embed_backward_fn lv_cuda_tubelet_embed_backward;
lv_pos_embed_forward_fn lv_cuda_pos_embed_forward;
lv_pos_embed_backward_fn lv_cuda_pos_embed_backward;
lv_embedding_forward_fn lv_cuda_embedding_forward;
lv_embedding_backward_fn lv_cuda_embedding_backward;

/* pool.cu: pooling, L2 normalisation and the contrastive loss */
lv_mean_pool_forward_fn lv_cuda_mean_pool_forward;
lv_mean_pool_backward_fn lv_cuda_mean_pool_backward;
lv_segment_mean_forward_fn lv_cuda_segment_mean_forward;
lv_segment_mean_backward_fn lv_cuda_segment_mean_backward;
lv_l2norm_forward_fn lv_cuda_l2norm_forward;
lv_l2norm_backward_fn lv_cuda_l2norm_backward;
lv_infonce_forward_fn lv_cuda_infonce_forward;
lv_infonce_backward_fn lv_cuda_infonce_backward;

/* cross_entropy.cu: the language model's next-token loss, ignored targets left out */
lv_cross_entropy_forward_fn lv_cuda_cross_entropy_forward;
lv_cross_entropy_backward_fn lv_cuda_cross_entropy_backward;

#endif
