/*
 * libFuzzer target: every decoder of the core on arbitrary bytes, and the
 * node's message assembly on the same bytes split into chunks as esp-mqtt
 * splits a large message. Nothing may crash, read out of bounds or
 * overflow the node's buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqc/gray.h"
#include "mqc/node.h"
#include "mqc/wire.h"

static void decode_all(const uint8_t *data, size_t size)
{
    mqc_birth_t birth;
    mqc_death_t death;
    mqc_iter_t it;
    uint32_t u32;
    mqc_str_t str;
    mqc_task_t task;
    mqc_result_t result;
    mqc_task_ref_t ref;
    (void)mqc_decode_birth(data, size, &birth);
    (void)mqc_decode_death(data, size, &death);
    (void)mqc_decode_coordinator(data, size, &u32, &str);
    if (mqc_decode_heartbeat(data, size, &u32, &it) == MQC_OK) {
        while (mqc_next_task_ref(&it, &ref)) {
        }
    }
    if (mqc_decode_tasks(data, size, &u32, &it) == MQC_OK) {
        while (mqc_next_task(&it, &task)) {
            mqc_gray_header_t h;
            static uint8_t out[1 << 16];
            if (!mqc_gray_parse(task.payload, task.payload_len, &h) && mqc_gray_output_size(&h) <= sizeof(out)) {
                mqc_gray_convert(&h, task.payload, out);
            }
        }
    }
    if (mqc_decode_results(data, size, &u32, &it) == MQC_OK) {
        while (mqc_next_result(&it, &result)) {
        }
    }
    (void)mqc_peek_first_task(data, size < MQC_HEAD_MAX ? size : MQC_HEAD_MAX, size, &task);
}

static int sink_publish(void *ctx, const char *topic, const uint8_t *data, size_t len, int qos, bool retain)
{
    (void)ctx, (void)topic, (void)data, (void)len, (void)qos, (void)retain;
    return 0;
}

static int sink_subscribe(void *ctx, const char *topic, int qos)
{
    (void)ctx, (void)topic, (void)qos;
    return 0;
}

static uint32_t zero_clock(void *ctx)
{
    (void)ctx;
    return 0;
}

/* feed_node delivers data as a tasks message in chunks whose sizes come
 * from the first byte, to a node with a small buffer. */
static void feed_node(const uint8_t *data, size_t size)
{
    static uint8_t buf[300];
    static mqc_node_t node;
    mqc_platform_t p = {NULL, sink_publish, sink_subscribe, zero_clock, NULL};
    mqc_node_config_t cfg = {.node_id = "fuzz"};
    if (size == 0 || !mqc_node_init(&node, &cfg, &p, buf, sizeof(buf))) {
        return;
    }
    mqc_node_on_connect(&node, 1);
    size_t chunk = (size_t)data[0] % 64 + 1;
    const char *topic = "mqc/v1/default/nodes/fuzz/tasks";
    for (size_t off = 1; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        mqc_node_on_data(&node, off == 1 ? topic : NULL, strlen(topic), data + off, n, off - 1, size - 1);
        mqc_node_poll(&node);
    }
    mqc_node_poll(&node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_all(data, size);
    feed_node(data, size);
    return 0;
}
