/* Strict reading of command-line options, shared by every command of the longvivit program:
 * a number is the whole string, finite and in range, or a usage error (exit 2) whose message
 * names the option and the value. atoi/atof read "abc" as 0 and "1e3" as 1, which ran a
 * different training than the one asked for without a word. */
#ifndef LV_OPTIONS_H
#define LV_OPTIONS_H

#include "config.h"

#include <stddef.h>

/* Exit codes of every command. */
enum { LV_EXIT_OK = 0, LV_EXIT_RUNTIME = 1, LV_EXIT_USAGE = 2, LV_EXIT_INTERRUPTED = 130 };

/* Rewrites "--opt=value" into "--opt" "value" (argparse users type it); a new argv (the strings
 * are shared, the array is leaked on purpose: it lives as long as the process). Arguments that
 * do not start with "--" are kept as they are. "--precision P" (fp32 or bf16) is taken out and
 * set for the backend the command picks (lv_backend_set_precision): every command that takes
 * --backend takes --precision. NULL only when out of memory. */
char **lv_opt_split_equals(int *argc, char **argv);
/* Frees what lv_opt_split_equals allocated (split: n entries; argv: the original argc). */
void lv_opt_split_free(char **split, int n, int argc, char **argv);

/* The --precision line of every command's help, newline-terminated: fp32 or bf16, and whether
 * bf16 runs in this build on this CPU (oneDNN's matmul and ISA) or why not. */
const char *lv_opt_precision_help(void);

/* A whole integer in [lo, hi] into *out: 0, or -1 + lv_error() naming opt and text. */
int lv_opt_int(const char *opt, const char *text, long long lo, long long hi, long long *out);

/* A finite number into *out, at least lo (above lo when lo_open) and at most hi: 0, or -1 +
 * lv_error() naming opt and text. */
int lv_opt_real(const char *opt, const char *text, double lo, int lo_open, double hi,
                double *out);

/* The value of config key as lv_config_format prints it, in buf ("" when absent): how the
 * commands compare a flag's configuration with a checkpoint's, key by key. */
const char *lv_opt_config_value(const lv_config *c, const char *key, char *buf, size_t size);

#endif
