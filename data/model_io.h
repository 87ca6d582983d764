/* Saving and loading a model's parameters in safetensors, named by the descriptor table, with the
 * configuration in the metadata so a file alone rebuilds its model. (Checkpoints with optimiser
 * state build on this in the training code.) */
#ifndef LV_MODEL_IO_H
#define LV_MODEL_IO_H

#include "model.h"

#include "safetensors.h"

#define LV_PARAMS_FORMAT "longvivit-params-1"
#define LV_CKPT_FORMAT "longvivit-ckpt-1"      /* a checkpoint (checkpoint.h) also loads */

/* Every parameter under its table name; metadata "format", "config" (lv_config_format) and,
 * when m->vocab is set, "vocab" (the vocab.txt text, so the file alone encodes captions).
 * Written atomically: an existing file is replaced only by a complete one. */
int lv_model_save(const lv_model *m, const char *path);

/* Adds every parameter and the metadata "format", "config" and "vocab" to a writer (the common
 * part of parameter files and checkpoints); a failure poisons the writer, as every add does.
 * host_params: the parameter slab readable on the host (lv_host_view), alive until the write. */
void lv_model_add_to_writer(lv_st_writer *w, const lv_model *m, const float *host_params,
                            const char *format);

/* The configuration stored in a file written by lv_model_save or a checkpoint. Every tensor it
 * implies is checked against the file's header (name and shape, from the descriptor table, with
 * no parameter memory) before it is returned: the error names the first mismatch and both
 * shapes, so metadata claiming a huge model cannot make a caller allocate for it. */
int lv_config_from_file(lv_config *c, const char *path);

/* The vocab.txt text stored in a file (metadata "vocab", written whenever the model's vocab is
 * set), malloc'd into *vocab; *vocab = NULL when the file predates stored vocabularies. */
int lv_vocab_from_file(char **vocab, const char *path);

/* Reads every parameter of m by name from path. Every missing or mis-shaped tensor is listed
 * in the error, and m is unchanged unless everything loads. A NaN or Inf entry is refused too,
 * naming the tensor and the entry. */
int lv_model_load(lv_model *m, const char *path);

/* Starts a model from another run's parameters (a ShortViViT for the long stage): tensors of the
 * same name and shape are copied; temporal position tables with another number of steps are
 * resized (config temporal_extend: linear interpolation or tiling); tensors the file lacks keep
 * their initialisation (adapters, LoRA, new gates). Any other shape mismatch is an error naming
 * every such tensor, and nothing is changed; so is a NaN or Inf entry. Counts go to *copied, *resized, *kept. */
int lv_model_start_from(lv_model *m, const char *path, int64_t *copied, int64_t *resized,
                        int64_t *kept);

#endif
