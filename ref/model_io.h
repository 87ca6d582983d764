/* Saving and loading a model's parameters in safetensors, named by the descriptor table, with the
 * configuration in the metadata so a file alone rebuilds its model. (Checkpoints with optimiser
 * state build on this in the training code.) */
#ifndef LV_MODEL_IO_H
#define LV_MODEL_IO_H

#include "model.h"

#define LV_PARAMS_FORMAT "longvivit-params-1"

/* Every parameter under its table name; metadata "format" and "config" (lv_config_format).
 * Written atomically: an existing file is replaced only by a complete one. */
int lv_model_save(const lv_model *m, const char *path);

/* The configuration stored in a file written by lv_model_save. */
int lv_config_from_file(lv_config *c, const char *path);

/* Reads every parameter of m by name from path. Every missing or mis-shaped tensor is listed
 * in the error, and m is unchanged unless everything loads. */
int lv_model_load(lv_model *m, const char *path);

#endif
