/* The subcommands of the longvivit program that live in their own files (tools/cmd_*.c).
 * Each takes argv after the program name (argv[0] is the command) and returns the exit code. */
#ifndef LV_COMMANDS_H
#define LV_COMMANDS_H

#include <stdio.h>

#define LV_VERSION "0.1.0"

int cmd_synth(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_frames(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_data(int argc, char **argv);   /* tools/cmd_bench_data.c: the loader's rate */
int cmd_memory(int argc, char **argv);
int cmd_golden(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_plot(int argc, char **argv);      /* tools/cmd_plot.c: an x-y chart from a JSON spec */

/* The video-to-text stage (tools/cmd_text.c): train --stage lm|text, eval --v2t, memory
 * --stage (longvivit.c sends those options there), and caption. */
int cmd_train_text(int argc, char **argv);
int cmd_eval_text(int argc, char **argv);
int cmd_memory_text(int argc, char **argv);
int cmd_caption(int argc, char **argv);

/* The vocabulary of a model read from file `model` (NULL: a fresh model, which takes given,
 * else fallback): the one the file stores, which an explicit --vocab `given` must equal; for a
 * file that predates stored vocabularies, given else fallback, with a note, refused when it has
 * more tokens than model_vocab (the file's embedding rows; 0: unchecked). NULL + lv_error() and
 * *code (2 for a usage error: a --vocab that is not the model's; 1 otherwise) on failure. */
#include "wordpiece.h"
lv_tokenizer *vocab_for_model(const char *model, int64_t model_vocab, const char *given,
                              const char *fallback, int *code);

/* The backend called NAME, through the registry (lv_backend_find: "ref", "cpu", and "cuda" in a
 * build with nvcc); NULL + lv_error() naming the backends this build has. */
#include "blas_glue.h"        /* the registry: lv_backend_find, lv_backend_names */
const lv_backend *backend_by_name(const char *name);

/* Progress for long work: a live line on a terminal, a plain line every few seconds otherwise. */
void progress_report(const char *what, long long done, long long total);
/* Seconds on the monotonic clock (intervals only: the commands' timings). */
double wall_seconds(void);

#endif
