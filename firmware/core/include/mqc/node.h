/*
 * A cluster node in portable C11: the protocol side of a board or of the
 * POSIX test node. It runs one image.gray task at a time from one buffer
 * that the platform provides, with no heap.
 *
 * The platform owns the MQTT client. It calls, from one thread at a time
 * (calls into one mqc_node_t must not overlap):
 *   mqc_node_will()        before each connect, to set the will;
 *   mqc_node_on_connect()  once connected, with the session it connected with;
 *   mqc_node_on_data()     for every chunk of every message received;
 *   mqc_node_on_disconnect() when the connection drops;
 *   mqc_node_poll()        often (every 10 ms or so): it runs a received task
 *                          and sends results and heartbeats.
 */
#ifndef MQC_NODE_H
#define MQC_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqc/wire.h"

/* The platform seam: a small transport interface. */
typedef struct {
    void *ctx;
    /* Publishes len bytes of data. Returns 0 on success. The platform must
     * copy data before it returns, or send it before then. */
    int (*publish)(void *ctx, const char *topic, const uint8_t *data, size_t len, int qos, bool retain);
    /* Subscribes to one topic. Returns 0 on success. */
    int (*subscribe)(void *ctx, const char *topic, int qos);
    /* Returns a monotonic clock in milliseconds; it may wrap. */
    uint32_t (*now_ms)(void *ctx);
    /* Logs one line; may be NULL. level: 0 error, 1 warning, 2 info. */
    void (*log)(void *ctx, int level, const char *msg);
} mqc_platform_t;

typedef struct {
    const char *node_id;    /* 1 to 64 of A-Z a-z 0-9 . _ : - */
    const char *topic_root; /* NULL for "mqc" */
    const char *cluster;    /* NULL for "default" */
    const char *software;   /* announced in the birth */
    uint32_t heartbeat_ms;  /* 0 for 2000 */
} mqc_node_config_t;

/* Maximum length of a topic the node builds: root, version, cluster,
 * node id, channel. */
#define MQC_TOPIC_MAX 192
/* Bytes of every message kept apart from the main buffer: enough to read
 * the first task of a tasks message that does not fit, and any presence. */
#define MQC_HEAD_MAX 64
/* Completed tasks remembered, to drop a QoS 1 redelivery of one. */
#define MQC_RECENT_MAX 8

typedef enum {
    MQC_RX_NONE,        /* no message in progress */
    MQC_RX_TASKS,       /* a tasks message going into the buffer */
    MQC_RX_TASKS_HEAD,  /* a tasks message that does not fit: only its head is kept */
    MQC_RX_PRESENCE,    /* the node's own presence */
    MQC_RX_COORDINATOR, /* the coordinator's presence */
    MQC_RX_IGNORED,     /* anything else */
} mqc_rx_kind_t;

typedef struct {
    uint64_t tasks_done;
    uint64_t tasks_failed;
    uint64_t duplicates_dropped;
    uint64_t malformed_dropped;
    uint64_t oversized;
} mqc_node_stats_t;

typedef struct {
    mqc_node_config_t cfg;
    mqc_platform_t platform;
    uint8_t *buf; /* receive buffer, where tasks are converted in place */
    size_t cap;

    char prefix[MQC_TOPIC_MAX];    /* "<root>/v1/<cluster>" */
    char client_id[MQC_TOPIC_MAX]; /* "<prefix>/<node id>" */
    char topic[MQC_TOPIC_MAX];  /* scratch for building topics */
    size_t id_len;

    uint32_t session;
    bool connected;
    uint32_t coordinator_epoch;
    uint32_t last_heartbeat;

    /* The message being received. */
    mqc_rx_kind_t rx;
    size_t rx_total;
    size_t rx_got;
    uint8_t head[MQC_HEAD_MAX];
    size_t head_len;

    /* The task held: received, with no result sent yet. */
    bool holding;
    bool task_ready;   /* decoded and waiting for mqc_node_poll */
    bool result_ready; /* converted, the result not yet published */
    mqc_task_t task;
    uint8_t *result_msg; /* inside buf */
    size_t result_len;

    /* One reply that on_data could not send itself; poll sends it. */
    bool reply_pending;
    mqc_task_ref_t reply_ref;
    mqc_status_t reply_status;
    const char *reply_reason;

    mqc_task_ref_t recent[MQC_RECENT_MAX];
    unsigned recent_next;

    bool announce_pending; /* a birth to publish again at the next poll */
    uint32_t last_repair;  /* when presence of another session last made the node announce */
    mqc_node_stats_t stats;
} mqc_node_t;

/* Returns the largest task payload a buffer of cap bytes can take. */
uint32_t mqc_node_max_payload(size_t cap);

/*
 * Sets n up. buf is the receive buffer: a tasks message with one task of
 * max_payload bytes needs MQC_TASKS_HEAD_SIZE + MQC_TASK_HEAD_SIZE(32) more.
 * Returns false if the config is invalid (a bad node id or topic part).
 */
bool mqc_node_init(mqc_node_t *n, const mqc_node_config_t *cfg, const mqc_platform_t *platform, uint8_t *buf,
                   size_t cap);

/* Returns the MQTT client id to connect with: "<root>/v1/<cluster>/<node
 * id>", so that nodes of one id in two clusters do not take over each
 * other's connection on a shared broker. */
const char *mqc_node_client_id(const mqc_node_t *n);

/* Writes the will of a connection numbered session into out and returns its
 * length; *topic is set to the node's presence topic (valid until the next
 * call into n). The will is published retained at QoS 1. */
size_t mqc_node_will(mqc_node_t *n, uint32_t session, const char **topic, uint8_t *out, size_t cap);

/* Subscribes and publishes the birth for a new connection. */
void mqc_node_on_connect(mqc_node_t *n, uint32_t session);

void mqc_node_on_disconnect(mqc_node_t *n);

/*
 * Feeds one chunk of a received message: len bytes at offset of a message of
 * total bytes. topic is given with the first chunk (offset 0) and may be
 * NULL with later ones; it need not be NUL-terminated. A message may arrive
 * whole (offset 0, len == total) or in several chunks in order, as esp-mqtt
 * delivers a large message.
 */
void mqc_node_on_data(mqc_node_t *n, const char *topic, size_t topic_len, const uint8_t *data, size_t len,
                      size_t offset, size_t total);

/* Runs a ready task and sends pending results, births and heartbeats. */
void mqc_node_poll(mqc_node_t *n);

/* Publishes a clean death before the platform disconnects. */
void mqc_node_leave(mqc_node_t *n);

#endif /* MQC_NODE_H */
