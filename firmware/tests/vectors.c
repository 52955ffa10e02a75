#include "vectors.h"

#include <stdio.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int add_hex(vector_t *v, const char *hex)
{
    for (const char *p = hex; *p && *p != '\n';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        int hi = hex_value(p[0]), lo = p[1] ? hex_value(p[1]) : -1;
        if (hi < 0 || lo < 0 || v->len >= VEC_MAX_BYTES) {
            return -1;
        }
        v->bytes[v->len++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    return 0;
}

static void copy_value(char *dst, size_t cap, const char *src)
{
    size_t n = strcspn(src, "\n");
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int read_vectors(const char *path, vector_t *out, int max)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    static char line[4096];
    int count = 0, lineno = 0;
    vector_t *cur = NULL;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (strncmp(line, "vector ", 7) == 0) {
            if (count == max) {
                fprintf(stderr, "%s:%d: more than %d vectors\n", path, lineno, max);
                fclose(f);
                return -1;
            }
            cur = &out[count++];
            memset(cur, 0, sizeof(*cur));
            copy_value(cur->name, sizeof(cur->name), line + 7);
        } else if (!cur) {
            fprintf(stderr, "%s:%d: line outside a vector\n", path, lineno);
            fclose(f);
            return -1;
        } else if (strncmp(line, "hex ", 4) == 0) {
            if (add_hex(cur, line + 4) != 0) {
                fprintf(stderr, "%s:%d: bad hex\n", path, lineno);
                fclose(f);
                return -1;
            }
        } else if (strncmp(line, "expect ", 7) == 0 && cur->expect_count < VEC_MAX_EXPECT) {
            copy_value(cur->expect[cur->expect_count++], VEC_MAX_LINE, line + 7);
        } else if (strncmp(line, "error ", 6) == 0) {
            copy_value(cur->error, sizeof(cur->error), line + 6);
        } else if (strncmp(line, "end", 3) == 0) {
            cur = NULL;
        }
    }
    fclose(f);
    return count;
}
