/* The reference backend: the plain kernels of ref/ (kernels.h) in the table the graph calls,
 * on host memory. Its attention keeps every probability (attention_lse = 0). */
#include "kernels.h"

/* The plain kernel keeps every probability, so it has no use for the forward's output. */
static void ref_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                   const float *out, const float *att, const float *q,
                                   const float *k, const float *v, const lv_attn_groups *g,
                                   int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    (void)out;
    lv_attention_backward(dq, dk, dv, dout, att, q, k, v, g, ldq, ldkv, H, D);
}

const lv_backend lv_backend_ref = {
    .name = "ref",
    .host_memory = 1,
    .attention_lse = 0,
    .alloc = lv_host_alloc,
    .free = lv_host_free,
    .upload = lv_host_upload,
    .download = lv_host_download,
    .copy = lv_host_copy,
    .set = lv_host_set,
    .linear_forward = lv_linear_forward,
    .linear_backward = lv_linear_backward,
    .layernorm_forward = lv_layernorm_forward,
    .layernorm_backward = lv_layernorm_backward,
    .gelu_forward = lv_gelu_forward,
    .gelu_backward = lv_gelu_backward,
    .quick_gelu_forward = lv_quick_gelu_forward,
    .quick_gelu_backward = lv_quick_gelu_backward,
    .gelu_tanh_forward = lv_gelu_tanh_forward,
    .gelu_tanh_backward = lv_gelu_tanh_backward,
    .attention_forward = lv_attention_forward,
    .attention_backward = ref_attention_backward,
    .residual_forward = lv_residual_forward,
    .residual_backward = lv_residual_backward,
    .gated_residual_forward = lv_gated_residual_forward,
    .gated_residual_backward = lv_gated_residual_backward,
    .mean_pool_forward = lv_mean_pool_forward,
    .mean_pool_backward = lv_mean_pool_backward,
    .segment_mean_forward = lv_segment_mean_forward,
    .segment_mean_backward = lv_segment_mean_backward,
    .l2norm_forward = lv_l2norm_forward,
    .l2norm_backward = lv_l2norm_backward,
    .embedding_forward = lv_embedding_forward,
    .embedding_backward = lv_embedding_backward,
    .tubelet_embed_forward = lv_tubelet_embed_forward,
    .tubelet_embed_backward = lv_tubelet_embed_backward,
    .pos_embed_forward = lv_pos_embed_forward,
    .pos_embed_backward = lv_pos_embed_backward,
    .infonce_forward = lv_infonce_forward,
    .infonce_backward = lv_infonce_backward,
    .cross_entropy_forward = lv_cross_entropy_forward,
    .cross_entropy_backward = lv_cross_entropy_backward,
    .scale = lv_scale,
    .adamw_update = lv_adamw_update,
    .sum_squares = lv_sum_squares,
};
