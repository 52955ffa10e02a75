/*
 * The mqcluster node on FreeRTOS: the core's mqc_node_t, its static buffers,
 * the lock that serializes every call into it, and the poll loop.
 */
#ifndef MQC_ESP32_NODE_TASK_H
#define MQC_ESP32_NODE_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "mqc/gray.h"
#include "mqc/wire.h"
#include "sdkconfig.h"

/* Bytes of the receive buffer: a tasks message with one square RGB tile of
 * CONFIG_MQC_TILE_MAX_SIDE pixels at 8 bits per sample, with its image.gray
 * header, the message head and a task head with the longest kind. */
#define NODE_BUFFER_SIZE                                                                                             \
    (MQC_GRAY_HEADER_SIZE + CONFIG_MQC_TILE_MAX_SIDE * CONFIG_MQC_TILE_MAX_SIDE * 3 + MQC_TASKS_HEAD_SIZE +          \
     MQC_TASK_HEAD_SIZE(MQC_MAX_KIND_LEN))

/* Bytes of the largest message the node publishes: a result. A tile payload
 * of n bytes converts to (n - 6) / 3 bytes at either depth, and a payload is
 * smaller than the buffer, so NODE_BUFFER_SIZE / 3 bounds the output. */
#define NODE_PUBLISH_MAX (MQC_RESULT1_HEAD_SIZE + NODE_BUFFER_SIZE / 3)

/* Sets the node up. Returns ESP_ERR_INVALID_ARG, after logging why, when the
 * node id, cluster name or topic root is not valid. node_id must outlive the
 * node. */
esp_err_t node_task_init(const char *node_id);

/* Returns the MQTT client id, "<root>/v1/<cluster>/<node id>". */
const char *node_task_client_id(void);

/* Writes the will of a connection numbered session: its topic into topic and
 * its payload into will. Returns the payload length, 0 if will_cap is too small. */
size_t node_task_will(uint32_t session, char *topic, size_t topic_cap, uint8_t *will, size_t will_cap);

/* The MQTT event handler calls these on esp-mqtt's task. It calls
 * node_task_disconnected() on the publishing task when a publish fails to
 * write. */
void node_task_connected(uint32_t session);
void node_task_disconnected(void);
void node_task_data(const char *topic, size_t topic_len, const uint8_t *data, size_t len, size_t offset,
                    size_t total);

/* Polls the node every 10 ms and sends what it publishes. Never returns. */
void node_task_run(void);

/* Publishes a clean death. Registered with esp_register_shutdown_handler(). */
void node_task_leave(void);

#endif /* MQC_ESP32_NODE_TASK_H */
