/* Video writer: encodes RGB24 frames into a real video file with libavcodec (for the tests and
 * `longvivit synth`). It writes to PATH.tmp-PID and renames on close, so a failed or interrupted
 * run never leaves a half-written PATH; it does no resizing and no audio. */
#ifndef LV_VIDEO_WRITE_H
#define LV_VIDEO_WRITE_H

#include <stdint.h>

typedef struct lv_video_writer lv_video_writer;

/* codec: an FFmpeg encoder name: "mpeg4" (NULL; in every FFmpeg build), "mjpeg", "ffv1"
 * (lossless: kept in RGB), "libx264", ... The container comes from the extension of path (.mp4
 * .avi .mkv ...). The frame rate fps_num/fps_den is also the time base of lv_video_writer_add.
 * NULL + lv_error() on failure. */
lv_video_writer *lv_video_writer_open(const char *path, int64_t width, int64_t height,
                                      int fps_num, int fps_den, const char *codec);

/* Appends one (height, width, 3) RGB24 frame one frame period after the previous one. */
int lv_video_writer_add(lv_video_writer *w, const uint8_t *rgb);

/* Appends one frame at a presentation time in seconds (variable frame rate), rounded to the
 * nearest multiple of fps_den / fps_num; times must increase. */
int lv_video_writer_add_at(lv_video_writer *w, const uint8_t *rgb, double seconds);

/* Before the first frame: store display-matrix metadata asking players to rotate the picture
 * clockwise by degrees (0, 90, 180, 270) for display. Kept by mp4/mov. */
int lv_video_writer_set_rotation(lv_video_writer *w, int degrees);

/* Flushes the encoder, writes the trailer, renames the file into place and frees the writer
 * (also after an error, in which case nothing is renamed and -1 is returned). */
int lv_video_writer_close(lv_video_writer *w);

#endif
