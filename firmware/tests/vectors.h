/* Reading testdata/protocol/vectors.txt, the catalogue shared with the Go tests. */
#ifndef MQC_TEST_VECTORS_H
#define MQC_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#define VEC_MAX_BYTES 512
#define VEC_MAX_EXPECT 40
#define VEC_MAX_LINE 512

typedef struct {
    char name[64];
    uint8_t bytes[VEC_MAX_BYTES];
    size_t len;
    char expect[VEC_MAX_EXPECT][VEC_MAX_LINE];
    int expect_count;
    char error[32]; /* empty for a valid message */
} vector_t;

/* Reads every vector of path into out (at most max). Returns the count, or
 * -1 with a message on stderr. */
int read_vectors(const char *path, vector_t *out, int max);

#endif
