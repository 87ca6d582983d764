/* Every Check suite of the test runner. */
#ifndef LV_TEST_SUITES_H
#define LV_TEST_SUITES_H

#include <check.h>

Suite *kernels_suite(void);
Suite *sgemm_suite(void);
Suite *rng_suite(void);
Suite *safetensors_suite(void);
Suite *model_kernels_suite(void);
Suite *clip_init_suite(void);
Suite *model_suite(void);
Suite *video_suite(void);
Suite *text_data_suite(void);
Suite *benchmarks_suite(void);
Suite *image_suite(void);
Suite *pipeline_suite(void);
Suite *metrics_suite(void);
Suite *text_metrics_suite(void);
Suite *adamw_suite(void);
Suite *backend_suite(void);
Suite *checkers_suite(void);
Suite *contract_suite(void);
Suite *tokenizer_suite(void);
Suite *bpe_suite(void);
Suite *v2t_suite(void);
Suite *chart_suite(void);
Suite *bf16_suite(void);

#endif
