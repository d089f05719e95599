/* tac_video.c - the middle frame of a video clip (UCF-101 for `taclust bench ucf101`), decoded with FFmpeg's
 * libavformat/libavcodec/libswscale, and written as a lossless PNG frame cache.
 *
 *   uint8_t *rgb; int w, h;
 *   tac_video_middle_frame("v_Basketball_g01_c01.avi", &rgb, &w, &h);   // h x w x 3, free() it
 *   tac_video_middle_frame_png("clip.avi", "frames/clip.png");          // cached: skipped when up to date
 *
 * The middle frame is frame floor(F / 2) (0-based, presentation order) where F is the frame count the container
 * declares, or, when it declares none, the number of video packets. Decoding runs from the start of the clip
 * (no seeking), so the answer does not depend on where the key frames are.
 * FFmpeg is an optional build part: without TAC_HAVE_FFMPEG (the Makefile defines it when pkg-config finds the
 * libraries) every function fails with a message that says what to install.
 */
#include "app/tac_app.h"
#include "taclust/core.h"

#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#ifdef TAC_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

int tac_video_available(void) { return 1; }

static int av_err(const char *path, const char *what, int e)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(e, msg, sizeof msg);
    return tac_fail("%s: %s: %s", path, what, msg);
}

/* Converts a decoded frame to packed RGB24 (h x w x 3). */
static int frame_to_rgb(const char *path, const AVFrame *f, uint8_t **rgb, int *w, int *h)
{
    struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!sws) return tac_fail("%s: cannot convert pixel format %d to RGB", path, f->format);
    uint8_t *out = tac_xmalloc((size_t)f->width * f->height, 3);   /* H x W x 3 */
    uint8_t *dst[4] = {out, NULL, NULL, NULL};
    int stride[4] = {3 * f->width, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
    sws_freeContext(sws);
    *rgb = out; *w = f->width; *h = f->height;
    return TAC_OK;
}

/* Number of packets of stream si (the frame count when the container does not declare one). */
static int64_t count_packets(AVFormatContext *fc, int si, AVPacket *pkt)
{
    int64_t n = 0;
    while (av_read_frame(fc, pkt) >= 0) {
        if (pkt->stream_index == si) n++;
        av_packet_unref(pkt);
    }
    return n;
}

int tac_video_middle_frame(const char *path, uint8_t **rgb, int *w, int *h)
{
    *rgb = NULL; *w = *h = 0;
    AVFormatContext *fc = NULL;
    AVCodecContext *cc = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    if (!pkt || !fr) abort();
    int rc = TAC_ERR, e;
    int fd = tac_open_regular(path, NULL);   /* a FIFO or device is refused here: FFmpeg would wait on it */
    if (fd < 0) goto out;
    close(fd);
    if ((e = avformat_open_input(&fc, path, NULL, NULL)) < 0) { av_err(path, "cannot open video", e); goto out; }
    if ((e = avformat_find_stream_info(fc, NULL)) < 0) { av_err(path, "cannot read stream info", e); goto out; }
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !codec) { tac_fail("%s: no decodable video stream", path); goto out; }
    AVStream *st = fc->streams[si];
    int64_t nframes = st->nb_frames;
    if (nframes <= 0) {
        nframes = count_packets(fc, si, pkt);
        if ((e = av_seek_frame(fc, si, 0, AVSEEK_FLAG_BACKWARD)) < 0) {   /* reopen when the format cannot seek */
            avformat_close_input(&fc);
            if ((e = avformat_open_input(&fc, path, NULL, NULL)) < 0 || (e = avformat_find_stream_info(fc, NULL)) < 0) {
                av_err(path, "cannot reopen video", e); goto out;
            }
        }
    }
    if (nframes <= 0) { tac_fail("%s: the video has no frames", path); goto out; }
    int64_t want = nframes / 2, got = 0;
    cc = avcodec_alloc_context3(codec);
    if (!cc) abort();
    if ((e = avcodec_parameters_to_context(cc, fc->streams[si]->codecpar)) < 0) { av_err(path, "bad codec parameters", e); goto out; }
    cc->thread_count = 1;   /* clips are decoded in parallel by the caller */
    if ((e = avcodec_open2(cc, codec, NULL)) < 0) { av_err(path, "cannot open the decoder", e); goto out; }
    int eof = 0;
    for (;;) {
        if (!eof) {
            e = av_read_frame(fc, pkt);
            if (e < 0) { eof = 1; avcodec_send_packet(cc, NULL); }   /* flush the delayed frames */
            else if (pkt->stream_index != si) { av_packet_unref(pkt); continue; }
            else {
                e = avcodec_send_packet(cc, pkt);
                av_packet_unref(pkt);
                if (e < 0 && e != AVERROR(EAGAIN)) { av_err(path, "corrupt video data", e); goto out; }
            }
        }
        for (;;) {
            e = avcodec_receive_frame(cc, fr);
            if (e == AVERROR(EAGAIN) && !eof) break;
            if (e == AVERROR_EOF || e == AVERROR(EAGAIN)) {
                tac_fail("%s: the video decodes to %lld frames, expected %lld", path, (long long)got, (long long)nframes);
                goto out;
            }
            if (e < 0) { av_err(path, "cannot decode a frame", e); goto out; }
            if (got++ == want) { rc = frame_to_rgb(path, fr, rgb, w, h); goto out; }
            av_frame_unref(fr);
        }
    }
out:
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&cc);
    avformat_close_input(&fc);
    return rc;
}

#else /* !TAC_HAVE_FFMPEG */

int tac_video_available(void) { return 0; }

int tac_video_middle_frame(const char *path, uint8_t **rgb, int *w, int *h)
{
    *rgb = NULL; *w = *h = 0;
    return tac_fail("%s: taclust was built without FFmpeg, so it cannot decode videos: install libavformat-dev "
                    "libavcodec-dev libswscale-dev libavutil-dev and rebuild, or extract the middle frames into "
                    "train/ and val/ folders", path);
}
#endif

static int mtime_ns(const char *p, int64_t *t)
{
    struct stat st;
    if (stat(p, &st) != 0) return TAC_ERR;
    *t = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return TAC_OK;
}

int tac_video_middle_frame_png(const char *video, const char *png_path)
{
    int64_t tv, tp;
    if (mtime_ns(video, &tv) != TAC_OK) return tac_fail("%s: %s", video, strerror(errno));
    if (mtime_ns(png_path, &tp) == TAC_OK && tp >= tv) return TAC_OK;   /* up to date */
    uint8_t *rgb; int w, h;
    if (tac_video_middle_frame(video, &rgb, &w, &h) != TAC_OK) return TAC_ERR;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", png_path);
    char *slash = strrchr(dir, '/');
    if (slash) { *slash = 0; if (tac_mkdir_p(dir) != TAC_OK) { free(rgb); return TAC_ERR; } }
    tac_atomic a;
    if (tac_atomic_open(&a, png_path) != TAC_OK) { free(rgb); return TAC_ERR; }
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w; im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_stdio(&im, a.f, 0, rgb, 3 * w, NULL);
    free(rgb);
    if (!ok) { tac_atomic_abort(&a); return tac_fail("%s: cannot write PNG: %s", png_path, im.message); }
    return tac_atomic_commit(&a);
}
