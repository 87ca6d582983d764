/* The bf16 column of the golden checks (see golden_bf16.h): the strict row's name, looked up
 * again in the bf16 column of the one tolerance table. */
#include "golden_bf16.h"

const lv_tolerance *lv_golden_tolerance_bf16(const lv_golden_set *in, const lv_golden_tensor *want,
                                            double *abs, double *rel, int *widen)
{
    double scale;
    const lv_tolerance *strict = lv_golden_tolerance(in, want, 0, abs, rel, &scale);
    const lv_tolerance *row = strict ? lv_tolerance_find(strict->kernel, strict->tensor,
                                                         LV_CHECK_BF16) : NULL;
    *widen = row == NULL;
    if (!row)
        return strict;
    *abs = row->abs * (scale > 0.0 ? scale : 1.0);     /* the strict row's units */
    *rel = row->rel;
    return row;
}
