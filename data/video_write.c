/* Video writer (see video_write.h): the encode-and-mux loop of FFmpeg's doc/examples/mux.c for
 * one video stream, written to a temporary file renamed into place on close. No audio, no
 * scaling, no encoder tuning beyond a fixed quality for the codecs whose default blurs. */
#include "video_write.h"
#include "error.h"
#include "safetensors.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LV_WRITER_MAX_SIDE 16384
#define LV_WRITER_QSCALE 3          /* mpeg4/mjpeg quantiser: sharp enough for test patterns */

struct lv_video_writer {
    char *path;
    char *tmp;                      /* path.tmp-PID, renamed to path on close */
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int64_t next_pts;               /* encoder time base (fps_den / fps_num seconds) */
    int64_t frames;
    int header_written;
    int variable_rate;              /* add_at was used: packet durations are unknown */
    int failed;
    char first_error[512];          /* the message of the call that failed */
};

/* Lossless codecs keep RGB; lossy ones get the 4:2:0 layout real videos have. */
static enum AVPixelFormat writer_pix_fmt(const AVCodec *codec)
{
    const AVCodecDescriptor *desc = avcodec_descriptor_get(codec->id);
    const enum AVPixelFormat *fmts = codec->pix_fmts;
    if (!fmts)
        return AV_PIX_FMT_YUV420P;
    if (desc && (desc->props & AV_CODEC_PROP_LOSSLESS))
        return avcodec_find_best_pix_fmt_of_list(fmts, AV_PIX_FMT_RGB24, 0, NULL);
    const enum AVPixelFormat want = codec->id == AV_CODEC_ID_MJPEG ? AV_PIX_FMT_YUVJ420P
                                                                  : AV_PIX_FMT_YUV420P;
    for (int i = 0; fmts[i] != AV_PIX_FMT_NONE; i++)
        if (fmts[i] == want)
            return want;
    return avcodec_find_best_pix_fmt_of_list(fmts, AV_PIX_FMT_RGB24, 0, NULL);
}

/* Marks the writer failed, keeping the message of the call that failed for close. */
static int writer_fail(lv_video_writer *w)
{
    w->failed = 1;
    snprintf(w->first_error, sizeof w->first_error, "%s", lv_error());
    return -1;
}

static int open_encoder(lv_video_writer *w, const AVCodec *codec, int64_t width, int64_t height,
                        int fps_num, int fps_den)
{
    AVCodecContext *enc = w->enc = avcodec_alloc_context3(codec);
    if (!enc)
        return lv_set_error("%s: out of memory creating the %s encoder", w->path, codec->name);
    enc->width = (int)width;
    enc->height = (int)height;
    enc->time_base = (AVRational){ fps_den, fps_num };
    enc->framerate = (AVRational){ fps_num, fps_den };
    enc->pix_fmt = writer_pix_fmt(codec);
    enc->color_range = enc->pix_fmt == AV_PIX_FMT_YUVJ420P ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    if (codec->id == AV_CODEC_ID_MPEG4 || codec->id == AV_CODEC_ID_MJPEG) {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * LV_WRITER_QSCALE;
    }
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    const int err = avcodec_open2(enc, codec, NULL);
    if (err < 0)
        return lv_set_error("%s: cannot open the %s encoder for %lldx%lld at %d/%d fps: %s; try "
                            "even dimensions or another codec (mpeg4)", w->path, codec->name,
                            (long long)width, (long long)height, fps_num, fps_den,
                            av_err2str(err));
    return 0;
}

static int open_stream(lv_video_writer *w)
{
    w->st = avformat_new_stream(w->fmt, NULL);
    if (!w->st)
        return lv_set_error("%s: out of memory creating the video stream", w->path);
    const int err = avcodec_parameters_from_context(w->st->codecpar, w->enc);
    if (err < 0)
        return lv_set_error("%s: cannot copy the encoder parameters: %s", w->path,
                            av_err2str(err));
    w->st->time_base = w->enc->time_base;
    w->st->avg_frame_rate = w->enc->framerate;
    return 0;
}

static int open_buffers(lv_video_writer *w)
{
    const AVCodecContext *enc = w->enc;
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->frame || !w->pkt)
        return lv_set_error("%s: out of memory allocating a frame", w->path);
    w->frame->format = enc->pix_fmt;
    w->frame->width = enc->width;
    w->frame->height = enc->height;
    w->frame->color_range = enc->color_range;
    const int err = av_frame_get_buffer(w->frame, 0);
    if (err < 0)
        return lv_set_error("%s: cannot allocate a %dx%d frame: %s", w->path, enc->width,
                            enc->height, av_err2str(err));
    w->sws = sws_getContext(enc->width, enc->height, AV_PIX_FMT_RGB24, enc->width, enc->height,
                            enc->pix_fmt, SWS_BICUBIC, NULL, NULL, NULL);
    if (!w->sws)
        return lv_set_error("%s: swscale cannot convert RGB24 to %s", w->path,
                            av_get_pix_fmt_name(enc->pix_fmt));
    return 0;
}

static int open_file(lv_video_writer *w)
{
    size_t n = strlen(w->path) + 32;
    w->tmp = lv_malloc(n, "a temporary file name");
    if (!w->tmp)
        return -1;
    FILE *reserved = lv_file_temp_create(w->path, w->tmp, n);  /* a unique name; avio reopens it */
    if (!reserved) {
        const int e = errno;
        w->tmp[0] = 0;
        return lv_set_error("%s: cannot create a temporary file beside it: %s; check that the "
                            "folder exists and is writable", w->path, strerror(e));
    }
    fclose(reserved);
    const int err = avio_open(&w->fmt->pb, w->tmp, AVIO_FLAG_WRITE);
    if (err < 0)
        return lv_set_error("%s: cannot create the temporary file %s: %s; check that the folder "
                            "exists and is writable", w->path, w->tmp, av_err2str(err));
    return 0;
}

static int check_open_args(const char *path, int64_t width, int64_t height, int fps_num,
                           int fps_den)
{
    if (width < 1 || height < 1 || width > LV_WRITER_MAX_SIDE || height > LV_WRITER_MAX_SIDE)
        return lv_set_error("%s: cannot write a %lldx%lld video: width and height must be in "
                            "[1, %d]", path, (long long)width, (long long)height,
                            LV_WRITER_MAX_SIDE);
    if (fps_num < 1 || fps_den < 1)
        return lv_set_error("%s: frame rate %d/%d is not positive; give e.g. 25/1 or 30000/1001",
                            path, fps_num, fps_den);
    return 0;
}

static int open_all(lv_video_writer *w, const char *codec_name, int64_t width, int64_t height,
                    int fps_num, int fps_den)
{
    const AVOutputFormat *ofmt = av_guess_format(NULL, w->path, NULL);
    if (!ofmt || (ofmt->flags & AVFMT_NOFILE))
        return lv_set_error("%s: cannot tell a single-file video container from the file name; "
                            "end it in .mp4, .avi or .mkv", w->path);
    const AVCodec *codec = avcodec_find_encoder_by_name(codec_name);
    if (!codec || codec->type != AVMEDIA_TYPE_VIDEO)
        return lv_set_error("%s: this FFmpeg build has no video encoder '%s'; use mpeg4, which "
                            "every build has", w->path, codec_name);
    const int err = avformat_alloc_output_context2(&w->fmt, ofmt, NULL, NULL);
    if (err < 0)
        return lv_set_error("%s: cannot create the %s muxer: %s", w->path, ofmt->name,
                            av_err2str(err));
    if (open_encoder(w, codec, width, height, fps_num, fps_den) || open_stream(w) ||
        open_buffers(w) || open_file(w))
        return -1;
    return 0;
}

static void writer_free(lv_video_writer *w)
{
    if (w->fmt)
        avio_closep(&w->fmt->pb);
    avformat_free_context(w->fmt);
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    free(w->path);
    free(w->tmp);
    free(w);
}

/* The temporary file goes away with the writer whenever the video is not complete. */
static void writer_discard(lv_video_writer *w)
{
    if (w->fmt)
        avio_closep(&w->fmt->pb);
    if (w->tmp && w->tmp[0])
        remove(w->tmp);
    writer_free(w);
}

lv_video_writer *lv_video_writer_open(const char *path, int64_t width, int64_t height,
                                      int fps_num, int fps_den, const char *codec)
{
    if (check_open_args(path, width, height, fps_num, fps_den))
        return NULL;
    lv_video_writer *w = lv_calloc(1, sizeof *w, "a video writer");
    if (!w)
        return NULL;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        lv_set_error("%s: out of memory", path);
        return NULL;
    }
    if (open_all(w, codec ? codec : "mpeg4", width, height, fps_num, fps_den)) {
        writer_discard(w);
        return NULL;
    }
    return w;
}

int lv_video_writer_set_rotation(lv_video_writer *w, int degrees)
{
    if (w->header_written)
        return lv_set_error("%s: set the rotation before adding the first frame", w->path);
    if (degrees % 90 != 0)
        return lv_set_error("%s: rotation %d is not a multiple of 90 degrees", w->path, degrees);
    int32_t *matrix = (int32_t *)av_stream_new_side_data(w->st, AV_PKT_DATA_DISPLAYMATRIX,
                                                         9 * sizeof(int32_t));
    if (!matrix)
        return lv_set_error("%s: out of memory storing the rotation", w->path);
    /* Players (and video.c) rotate clockwise by -av_display_rotation_get(matrix), and in
     * FFmpeg av_display_rotation_get(av_display_rotation_set(a)) == -a: so this asks for
     * `degrees` clockwise. The tests check it against the ffmpeg program's autorotation. */
    av_display_rotation_set(matrix, (double)degrees);
    return 0;
}

/* Sends one frame (NULL: flush) and writes every packet the encoder has ready. */
static int encode(lv_video_writer *w, const AVFrame *frame)
{
    int err = avcodec_send_frame(w->enc, frame);
    while (err >= 0) {
        err = avcodec_receive_packet(w->enc, w->pkt);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return 0;
        if (err < 0)
            break;
        if (!w->variable_rate && w->pkt->duration == 0)
            w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        err = av_interleaved_write_frame(w->fmt, w->pkt);
        if (err < 0)
            return lv_set_error("%s: writing a packet failed: %s; check free disk space",
                                w->path, av_err2str(err));
    }
    return lv_set_error("%s: the %s encoder failed: %s", w->path, w->enc->codec->name,
                        av_err2str(err));
}

static int put_frame(lv_video_writer *w, const uint8_t *rgb, int64_t pts)
{
    if (w->failed)
        return lv_set_error("%s: an earlier call on this writer failed (%s); close it and start "
                            "over", w->path, w->first_error);
    int err = 0;
    if (!w->header_written && (err = avformat_write_header(w->fmt, NULL)) < 0) {
        lv_set_error("%s: cannot write the %s header: %s", w->path, w->fmt->oformat->name,
                     av_err2str(err));
        return writer_fail(w);
    }
    w->header_written = 1;
    if ((err = av_frame_make_writable(w->frame)) < 0) {
        lv_set_error("%s: cannot get a writable frame: %s", w->path, av_err2str(err));
        return writer_fail(w);
    }
    const uint8_t *src[1] = { rgb };
    const int stride[1] = { 3 * w->enc->width };
    sws_scale(w->sws, src, stride, 0, w->enc->height, w->frame->data, w->frame->linesize);
    w->frame->pts = pts;
    if (encode(w, w->frame))
        return writer_fail(w);
    w->next_pts = pts + 1;
    w->frames++;
    return 0;
}

int lv_video_writer_add(lv_video_writer *w, const uint8_t *rgb)
{
    return put_frame(w, rgb, w->next_pts);
}

int lv_video_writer_add_at(lv_video_writer *w, const uint8_t *rgb, double seconds)
{
    const AVRational tb = w->enc->time_base;
    const double ticks = seconds * tb.den / tb.num;
    if (!isfinite(ticks) || fabs(ticks) > 1e15)
        return lv_set_error("%s: frame time %g s is not a usable number", w->path, seconds);
    const int64_t pts = llround(ticks);
    if (w->frames > 0 && pts < w->next_pts)
        return lv_set_error("%s: frame time %g s is not after the previous frame's (times must "
                            "increase by at least %d/%d s)", w->path, seconds, tb.num, tb.den);
    w->variable_rate = 1;
    return put_frame(w, rgb, pts);
}

static int finish_file(lv_video_writer *w)
{
    if (encode(w, NULL))
        return -1;
    int err = av_write_trailer(w->fmt);
    if (err < 0)
        return lv_set_error("%s: cannot write the %s trailer: %s; check free disk space",
                            w->path, w->fmt->oformat->name, av_err2str(err));
    if ((err = avio_closep(&w->fmt->pb)) < 0)
        return lv_set_error("%s: closing the temporary file failed: %s; check free disk space",
                            w->path, av_err2str(err));
    if (rename(w->tmp, w->path) != 0)
        return lv_set_error("%s: cannot rename the temporary file %s over it: %s", w->path,
                            w->tmp, strerror(errno));
    return 0;
}

int lv_video_writer_close(lv_video_writer *w)
{
    if (!w)
        return 0;
    int rc = -1;
    if (w->failed)
        lv_set_error("%s: not written because an earlier call on this writer failed (%s)",
                     w->path, w->first_error);
    else if (w->frames == 0)
        lv_set_error("%s: not written: no frames were added", w->path);
    else
        rc = finish_file(w);
    if (rc == 0)
        writer_free(w);
    else
        writer_discard(w);
    return rc;
}
