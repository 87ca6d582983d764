/* Training checkpoints in safetensors: the parameters (named by the descriptor table), the AdamW
 * moments and step count, the loss history, and in the metadata the model configuration, the
 * step, the data position and the training options, so `train --resume` continues bit for bit.
 * Written atomically (temporary file, fsync, rename): a crash leaves the previous one intact. */
#ifndef LV_CHECKPOINT_H
#define LV_CHECKPOINT_H

#include "adamw.h"
#include "model.h"

typedef struct {
    int64_t step;                /* optimiser steps done */
    int64_t data_position;       /* positions of the sample stream consumed (resume point) */
    int64_t image_position;      /* the same for the image-text stream of mixed training */
    const float *losses;         /* (n_losses) loss of each step so far */
    int64_t n_losses;
    const char *train_args;      /* the training options as key=value lines */
} lv_train_state;

int lv_checkpoint_save(const char *path, const lv_model *m, const lv_adamw *opt,
                       const lv_train_state *st);

/* Loads into a model built from the file's configuration (lv_config_from_file) and an
 * optimiser initialised for it. st->losses and *train_args are malloc'd copies (free them).
 * Nothing is changed on failure. */
int lv_checkpoint_load(const char *path, lv_model *m, lv_adamw *opt, lv_train_state *st,
                       char **train_args);

#endif
