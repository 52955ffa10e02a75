/* Runs the C image.gray kernel on testdata/protocol/image_gray.txt, whose
 * outputs come from the Go kernel, so both give the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mqc/gray.h"

#define MAX_BYTES 4096

typedef struct {
    char name[64];
    uint8_t payload[MAX_BYTES];
    size_t payload_len;
    uint8_t output[MAX_BYTES];
    size_t output_len;
} gray_vector_t;

static gray_vector_t vectors[16];
static int vector_count;
static const gray_vector_t *current;

static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (s[0] && s[1] && s[0] != '\n' && n < cap) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) {
            break;
        }
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static int read_gray_vectors(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    static char line[16384];
    gray_vector_t *cur = NULL;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "vector ", 7) == 0 && vector_count < 16) {
            cur = &vectors[vector_count++];
            snprintf(cur->name, sizeof(cur->name), "%.*s", (int)strcspn(line + 7, "\n"), line + 7);
        } else if (cur && strncmp(line, "payload ", 8) == 0) {
            cur->payload_len = parse_hex(line + 8, cur->payload, MAX_BYTES);
        } else if (cur && strncmp(line, "output ", 7) == 0) {
            cur->output_len = parse_hex(line + 7, cur->output, MAX_BYTES);
        }
    }
    fclose(f);
    return vector_count;
}

static void check_vector(void)
{
    const gray_vector_t *v = current;
    mqc_gray_header_t h;
    const char *bad = mqc_gray_parse(v->payload, v->payload_len, &h);
    CHECK(bad == NULL, "parse: %s", bad ? bad : "");
    if (bad) {
        return;
    }
    CHECK(mqc_gray_output_size(&h) == v->output_len, "output size %zu, want %zu", mqc_gray_output_size(&h),
          v->output_len);

    uint8_t out[MAX_BYTES];
    mqc_gray_convert(&h, v->payload, out);
    CHECK(memcmp(out, v->output, v->output_len) == 0, "output differs from the Go kernel's");

    /* In place, as the node converts: the output overwrites the samples. */
    uint8_t copy[MAX_BYTES];
    memcpy(copy, v->payload, v->payload_len);
    mqc_gray_convert(&h, copy, copy + MQC_GRAY_HEADER_SIZE);
    CHECK(memcmp(copy + MQC_GRAY_HEADER_SIZE, v->output, v->output_len) == 0, "in-place output differs");
}

static void test_invalid_payloads(void)
{
    struct {
        const char *name;
        uint8_t bytes[12];
        size_t len;
    } cases[] = {
        {"short header", {8, 0, 0, 1}, 4},
        {"depth 9", {9, 0, 0, 1, 0, 1, 1, 2, 3}, 9},
        {"method 2", {8, 2, 0, 1, 0, 1, 1, 2, 3}, 9},
        {"zero width", {8, 0, 0, 0, 0, 1}, 6},
        {"one sample missing", {8, 0, 0, 1, 0, 1, 1, 2}, 8},
        {"one sample too many", {8, 0, 0, 1, 0, 1, 1, 2, 3, 4}, 10},
        {"16-bit with 8-bit samples", {16, 0, 0, 1, 0, 1, 1, 2, 3}, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mqc_gray_header_t h;
        CHECK(mqc_gray_parse(cases[i].bytes, cases[i].len, &h) != NULL, "%s: accepted", cases[i].name);
    }
}

/* Every 8-bit color through luma, against the Go formula written out. */
static void test_luma8_every_color(void)
{
    uint8_t payload[MQC_GRAY_HEADER_SIZE + 3] = {8, 0, 0, 1, 0, 1};
    mqc_gray_header_t h;
    int wrong = 0;
    for (uint32_t c = 0; c < (1u << 24); c++) {
        payload[6] = (uint8_t)(c >> 16);
        payload[7] = (uint8_t)(c >> 8);
        payload[8] = (uint8_t)c;
        mqc_gray_parse(payload, sizeof(payload), &h);
        uint8_t y;
        mqc_gray_convert(&h, payload, &y);
        uint64_t r = payload[6] * 0x101u, g = payload[7] * 0x101u, b = payload[8] * 0x101u;
        uint8_t want = (uint8_t)((19595 * r + 38470 * g + 7471 * b + (1 << 15)) >> 24);
        wrong += y != want;
    }
    CHECK(wrong == 0, "%d colors differ from (19595R + 38470G + 7471B + 2^15) >> 24 on 16-bit samples", wrong);
}

int main(int argc, char **argv)
{
    if (argc != 2 || read_gray_vectors(argv[1]) <= 0) {
        fprintf(stderr, "usage: %s testdata/protocol/image_gray.txt\n", argv[0]);
        return 2;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < vector_count; i++) {
        current = &vectors[i];
        run_test(vectors[i].name, check_vector, &passed, &failed);
    }
    run_test("invalid payloads", test_invalid_payloads, &passed, &failed);
    run_test("luma8 every color", test_luma8_every_color, &passed, &failed);
    printf("gray: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
