/* Batches of model input from a clip list: decode at a fixed rate, preprocess, tokenize, with a
 * pool of background threads preparing the next batch while the caller uses the current one.
 * The order, and every byte of every batch, is a pure function of the seed and the list, the
 * same for any number of threads; samples that fail to decode are skipped and counted, and the
 * loader stops with the error once more than a set fraction has failed. A data-parallel rank
 * reads its shard of the same stream: each batch is one rank's part of a global batch. */
#ifndef LV_LOADER_H
#define LV_LOADER_H

#include "manifest.h"
#include "video.h"
#include "wordpiece.h"

#include <stdint.h>

typedef struct {
    int64_t batch;               /* B */
    int64_t frames;              /* F samples per video (images: 1) */
    int64_t size;                /* S: model resolution */
    int64_t text_len;            /* T */
    double fps;                  /* sampling rate (1 FPS) */
    lv_sample_mode mode;         /* first N samples (the paper) or uniform */
    float mean[3], std[3];       /* the image model's normalisation */
    int images;                  /* 1: the image entries of the list, 0: the video entries */
    int shuffle;                 /* a new permutation every epoch; 0 keeps list order */
    uint64_t seed;
    double max_bad_fraction;     /* stop when more than this fraction of samples fails (0.1) */
    int64_t start_position;      /* resume: skip this many positions of the sample stream */
    /* data parallelism (shard_count > 1): every batch is this rank's part of a global batch of
     * shard_count x batch consecutive positions of the stream, positions shard_rank x batch
     * onwards; the others are the other ranks'. A sample that fails to load stops the loader
     * (its replacement would shift every rank's share); position counts the whole global
     * batch, so a run resumed on another number of ranks goes on with the same stream */
    int shard_rank, shard_count;
    int threads;                 /* samples decoded at once; 0: lv_loader_default_threads() */
    /* tests only: nonzero adds the number of the thread that loaded a sample (0, 1, ...) to
     * its first value: the thread-dependent output the determinism test must catch */
    int test_thread_dependent;
} lv_loader_spec;

#define LV_LOADER_MAX_THREADS 256

/* OMP_NUM_THREADS (its first number) when set and valid, else the online CPU count; at most
 * LV_LOADER_MAX_THREADS. */
int lv_loader_default_threads(void);

typedef struct {
    int64_t B;                   /* samples in this batch (== batch) */
    float *video;                /* (B, F, S, S, 3) */
    int32_t *text;               /* (B, T) */
    uint8_t *text_valid;         /* (B, T) */
    int64_t *clip;               /* (B) index into the clip list */
    int64_t *valid_frames;       /* (B) frames taken from the video (the rest repeat the last) */
    int64_t epoch, step;         /* step counts batches from 0 */
    int64_t skipped;             /* samples skipped (failed to load) before this batch was made */
    int64_t position;            /* positions of the sample stream consumed through this batch
                                  * (bad samples included): where a resumed run starts */
} lv_loader_batch;

typedef struct lv_loader lv_loader;

/* Starts the background threads; NULL + lv_error() if nothing of the wanted kind is listed. */
lv_loader *lv_loader_open(const lv_clip_list *clips, const lv_tokenizer *tok,
                          const lv_loader_spec *spec);

/* The next batch (valid until the following call); -1 + lv_error() (with the last failure's
 * message) once too many samples have failed. Batches never end: epochs follow one another. */
int lv_loader_next(lv_loader *l, const lv_loader_batch **out);

/* The number of background threads (spec.threads, or its default). */
int lv_loader_threads(const lv_loader *l);

/* Stops the threads (those in the middle of a sample finish it first) and frees everything. */
void lv_loader_close(lv_loader *l);

#endif
