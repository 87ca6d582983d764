/* The bf16 column of the golden checks (golden --check --precision bf16, tests/check_bf16.c):
 * what the cpu backend with bf16 matmul operands (cpu-bf16) may differ from the fp32 golden
 * files by. Rows are LV_CHECK_BF16 in golden/harness/tolerance.c; a tensor with no bf16 matmul
 * upstream (kernels other than linear and tubelet, integer lists) takes its strict row. */
#ifndef LV_GOLDEN_BF16_H
#define LV_GOLDEN_BF16_H

#include "golden.h"

/* The tolerance of output tensor want of the case in, in the bf16 column: the LV_CHECK_BF16 row
 * of the strict row's (kernel, tensor), its abs in the strict row's units (the tensor's largest
 * |entry| where that row says so); or, where there is none, the strict row as
 * lv_golden_tolerance gives it. *widen: 1 when after.* tensors
 * then take the strict per-entry widening (lv_golden_after_widening), 0 when the bf16 row covers
 * it. NULL + lv_error() if the table lacks the strict row. */
const lv_tolerance *lv_golden_tolerance_bf16(const lv_golden_set *in, const lv_golden_tensor *want,
                                            double *abs, double *rel, int *widen);

#endif
