/* Video reader (see video.h): demux, decode with threads in the send/receive style of FFmpeg's
 * doc/examples/demux_decode.c, and keep only the frames the samples need. Times are integers in
 * the stream's time base; frames no sample can take are skipped, never guessed. No resizing. */
#include "video.h"
#include "error.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/cpu.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LV_VIDEO_MAX_SIDE 8192
#define LV_VIDEO_MAX_FRAMES (INT64_C(1) << 24)
#define LV_VIDEO_MIN_FPS 1e-4
#define LV_VIDEO_MAX_FPS 1000.0
#define LV_VIDEO_MAX_START 1e7            /* seconds: keeps the tick arithmetic inside int64 */
#define LV_SEEN_PTS 32                    /* recent packet times kept for the skip decision */
#define LV_SEEK_MIN_PACKETS 8             /* auto: a seek must skip at least this many */
#define LV_THREADS_PER_CPU 4              /* skipped frames hold frame-thread slots too */
#define LV_MAX_THREADS 16                 /* the most decoding threads (also spec.decode_threads) */
#define LV_SEEK_TRIES 4                   /* earlier keyframes tried when a seek lands late */
#define LV_EOF 2                          /* read_packet: no more packets */
#define LV_RESTART 3                      /* a seek went wrong: decode from the start instead */

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
#define LV_FRAME_DURATION(f) ((f)->duration)
#else
#define LV_FRAME_DURATION(f) ((f)->pkt_duration)
#endif

/* ---- opening ------------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVStream *st;
    int rotation;                         /* clockwise degrees for display */
} lv_source;

static void source_close(lv_source *s)
{
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
}

/* Clockwise degrees in {0, 90, 180, 270} from the display matrix (which stores the
 * counter-clockwise angle); flips are ignored. */
static int stream_rotation(AVStream *st)
{
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!m)
        return 0;
    const double ccw = av_display_rotation_get((const int32_t *)m);
    if (isnan(ccw))
        return 0;
    const long quarter = lround(-ccw / 90.0);
    return (int)(((quarter % 4) + 4) % 4) * 90;
}

static int open_input(lv_source *s)
{
    int err = avformat_open_input(&s->fmt, s->path, NULL, NULL);
    if (err == AVERROR(ENOENT))
        return lv_set_error("%s: no such file; check the path", s->path);
    if (err < 0)
        return lv_set_error("%s: FFmpeg cannot read it as a video (%s): it is not a video file, "
                            "or it is damaged or truncated", s->path, av_err2str(err));
    if ((err = avformat_find_stream_info(s->fmt, NULL)) < 0)
        return lv_set_error("%s: cannot read the stream information (%s); the file is damaged "
                            "or truncated", s->path, av_err2str(err));
    return 0;
}

/* The best video stream that is a real video, not cover art. */
static int find_video_stream(lv_source *s)
{
    int idx = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (idx >= 0 && (s->fmt->streams[idx]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        idx = -1;
        for (unsigned i = 0; idx < 0 && i < s->fmt->nb_streams; i++) {
            const AVStream *st = s->fmt->streams[i];
            if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
                idx = (int)i;
        }
    }
    if (idx < 0)
        return lv_set_error("%s: no video stream (the %s file has %u stream(s), none of them "
                            "video); give a video file", s->path, s->fmt->iformat->name,
                            s->fmt->nb_streams);
    s->st = s->fmt->streams[idx];
    s->rotation = stream_rotation(s->st);
    return 0;
}

static int check_dimensions(const lv_source *s, int64_t max_side)
{
    const AVCodecParameters *par = s->st->codecpar;
    if (par->width <= 0 || par->height <= 0)
        return lv_set_error("%s: the video stream has no dimensions (%dx%d); the file is "
                            "damaged or truncated", s->path, par->width, par->height);
    if (par->width > max_side || par->height > max_side)
        return lv_set_error("%s: %dx%d video exceeds the limit of %lld pixels per side; raise "
                            "max_side if the size is intended", s->path, par->width,
                            par->height, (long long)max_side);
    return 0;
}

/* threads: 0 = LV_THREADS_PER_CPU per CPU (at most LV_MAX_THREADS), else exactly that many. */
static int open_decoder(lv_source *s, int threads)
{
    const AVCodecParameters *par = s->st->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec)
        return lv_set_error("%s: this FFmpeg build has no decoder for the %s codec; re-encode the "
                            "video (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or use an FFmpeg "
                            "with that decoder", s->path, avcodec_get_name(par->codec_id));
    s->dec = avcodec_alloc_context3(codec);
    if (!s->dec)
        return lv_set_error("%s: out of memory creating the %s decoder", s->path, codec->name);
    int err = avcodec_parameters_to_context(s->dec, par);
    if (err >= 0) {
        s->dec->pkt_timebase = s->st->time_base;
        s->dec->thread_count = threads > 0 ? threads
                                           : FFMIN(LV_THREADS_PER_CPU * av_cpu_count(), LV_MAX_THREADS);
        s->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
        err = avcodec_open2(s->dec, codec, NULL);
    }
    if (err < 0)
        return lv_set_error("%s: cannot open the %s decoder: %s", s->path, codec->name,
                            av_err2str(err));
    return 0;
}

/* threads < 0: no decoder (probing); else open_decoder's */
static int source_open(lv_source *s, const char *path, int64_t max_side, int threads)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    int rc = open_input(s);
    if (rc == 0)
        rc = find_video_stream(s);
    if (rc == 0)
        rc = check_dimensions(s, max_side);
    if (rc == 0 && threads >= 0)
        rc = open_decoder(s, threads);
    if (rc != 0)
        source_close(s);
    return rc;
}

/* ---- the reader's state ------------------------------------------------------------------- */

typedef struct {
    lv_source src;
    const lv_sample_spec *spec;
    lv_frames *out;
    AVPacket *pkt;
    AVPacket *held;             /* the packet read before pkt, sent once pkt is known */
    AVFrame *frame;
    AVFrame *cand;              /* latest accepted frame: the sample for times from its pts on */
    int intra_only;             /* every packet decodes alone: unneeded ones are not sent */
    int64_t *target;            /* (N) sample times, stream time base */
    int64_t live;               /* targets [0, live) lie before spec.end */
    int64_t next;               /* first target not yet given a frame */
    int64_t origin;             /* stream time of the video's start */
    int64_t frame_ticks;        /* nominal frame duration for frames that carry none */
    int have_cand;
    int64_t cand_pts, cand_end, cand_rank;
    int64_t cand_slot;          /* the sample its RGB was written to, -1 before */
    int64_t skipped_end;        /* furthest end of the frames skipped as unneeded */
    int64_t seen[LV_SEEN_PTS];  /* times of the latest packets read, a ring */
    int64_t n_seen;
    int64_t *pending;           /* sorted packet times not yet matched to an output frame */
    int64_t n_pending, cap_pending;
    int64_t rank;               /* presentation-order number of the next frame */
    int dts_slots;              /* packets carry decode times only: see note_packet */
    int can_seek;               /* per-frame index without discarded entries */
    int check_seek;             /* a target was resolved: consider seeking to the next */
    int64_t read_entry;         /* decode-order number of the next packet read */
    int landing;                /* a seek was made: check the first packet read */
    int verify_frame;           /* a seek was made: check the first frame decoded */
    int64_t landing_pts;        /* after a seek: frames before it are leading pictures */
    int seek_tries;
    int restarted;
    int64_t packets, bad_packets;
    int last_error;
    struct SwsContext *sws;
    int sws_cs, sws_range;      /* colour details set on sws (-1: none yet) */
    uint8_t *scratch;           /* (h, w, 3) RGB before rotation */
    int64_t raw_w, raw_h;       /* RGB size before rotation */
} lv_reader;

static AVRational tb_of(const lv_reader *r)
{
    return r->src.st->time_base;
}

static int64_t ticks_of_seconds(double seconds, AVRational tb)
{
    return av_rescale_rnd(llround(seconds * 1e6), tb.den, INT64_C(1000000) * tb.num,
                          AV_ROUND_DOWN);
}

/* ---- sample times ------------------------------------------------------------------------- */

static int check_spec(const char *path, const lv_sample_spec *spec)
{
    if (spec->max_frames <= 0 || spec->max_frames > LV_VIDEO_MAX_FRAMES)
        return lv_set_error("%s: max_frames is %lld; ask for 1 to %lld samples", path,
                            (long long)spec->max_frames, (long long)LV_VIDEO_MAX_FRAMES);
    if (!(spec->fps >= LV_VIDEO_MIN_FPS && spec->fps <= LV_VIDEO_MAX_FPS))
        return lv_set_error("%s: fps is %g; the sampling rate must be in [%g, %g] frames per "
                            "second", path, spec->fps, LV_VIDEO_MIN_FPS, LV_VIDEO_MAX_FPS);
    if (!(spec->start >= 0.0 && spec->start <= LV_VIDEO_MAX_START) ||
        !(spec->end <= LV_VIDEO_MAX_START))
        return lv_set_error("%s: start %g s, end %g s: both must be at most %g s and start must "
                            "not be negative", path, spec->start, spec->end, LV_VIDEO_MAX_START);
    if (spec->end > 0.0 && spec->end <= spec->start)
        return lv_set_error("%s: end %g s is not after start %g s; give end > start, or end <= 0 "
                            "for the end of the video", path, spec->end, spec->start);
    if (spec->max_side < 0)
        return lv_set_error("%s: max_side %lld is negative; 0 means the default %d", path,
                            (long long)spec->max_side, LV_VIDEO_MAX_SIDE);
    if (spec->decode_threads < 0 || spec->decode_threads > LV_MAX_THREADS)
        return lv_set_error("%s: decode_threads is %d; give 0 (automatic) to %d", path,
                            spec->decode_threads, LV_MAX_THREADS);
    return 0;
}

/* t_k = start + k / fps, floored to ticks exactly: fps as a rational num/den, start in
 * microseconds, so t_k = (start_us * num + k * den * 10^6) / (10^6 * num) seconds. */
static void first_targets(lv_reader *r)
{
    const lv_sample_spec *spec = r->spec;
    const AVRational tb = tb_of(r);
    const AVRational fr = av_d2q(spec->fps, 1 << 15);
    const int64_t start_us = llround(spec->start * 1e6);
    for (int64_t k = 0; k < spec->max_frames; k++) {
        const int64_t num = start_us * fr.num + k * fr.den * INT64_C(1000000);
        r->target[k] = r->origin + av_rescale_rnd(num, tb.den, INT64_C(1000000) * fr.num * tb.num,
                                                  AV_ROUND_DOWN);
        r->out->t[k] = spec->start + (double)k * fr.den / fr.num;
    }
}

/* Stream time of the video's first frame: the stream's start_time, else the container's, else
 * 0. Every sample time is relative to it: a file whose timestamps begin at 1000 s (a cut from a
 * recording, ffmpeg -output_ts_offset) samples its first frame at t = 0. */
static int64_t stream_origin(const lv_source *s)
{
    if (s->st->start_time != AV_NOPTS_VALUE)
        return s->st->start_time;
    if (s->fmt->start_time != AV_NOPTS_VALUE)
        return av_rescale_q(s->fmt->start_time, AV_TIME_BASE_Q, s->st->time_base);
    return 0;
}

static int64_t nominal_frame_ticks(const AVStream *st)
{
    AVRational rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    if (rate.num <= 0 || rate.den <= 0)
        return 1;
    const int64_t t = av_rescale_q(1, av_inv_q(rate), st->time_base);
    return t > 0 ? t : 1;
}

/* The end of the stream's last packet (stream ticks), read from a second demuxer opened on the
 * same file so the reader's own position is untouched: a seek to the last keyframe before
 * `near`, then every packet to the end (the whole file where the seek fails). AV_NOPTS_VALUE
 * when nothing could be read. */
static int64_t measured_end(const lv_source *s, int64_t near)
{
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, s->path, NULL, NULL) < 0)
        return AV_NOPTS_VALUE;
    const int idx = s->st->index;
    int64_t end = AV_NOPTS_VALUE;
    AVPacket *pkt = av_packet_alloc();
    /* The second demuxer must see the same stream: the index alone is not enough for formats
     * that create streams as they meet them. */
    if (pkt && (unsigned)idx < fmt->nb_streams &&
        fmt->streams[idx]->codecpar->codec_id == s->st->codecpar->codec_id &&
        !av_cmp_q(fmt->streams[idx]->time_base, s->st->time_base)) {
        const int64_t step = nominal_frame_ticks(s->st);
        if (av_seek_frame(fmt, idx, near, AVSEEK_FLAG_BACKWARD) < 0)
            av_seek_frame(fmt, idx, INT64_MIN, AVSEEK_FLAG_BACKWARD);
        while (av_read_frame(fmt, pkt) >= 0) {
            const int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            if (pkt->stream_index == idx && t != AV_NOPTS_VALUE) {
                const int64_t e = t + (pkt->duration > 0 ? pkt->duration : step);
                end = end == AV_NOPTS_VALUE ? e : FFMAX(end, e);
            }
            av_packet_unref(pkt);
        }
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return end;
}

/* The video's length in ticks from its first frame. The stream's duration is a length; the
 * container's is not always one: Matroska/WebM store the end time of the segment (FFmpeg's
 * muxer writes 1005 s for a 5 s video whose timestamps start at 1000 s, and ffprobe then reads
 * start 1000 s, duration 1005 s). So where the stream does not start at 0 or the container
 * gives no duration, the end is measured from the last packets; the container's figure is the
 * fallback when nothing can be read. */
static int64_t duration_ticks(const lv_source *s)
{
    if (s->st->duration > 0 && s->st->duration != AV_NOPTS_VALUE)
        return s->st->duration;
    const int64_t origin = stream_origin(s);
    int64_t d = 0;
    if (s->fmt->duration > 0 && s->fmt->duration != AV_NOPTS_VALUE)
        d = av_rescale_q(s->fmt->duration, AV_TIME_BASE_Q, s->st->time_base);
    if (origin == 0 && d > 0)
        return d;
    /* Seek near the later of the two readings of d (an end time, or a length from origin). */
    const int64_t near = d > 0 && origin <= INT64_MAX - d ? FFMAX(origin + d, d) : INT64_MAX;
    const int64_t end = measured_end(s, near);
    if (end != AV_NOPTS_VALUE && end > origin)
        return end - origin;
    return d;
}

/* t_k at the centres of N equal segments of [start, end]. */
static int uniform_targets(lv_reader *r)
{
    const lv_sample_spec *spec = r->spec;
    const AVRational tb = tb_of(r);
    const int64_t n = spec->max_frames;
    const int64_t s = ticks_of_seconds(spec->start, tb);
    const int64_t e = spec->end > 0.0 ? ticks_of_seconds(spec->end, tb) : duration_ticks(&r->src);
    if (e <= 0)
        return lv_set_error("%s: the container does not say how long the video is, so uniform "
                            "sampling cannot place its samples; give end (seconds)", r->src.path);
    if (e <= s)
        return lv_set_error("%s: start %g s is at or past the end of the video (%.3f s); lower "
                            "start", r->src.path, spec->start, e * av_q2d(tb));
    const double end_s = spec->end > 0.0 ? spec->end : e * av_q2d(tb);
    for (int64_t k = 0; k < n; k++) {
        r->target[k] = r->origin + s + av_rescale_rnd(2 * k + 1, e - s, 2 * n, AV_ROUND_DOWN);
        r->out->t[k] = spec->start + (k + 0.5) * (end_s - spec->start) / n;
    }
    return 0;
}

static int make_targets(lv_reader *r)
{
    const lv_sample_spec *spec = r->spec;
    if (spec->mode == LV_SAMPLE_UNIFORM) {
        if (uniform_targets(r))
            return -1;
    } else {
        first_targets(r);
    }
    r->live = spec->max_frames;
    while (spec->end > 0.0 && r->live > 0 && r->out->t[r->live - 1] >= spec->end)
        r->live--;
    return 0;
}

/* ---- RGB output --------------------------------------------------------------------------- */

/* (h, w, 3) src into dst rotated clockwise by deg; dst is (w, h, 3) for 90 and 270. */
static void rotate_rgb(uint8_t *dst, const uint8_t *src, int64_t w, int64_t h, int deg)
{
    const int64_t dw = deg == 180 ? w : h;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            int64_t dx = x, dy = y;
            if (deg == 90) {
                dx = h - 1 - y;
                dy = x;
            } else if (deg == 180) {
                dx = w - 1 - x;
                dy = h - 1 - y;
            } else if (deg == 270) {
                dx = y;
                dy = w - 1 - x;
            }
            memcpy(dst + 3 * (dy * dw + dx), src + 3 * (y * w + x), 3);
        }
    }
}

/* Output buffers sized from the first frame that becomes a sample. */
static int alloc_output(lv_reader *r, const AVFrame *f)
{
    lv_frames *out = r->out;
    const int64_t max_side = r->spec->max_side ? r->spec->max_side : LV_VIDEO_MAX_SIDE;
    if (f->width > max_side || f->height > max_side)
        return lv_set_error("%s: decoded frames are %dx%d, over the limit of %lld pixels per "
                            "side; raise max_side if the size is intended", r->src.path,
                            f->width, f->height, (long long)max_side);
    r->raw_w = f->width;
    r->raw_h = f->height;
    const int turn = r->src.rotation == 90 || r->src.rotation == 270;
    out->width = turn ? r->raw_h : r->raw_w;
    out->height = turn ? r->raw_w : r->raw_h;
    const size_t frame_bytes = (size_t)(3 * r->raw_w * r->raw_h);
    out->rgb = lv_malloc((size_t)out->n * frame_bytes, "the sampled RGB frames");
    if (!out->rgb)
        return -1;
    if (r->src.rotation) {
        r->scratch = lv_malloc(frame_bytes, "an RGB frame before rotation");
        if (!r->scratch)
            return -1;
    }
    return 0;
}

/* The frame's own colour matrix and range, as FFmpeg's scale filter reads them. */
static void set_colour_details(lv_reader *r, const AVFrame *f)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    const int range = f->color_range == AVCOL_RANGE_JPEG;
    if (!desc || (desc->flags & AV_PIX_FMT_FLAG_RGB) ||
        (r->sws_cs == (int)f->colorspace && r->sws_range == range))
        return;
    int *inv, *table, src_range, dst_range, brightness, contrast, saturation;
    sws_getColorspaceDetails(r->sws, &inv, &src_range, &table, &dst_range, &brightness,
                             &contrast, &saturation);
    sws_setColorspaceDetails(r->sws, sws_getCoefficients(f->colorspace), range, table,
                             dst_range, brightness, contrast, saturation);
    r->sws_cs = (int)f->colorspace;
    r->sws_range = range;
}

/* Plain conversion to RGB24 (frames that change size mid-stream are scaled to the first's). */
static int convert_frame(lv_reader *r, const AVFrame *f, uint8_t *dst)
{
    struct SwsContext *sws = sws_getCachedContext(r->sws, f->width, f->height, f->format,
                                                  (int)r->raw_w, (int)r->raw_h, AV_PIX_FMT_RGB24,
                                                  SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws)
        return lv_set_error("%s: swscale cannot convert %s frames to RGB24", r->src.path,
                            av_get_pix_fmt_name(f->format));
    if (sws != r->sws)
        r->sws_cs = -1;
    r->sws = sws;
    set_colour_details(r, f);
    uint8_t *rgb = r->src.rotation ? r->scratch : dst;
    uint8_t *planes[1] = { rgb };
    const int stride[1] = { (int)(3 * r->raw_w) };
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, stride);
    if (r->src.rotation)
        rotate_rgb(dst, rgb, r->raw_w, r->raw_h, r->src.rotation);
    return 0;
}

/* Sample j takes the candidate frame. */
static int emit(lv_reader *r, int64_t j)
{
    lv_frames *out = r->out;
    if (!out->rgb && alloc_output(r, r->cand))
        return -1;
    const size_t bytes = (size_t)(3 * out->width * out->height);
    if (r->cand_slot < 0) {
        if (convert_frame(r, r->cand, out->rgb + (size_t)j * bytes))
            return -1;
        r->cand_slot = j;
    } else {
        memcpy(out->rgb + (size_t)j * bytes, out->rgb + (size_t)r->cand_slot * bytes, bytes);
    }
    out->src_t[j] = (double)(r->cand_pts - r->origin) * av_q2d(tb_of(r));
    out->src_index[j] = r->cand_rank;
    out->valid = j + 1;
    return 0;
}

/* ---- which packets a sample can need ------------------------------------------------------ */

/* A packet's presentation time; its decode time stands in only where frames never reorder. */
static int64_t packet_time(const lv_reader *r, const AVPacket *pkt)
{
    if (pkt->pts != AV_NOPTS_VALUE)
        return pkt->pts;
    return r->intra_only ? pkt->dts : AV_NOPTS_VALUE;
}

/* Is a packet already read whose time lies in (lo, hi]? */
static int seen_between(const lv_reader *r, int64_t lo, int64_t hi)
{
    const int64_t n = r->n_seen < LV_SEEN_PTS ? r->n_seen : LV_SEEN_PTS;
    for (int64_t i = 0; i < n; i++)
        if (r->seen[i] > lo && r->seen[i] <= hi)
            return 1;
    return 0;
}

/* First live target >= t (live if none). */
static int64_t target_at_or_after(const lv_reader *r, int64_t t)
{
    int64_t lo = r->next, hi = r->live;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (r->target[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A frame at time p is needed if it can be a sample (no other frame known to exist lies
 * between it and the next target) or if it is the first frame after an open target (accepting
 * it settles that target). Until a frame is accepted every packet is needed: the first frame
 * also serves the samples before it. */
static int frame_needed(const lv_reader *r, int64_t p)
{
    if (p == AV_NOPTS_VALUE || !r->have_cand)
        return 1;
    if (p <= r->cand_pts)
        return 0;
    const int64_t k = target_at_or_after(r, p);
    if (k < r->live && !seen_between(r, p, r->target[k]))
        return 1;
    return k > r->next && !seen_between(r, r->target[k - 1], p - 1);
}

/* ---- presentation-order numbering --------------------------------------------------------- */

static int pending_insert(lv_reader *r, int64_t t)
{
    if (r->n_pending == r->cap_pending) {
        const int64_t cap = r->cap_pending ? 2 * r->cap_pending : 64;
        int64_t *p = realloc(r->pending, (size_t)cap * sizeof *p);
        if (!p)
            return lv_set_error("%s: out of memory numbering frames", r->src.path);
        r->pending = p;
        r->cap_pending = cap;
    }
    int64_t i = r->n_pending;
    while (i > 0 && r->pending[i - 1] > t) {
        r->pending[i] = r->pending[i - 1];
        i--;
    }
    r->pending[i] = t;
    r->n_pending++;
    return 0;
}

/* A frame's number: every packet time before it counts one frame (those frames were skipped,
 * discarded or not decodable); its own packet time is consumed with it. */
static int64_t frame_rank(lv_reader *r, int64_t pts)
{
    int64_t used = 0;
    while (used < r->n_pending && r->pending[used] < pts)
        used++;
    r->rank += used;
    if (used < r->n_pending && r->pending[used] == pts)
        used++;
    memmove(r->pending, r->pending + used, (size_t)(r->n_pending - used) * sizeof *r->pending);
    r->n_pending -= used;
    return r->rank++;
}

/* ---- frames ------------------------------------------------------------------------------- */

static int64_t frame_end(const lv_reader *r, const AVFrame *f, int64_t pts)
{
    const int64_t d = LV_FRAME_DURATION(f);
    return pts + (d > 0 ? d : r->frame_ticks);
}

/* After a seek the first frame must lie at or before the target (else the seek overshot) and
 * no frame may precede the keyframe landed on (leading pictures of an open GOP). */
static int seek_went_wrong(lv_reader *r, int64_t pts)
{
    const int first = r->verify_frame;
    r->verify_frame = 0;
    if (first && r->next < r->live && pts > r->target[r->next])
        return 1;
    return r->landing_pts != AV_NOPTS_VALUE && pts < r->landing_pts;
}

/* A decoded frame: it ends the search of every target before it, then becomes the candidate.
 * Its time is FFmpeg's best_effort_timestamp, except where the container stores decode times
 * only: AVI has one chunk per frame period, so the k-th frame shown is at the k-th smallest
 * decode time (best_effort_timestamp lags there by the reorder delay). */
static int accept_frame(lv_reader *r, AVFrame *f)
{
    int64_t pts = r->dts_slots && r->n_pending ? r->pending[0] : f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE)
        pts = r->have_cand ? r->cand_end : r->origin;
    if (seek_went_wrong(r, pts))
        return LV_RESTART;
    const int64_t rank = frame_rank(r, pts);
    if (r->have_cand && pts <= r->cand_pts)
        return 0;
    if (r->have_cand) {
        while (r->next < r->live && pts > r->target[r->next]) {
            if (emit(r, r->next))
                return -1;
            r->next++;
            r->check_seek = 1;
        }
    }
    av_frame_unref(r->cand);
    av_frame_move_ref(r->cand, f);
    r->have_cand = 1;
    r->cand_pts = pts;
    r->cand_end = frame_end(r, r->cand, pts);
    r->cand_rank = rank;
    r->cand_slot = -1;
    return 0;
}

static int decode_error(lv_reader *r, int err)
{
    if (err == AVERROR(ENOMEM))
        return lv_set_error("%s: out of memory while decoding", r->src.path);
    r->bad_packets++;
    r->last_error = err;
    return 0;
}

/* Sends one packet (NULL: drain) and receives every frame until the decoder wants more. */
static int decode_packet(lv_reader *r, AVPacket *pkt)
{
    int err = avcodec_send_packet(r->src.dec, pkt);
    if (pkt)
        av_packet_unref(pkt);
    if (err < 0 && err != AVERROR_EOF && decode_error(r, err))
        return -1;
    for (;;) {
        err = avcodec_receive_frame(r->src.dec, r->frame);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return 0;
        if (err < 0) {
            if (decode_error(r, err))
                return -1;
            continue;
        }
        r->out->decoded++;
        const int rc = accept_frame(r, r->frame);
        av_frame_unref(r->frame);
        if (rc != 0 || r->next >= r->live)
            return rc;
    }
}

/* The held packet goes to the decoder, or is skipped when no sample can take its frame:
 * intra-only codecs drop it, others decode it only if later frames reference it. */
static int send_held(lv_reader *r)
{
    if (!r->held->data && !r->held->side_data_elems)
        return 0;
    const int64_t p = packet_time(r, r->held);
    const int needed = frame_needed(r, p);
    if (!needed) {
        const int64_t d = r->held->duration > 0 ? r->held->duration : r->frame_ticks;
        r->skipped_end = FFMAX(r->skipped_end, p + d);
    }
    if (!needed && r->intra_only) {
        av_packet_unref(r->held);
        return 0;
    }
    r->src.dec->skip_frame = needed ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
    return decode_packet(r, r->held);
}

/* ---- seeking ------------------------------------------------------------------------------ */

/* Seeking needs a per-frame index whose entries all come out as packets, so that an entry's
 * number is the number of frames before it (closed GOPs). */
static int index_usable(lv_source *s)
{
    const int n = avformat_index_get_entries_count(s->st);
    if (n <= 0 || n != s->st->nb_frames)
        return 0;
    for (int i = 0; i < n; i++)
        if (avformat_index_get_entry(s->st, i)->flags & AVINDEX_DISCARD_FRAME)
            return 0;
    return 1;
}

static void reset_after_seek(lv_reader *r)
{
    avcodec_flush_buffers(r->src.dec);
    av_packet_unref(r->held);
    av_packet_unref(r->pkt);
    r->n_pending = 0;
    r->landing = 1;
    r->verify_frame = 1;
    r->landing_pts = AV_NOPTS_VALUE;
    r->out->seeks++;
}

/* Back to the first packet with seeking off: the fallback when a seek lands wrongly. */
static int restart(lv_reader *r)
{
    const AVIndexEntry *first = avformat_index_get_entry(r->src.st, 0);
    if (r->restarted || !first)
        return lv_set_error("%s: seeking back to the start failed; read it without seeking "
                            "(seek = LV_SEEK_NEVER)", r->src.path);
    r->restarted = 1;
    r->can_seek = 0;
    const int err = av_seek_frame(r->src.fmt, r->src.st->index, first->timestamp,
                                  AVSEEK_FLAG_BACKWARD);
    if (err < 0)
        return lv_set_error("%s: seeking back to the start failed (%s); read it without "
                            "seeking (seek = LV_SEEK_NEVER)", r->src.path, av_err2str(err));
    reset_after_seek(r);
    r->verify_frame = 0;
    return 0;
}

/* To the keyframe at or before stream time ts (mov picks it by presentation time, avi by
 * decode time: check_landing verifies what came). */
static int seek_to_time(lv_reader *r, int64_t ts)
{
    if (av_seek_frame(r->src.fmt, r->src.st->index, ts, AVSEEK_FLAG_BACKWARD) < 0)
        return restart(r);
    reset_after_seek(r);
    return 0;
}

/* Seek to the keyframe before the next target when that skips enough packets. */
static int maybe_seek(lv_reader *r)
{
    r->check_seek = 0;
    if (!r->can_seek || r->spec->seek == LV_SEEK_NEVER || r->next >= r->live)
        return 0;
    const int64_t t = r->target[r->next];
    const int64_t e = av_index_search_timestamp(r->src.st, t, AVSEEK_FLAG_BACKWARD);
    const int64_t min_skip = r->spec->seek == LV_SEEK_ALWAYS ? 1 : LV_SEEK_MIN_PACKETS;
    if (e < 0 || e - r->read_entry < min_skip)
        return 0;
    r->seek_tries = 0;
    return seek_to_time(r, t);
}

/* The first packet after a seek must be a keyframe of the index (its entry number is the
 * number of frames before it: closed GOPs) shown at or before the target; a keyframe shown
 * after the target means the target's frame lies in an earlier GOP. */
static int check_landing(lv_reader *r, const AVPacket *pkt)
{
    AVStream *st = r->src.st;
    r->landing = 0;
    const int e = av_index_search_timestamp(st, pkt->dts, AVSEEK_FLAG_ANY | AVSEEK_FLAG_BACKWARD);
    const AVIndexEntry *entry = e >= 0 ? avformat_index_get_entry(st, e) : NULL;
    if (!entry || entry->timestamp != pkt->dts || !(entry->flags & AVINDEX_KEYFRAME))
        return restart(r);
    r->read_entry = e;
    r->rank = e;
    if (r->restarted)
        return 0;
    r->landing_pts = pkt->pts;
    if (pkt->pts == AV_NOPTS_VALUE || r->next >= r->live || pkt->pts <= r->target[r->next])
        return 0;
    if (++r->seek_tries >= LV_SEEK_TRIES)
        return restart(r);
    return seek_to_time(r, pkt->dts - 1);
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* Every packet's time joins the pending list (numbering) and the recent ring (skipping). A
 * packet without a presentation time in a codec that reorders (H.264 in AVI) pends with its
 * decode time: frames then take the smallest pending decode times in order, see accept_frame. */
static int note_packet(lv_reader *r, const AVPacket *pkt)
{
    const int64_t t = packet_time(r, pkt);
    r->packets++;
    r->read_entry++;
    if (t == AV_NOPTS_VALUE && pkt->dts != AV_NOPTS_VALUE) {
        r->dts_slots = 1;
        return pending_insert(r, pkt->dts);
    }
    if (t == AV_NOPTS_VALUE)
        return 0;
    r->seen[r->n_seen++ % LV_SEEN_PTS] = t;
    return pending_insert(r, t);
}

static int read_packet(lv_reader *r)
{
    const int err = av_read_frame(r->src.fmt, r->pkt);
    if (err < 0) {
        if (err != AVERROR_EOF)
            r->last_error = err;
        return LV_EOF;
    }
    if (r->pkt->stream_index != r->src.st->index) {
        av_packet_unref(r->pkt);
        return 0;
    }
    if (r->landing) {
        const int64_t seeks = r->out->seeks;
        if (check_landing(r, r->pkt))
            return -1;
        if (r->out->seeks != seeks)
            return 0;
    }
    if (note_packet(r, r->pkt))
        return -1;
    const int rc = send_held(r);
    av_packet_move_ref(r->held, r->pkt);
    return rc;
}

/* At the end of the file: the held packet, then the frames still inside the decoder. */
static int drain(lv_reader *r)
{
    int rc = send_held(r);
    if (rc == 0 && r->next < r->live)
        rc = decode_packet(r, NULL);
    return rc;
}

static int read_until_done(lv_reader *r)
{
    int rc = 0;
    while (rc == 0 && r->next < r->live) {
        if (r->check_seek)
            rc = maybe_seek(r);
        if (rc == 0)
            rc = read_packet(r);
        if (rc == LV_RESTART)
            rc = restart(r);
    }
    if (rc == LV_EOF)
        rc = drain(r);
    if (rc == LV_RESTART)
        return restart(r) ? -1 : read_until_done(r);
    return rc;
}

/* At the end of the file the candidate serves every target before the end of the video. */
static int finish(lv_reader *r)
{
    lv_frames *out = r->out;
    if (!r->have_cand)
        return lv_set_error("%s: no frame of the video stream could be decoded (%lld packets "
                            "read, %lld rejected%s%s); the file is damaged or truncated",
                            r->src.path, (long long)r->packets, (long long)r->bad_packets,
                            r->last_error ? ", last error: " : "",
                            r->last_error ? av_err2str(r->last_error) : "");
    const int64_t end = FFMAX(r->cand_end, r->skipped_end);
    for (; r->next < r->live && r->target[r->next] < end; r->next++)
        if (emit(r, r->next))
            return -1;
    if (out->valid == 0)
        return lv_set_error("%s: no sample falls inside the video: the first sample time %.3f s "
                            "is at or past its end (%.3f s); lower start", r->src.path,
                            out->t[0], (double)(end - r->origin) * av_q2d(tb_of(r)));
    const size_t bytes = (size_t)(3 * out->width * out->height);
    for (int64_t k = out->valid; k < out->n; k++) {
        memcpy(out->rgb + (size_t)k * bytes, out->rgb + (size_t)(out->valid - 1) * bytes, bytes);
        out->src_t[k] = out->src_t[out->valid - 1];
        out->src_index[k] = out->src_index[out->valid - 1];
    }
    return 0;
}

/* ---- setup and the public calls ----------------------------------------------------------- */

static int reader_init(lv_reader *r, const lv_sample_spec *spec, lv_frames *out)
{
    const int64_t n = spec->max_frames;
    const AVCodecDescriptor *desc = avcodec_descriptor_get(r->src.st->codecpar->codec_id);
    r->spec = spec;
    r->out = out;
    out->n = n;
    r->intra_only = desc && (desc->props & AV_CODEC_PROP_INTRA_ONLY);
    r->origin = stream_origin(&r->src);
    r->frame_ticks = nominal_frame_ticks(r->src.st);
    r->can_seek = index_usable(&r->src);
    r->check_seek = 1;
    r->landing_pts = AV_NOPTS_VALUE;
    r->sws_cs = -1;
    r->pkt = av_packet_alloc();
    r->held = av_packet_alloc();
    r->frame = av_frame_alloc();
    r->cand = av_frame_alloc();
    if (!r->pkt || !r->held || !r->frame || !r->cand)
        return lv_set_error("%s: out of memory allocating packets and frames", r->src.path);
    r->target = lv_malloc((size_t)n * sizeof *r->target, "sample times");
    out->t = lv_calloc((size_t)n, sizeof *out->t, "sample times");
    out->src_t = lv_calloc((size_t)n, sizeof *out->src_t, "sample source times");
    out->src_index = lv_calloc((size_t)n, sizeof *out->src_index, "sample source indices");
    if (!r->target || !out->t || !out->src_t || !out->src_index)
        return -1;
    return make_targets(r);
}

static void reader_free(lv_reader *r)
{
    av_packet_free(&r->pkt);
    av_packet_free(&r->held);
    av_frame_free(&r->frame);
    av_frame_free(&r->cand);
    sws_freeContext(r->sws);
    free(r->scratch);
    free(r->target);
    free(r->pending);
    source_close(&r->src);
}

lv_sample_spec lv_sample_spec_default(int64_t max_frames)
{
    return (lv_sample_spec){ .fps = 1.0, .max_frames = max_frames, .mode = LV_SAMPLE_FIRST };
}

int lv_video_read(lv_frames *out, const char *path, const lv_sample_spec *spec)
{
    memset(out, 0, sizeof *out);
    if (check_spec(path, spec))
        return -1;
    lv_reader r;
    memset(&r, 0, sizeof r);
    int rc = source_open(&r.src, path, spec->max_side ? spec->max_side : LV_VIDEO_MAX_SIDE,
                         spec->decode_threads);
    if (rc == 0)
        rc = reader_init(&r, spec, out);
    if (rc == 0)
        rc = read_until_done(&r);
    if (rc == 0)
        rc = finish(&r);
    reader_free(&r);
    if (rc != 0)
        lv_frames_free(out);
    return rc;
}

void lv_frames_free(lv_frames *f)
{
    free(f->rgb);
    free(f->t);
    free(f->src_t);
    free(f->src_index);
    memset(f, 0, sizeof *f);
}

int lv_video_probe(const char *path, lv_video_info *info)
{
    memset(info, 0, sizeof *info);
    lv_source s;
    if (source_open(&s, path, LV_VIDEO_MAX_SIDE, -1))
        return -1;
    const AVCodecParameters *par = s.st->codecpar;
    const AVRational rate = s.st->avg_frame_rate.num > 0 ? s.st->avg_frame_rate
                                                         : s.st->r_frame_rate;
    const int turn = s.rotation == 90 || s.rotation == 270;
    info->duration = (double)duration_ticks(&s) * av_q2d(s.st->time_base);
    info->avg_fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
    info->width = turn ? par->height : par->width;
    info->height = turn ? par->width : par->height;
    info->rotation = s.rotation;
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(par->codec_id));
    info->n_frames_hint = s.st->nb_frames > 0 ? s.st->nb_frames
                                              : llround(info->duration * info->avg_fps);
    source_close(&s);
    return 0;
}

void lv_video_quiet(int quiet)
{
    av_log_set_level(quiet ? AV_LOG_QUIET : AV_LOG_INFO);
}
