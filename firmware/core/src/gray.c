/* The image.gray kernels; see include/mqc/gray.h. */
#include "mqc/gray.h"

const char *mqc_gray_parse(const uint8_t *payload, size_t len, mqc_gray_header_t *h)
{
    if (len < MQC_GRAY_HEADER_SIZE) {
        return "image.gray payload shorter than its 6-byte header";
    }
    h->depth = payload[0];
    h->method = payload[1];
    h->width = (uint16_t)((payload[2] << 8) | payload[3]);
    h->height = (uint16_t)((payload[4] << 8) | payload[5]);
    if (h->depth != 8 && h->depth != 16) {
        return "image.gray depth is not 8 or 16";
    }
    if (h->method != MQC_GRAY_LUMA && h->method != MQC_GRAY_AVERAGE) {
        return "image.gray method is not 0 (luma) or 1 (average)";
    }
    if (h->width == 0 || h->height == 0) {
        return "image.gray width and height must be at least 1";
    }
    size_t samples = (size_t)h->width * h->height * 3;
    if (len - MQC_GRAY_HEADER_SIZE != samples * (h->depth / 8)) {
        return "image.gray payload length does not match width x height x 3 samples";
    }
    return NULL;
}

size_t mqc_gray_output_size(const mqc_gray_header_t *h)
{
    return (size_t)h->width * h->height * (h->depth / 8);
}

/* luma8 equals Go's color.GrayModel for an opaque 8-bit color. The sum fits
 * in 32 bits: at most 65535 * 65535 + 32768. */
static uint8_t luma8(uint32_t r, uint32_t g, uint32_t b)
{
    return (uint8_t)((19595u * r * 257u + 38470u * g * 257u + 7471u * b * 257u + 32768u) >> 24);
}

/* luma16 equals Go's color.Gray16Model for an opaque 16-bit color. */
static uint16_t luma16(uint32_t r, uint32_t g, uint32_t b)
{
    return (uint16_t)(((uint64_t)19595u * r + (uint64_t)38470u * g + (uint64_t)7471u * b + 32768u) >> 16);
}

static void convert8(const mqc_gray_header_t *h, const uint8_t *in, uint8_t *out)
{
    size_t n = (size_t)h->width * h->height;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = in[3 * i], g = in[3 * i + 1], b = in[3 * i + 2];
        out[i] = h->method == MQC_GRAY_LUMA ? luma8(r, g, b) : (uint8_t)((r + g + b) / 3u);
    }
}

static void convert16(const mqc_gray_header_t *h, const uint8_t *in, uint8_t *out)
{
    size_t n = (size_t)h->width * h->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = in + 6 * i;
        uint32_t r = (uint32_t)(p[0] << 8 | p[1]);
        uint32_t g = (uint32_t)(p[2] << 8 | p[3]);
        uint32_t b = (uint32_t)(p[4] << 8 | p[5]);
        uint16_t y = h->method == MQC_GRAY_LUMA ? luma16(r, g, b) : (uint16_t)((r + g + b) / 3u);
        out[2 * i] = (uint8_t)(y >> 8);
        out[2 * i + 1] = (uint8_t)y;
    }
}

void mqc_gray_convert(const mqc_gray_header_t *h, const uint8_t *payload, uint8_t *out)
{
    const uint8_t *in = payload + MQC_GRAY_HEADER_SIZE;
    if (h->depth == 8) {
        convert8(h, in, out);
    } else {
        convert16(h, in, out);
    }
}
