/* Decodes and re-encodes every message of testdata/protocol/vectors.txt,
 * the catalogue the Go tests use, and checks the C decoder against it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "mqc/wire.h"
#include "vectors.h"

#define MAX_VECTORS 64

static vector_t vectors[MAX_VECTORS];
static int vector_count;

/* fields collects the decoded value as KEY=VALUE lines, as the Go test's
 * fields function writes them. */
typedef struct {
    char lines[VEC_MAX_EXPECT][VEC_MAX_LINE];
    int count;
} fields_t;

static void add(fields_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void add(fields_t *f, const char *fmt, ...)
{
    if (f->count == VEC_MAX_EXPECT) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->lines[f->count++], VEC_MAX_LINE, fmt, ap);
    va_end(ap);
}

static void hex(char *out, size_t cap, const uint8_t *b, size_t n)
{
    size_t i = 0;
    for (; i < n && 2 * i + 2 < cap; i++) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
    out[2 * i] = '\0';
}

static void birth_fields(fields_t *f, const mqc_birth_t *b)
{
    char kinds[VEC_MAX_LINE] = "";
    for (int i = 0; i < b->kind_count; i++) {
        size_t pos = strlen(kinds);
        snprintf(kinds + pos, sizeof(kinds) - pos, "%s%.*s", i ? "," : "", b->kinds[i].len, b->kinds[i].ptr);
    }
    add(f, "type=birth");
    add(f, "session=%" PRIu32, b->session);
    add(f, "slots=%u", b->slots);
    add(f, "batch=%u", b->batch);
    add(f, "prefetch=%u", b->prefetch);
    add(f, "max_payload=%" PRIu32, b->max_payload);
    add(f, "heartbeat_ms=%" PRIu32, b->heartbeat_ms);
    add(f, "draining=%s", b->draining ? "true" : "false");
    add(f, "node_id=%.*s", b->node_id.len, b->node_id.ptr);
    add(f, "software=%.*s", b->software.len, b->software.ptr);
    add(f, "kinds=%s", kinds);
}

static size_t reencode_birth(const mqc_birth_t *b, uint8_t *out, size_t cap)
{
    return mqc_encode_birth(out, cap, b);
}

/* decode_and_describe decodes v, fills f, and re-encodes into out.
 * Returns the decoding error. */
static mqc_err_t decode_and_describe(const vector_t *v, fields_t *f, uint8_t *out, size_t cap, size_t *out_len)
{
    mqc_type_t type;
    mqc_err_t err = mqc_decode_header(v->bytes, v->len, &type);
    if (err != MQC_OK) {
        return err;
    }
    char buf[VEC_MAX_LINE];
    switch (type) {
    case MQC_TYPE_BIRTH: {
        mqc_birth_t b;
        if ((err = mqc_decode_birth(v->bytes, v->len, &b)) == MQC_OK) {
            birth_fields(f, &b);
            *out_len = reencode_birth(&b, out, cap);
        }
        return err;
    }
    case MQC_TYPE_DEATH: {
        mqc_death_t d;
        if ((err = mqc_decode_death(v->bytes, v->len, &d)) == MQC_OK) {
            add(f, "type=death");
            add(f, "session=%" PRIu32, d.session);
            add(f, "reason=%u", d.reason);
            *out_len = mqc_encode_death(out, cap, &d);
        }
        return err;
    }
    case MQC_TYPE_HEARTBEAT: {
        uint32_t session;
        mqc_iter_t it;
        if ((err = mqc_decode_heartbeat(v->bytes, v->len, &session, &it)) == MQC_OK) {
            mqc_task_ref_t refs[16];
            uint16_t n = 0;
            add(f, "type=heartbeat");
            add(f, "session=%" PRIu32, session);
            add(f, "running=%u", it.left);
            while (n < 16 && mqc_next_task_ref(&it, &refs[n])) {
                add(f, "running.%u=%" PRIu64 "/%u", n, refs[n].id, refs[n].attempt);
                n++;
            }
            *out_len = mqc_encode_heartbeat(out, cap, session, refs, n);
        }
        return err;
    }
    case MQC_TYPE_TASKS: {
        uint32_t epoch;
        mqc_iter_t it;
        if ((err = mqc_decode_tasks(v->bytes, v->len, &epoch, &it)) == MQC_OK) {
            mqc_task_t tasks[8];
            uint16_t n = 0;
            add(f, "type=tasks");
            add(f, "epoch=%" PRIu32, epoch);
            add(f, "tasks=%u", it.left);
            while (n < 8 && mqc_next_task(&it, &tasks[n])) {
                mqc_task_t *t = &tasks[n];
                add(f, "task.%u.id=%" PRIu64, n, t->id);
                add(f, "task.%u.attempt=%u", n, t->attempt);
                add(f, "task.%u.deadline_ms=%" PRIu32, n, t->deadline_ms);
                add(f, "task.%u.kind=%.*s", n, t->kind.len, t->kind.ptr);
                hex(buf, sizeof(buf), t->payload, t->payload_len);
                add(f, "task.%u.payload=%s", n, buf);
                n++;
            }
            *out_len = mqc_encode_tasks(out, cap, epoch, tasks, n);
        }
        return err;
    }
    case MQC_TYPE_RESULTS: {
        uint32_t session;
        mqc_iter_t it;
        if ((err = mqc_decode_results(v->bytes, v->len, &session, &it)) == MQC_OK) {
            mqc_result_t results[8];
            uint16_t n = 0;
            add(f, "type=results");
            add(f, "session=%" PRIu32, session);
            add(f, "results=%u", it.left);
            while (n < 8 && mqc_next_result(&it, &results[n])) {
                mqc_result_t *r = &results[n];
                add(f, "result.%u.id=%" PRIu64, n, r->id);
                add(f, "result.%u.attempt=%u", n, r->attempt);
                add(f, "result.%u.status=%u", n, r->status);
                hex(buf, sizeof(buf), r->data, r->data_len);
                add(f, "result.%u.data=%s", n, buf);
                n++;
            }
            *out_len = mqc_encode_results(out, cap, session, results, n);
        }
        return err;
    }
    case MQC_TYPE_ABORT: {
        uint32_t epoch;
        mqc_iter_t it;
        if ((err = mqc_decode_abort(v->bytes, v->len, &epoch, &it)) == MQC_OK) {
            mqc_task_ref_t refs[16];
            uint16_t n = 0;
            add(f, "type=abort");
            add(f, "epoch=%" PRIu32, epoch);
            add(f, "tasks=%u", it.left);
            while (n < 16 && mqc_next_task_ref(&it, &refs[n])) {
                add(f, "task.%u=%" PRIu64 "/%u", n, refs[n].id, refs[n].attempt);
                n++;
            }
            *out_len = mqc_encode_abort(out, cap, epoch, refs, n);
        }
        return err;
    }
    case MQC_TYPE_COORDINATOR_ONLINE:
    case MQC_TYPE_COORDINATOR_OFFLINE: {
        uint32_t epoch;
        mqc_str_t software;
        if ((err = mqc_decode_coordinator(v->bytes, v->len, &epoch, &software)) == MQC_OK) {
            bool online = type == MQC_TYPE_COORDINATOR_ONLINE;
            add(f, online ? "type=coordinator-online" : "type=coordinator-offline");
            add(f, "epoch=%" PRIu32, epoch);
            if (online) {
                add(f, "software=%.*s", software.len, software.ptr);
                *out_len = mqc_encode_coordinator_online(out, cap, epoch, software);
            } else {
                *out_len = mqc_encode_coordinator_offline(out, cap, epoch);
            }
        }
        return err;
    }
    }
    return MQC_ERR_UNKNOWN_TYPE;
}

static const vector_t *current;

static void check_vector(void)
{
    const vector_t *v = current;
    fields_t f = {0};
    uint8_t out[VEC_MAX_BYTES];
    size_t out_len = 0;
    mqc_err_t err = decode_and_describe(v, &f, out, sizeof(out), &out_len);
    if (v->error[0]) {
        CHECK(strcmp(mqc_err_name(err), v->error) == 0, "decode error %s, want %s", mqc_err_name(err), v->error);
        return;
    }
    CHECK(err == MQC_OK, "decode error %s", mqc_err_name(err));
    if (err != MQC_OK) {
        return;
    }
    CHECK(f.count == v->expect_count, "%d fields, want %d", f.count, v->expect_count);
    for (int i = 0; i < f.count && i < v->expect_count; i++) {
        CHECK(strcmp(f.lines[i], v->expect[i]) == 0, "field %d: got %s, want %s", i, f.lines[i], v->expect[i]);
    }
    CHECK(out_len == v->len && memcmp(out, v->bytes, v->len) == 0, "re-encoded %zu bytes differ from the %zu of the vector",
          out_len, v->len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s testdata/protocol/vectors.txt\n", argv[0]);
        return 2;
    }
    vector_count = read_vectors(argv[1], vectors, MAX_VECTORS);
    if (vector_count <= 0) {
        fprintf(stderr, "no vectors read from %s\n", argv[1]);
        return 2;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < vector_count; i++) {
        current = &vectors[i];
        run_test(vectors[i].name, check_vector, &passed, &failed);
    }
    printf("wire: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
