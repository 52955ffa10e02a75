/*
 * The image.gray task kind (docs/protocol.md): a 6-byte header, then RGB
 * samples; the output is one gray sample per pixel. Results are identical,
 * bit for bit, to the Go worker's.
 */
#ifndef MQC_GRAY_H
#define MQC_GRAY_H

#include <stddef.h>
#include <stdint.h>

#define MQC_GRAY_KIND "image.gray"
#define MQC_GRAY_HEADER_SIZE 6

typedef enum {
    MQC_GRAY_LUMA = 0,    /* ITU-R BT.601, as Go's color.GrayModel */
    MQC_GRAY_AVERAGE = 1, /* (R+G+B)/3, rounded down */
} mqc_gray_method_t;

typedef struct {
    uint8_t depth;  /* 8 or 16 */
    uint8_t method; /* mqc_gray_method_t */
    uint16_t width;
    uint16_t height;
} mqc_gray_header_t;

/*
 * Checks a payload and fills *h. Returns NULL on success, or a static
 * message naming the invalid field.
 */
const char *mqc_gray_parse(const uint8_t *payload, size_t len, mqc_gray_header_t *h);

/* Returns the output size in bytes of a valid tile. */
size_t mqc_gray_output_size(const mqc_gray_header_t *h);

/*
 * Converts the samples that follow the header of payload and writes the
 * gray samples to out. out may be the payload's own sample area (out ==
 * payload + MQC_GRAY_HEADER_SIZE): each output sample is written after its
 * input was read, so the tile converts in place with no second buffer.
 */
void mqc_gray_convert(const mqc_gray_header_t *h, const uint8_t *payload, uint8_t *out);

#endif /* MQC_GRAY_H */
