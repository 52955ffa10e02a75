/*
 * The node's platform side. Two tasks call into the mqc_node_t: esp-mqtt's
 * task delivers connects, disconnects and data (through node_mqtt.c), and the
 * main task polls. Both hold s_lock for every call, as the core requires.
 *
 * The core's publishes do not reach esp-mqtt while s_lock is held. esp-mqtt
 * calls its event handler while holding its internal API lock, and
 * esp_mqtt_client_publish() takes that same lock (mqtt_client.c in ESP-IDF
 * v5.0 to v5.5). If the poll loop published while holding s_lock, a message
 * arriving at that moment would stop both tasks for good: the MQTT task would
 * wait for s_lock in the data handler, and the poll loop for the API lock.
 * So the core's publish callback copies each message into a slot, and the
 * poll loop hands the slots to esp-mqtt after it has released s_lock.
 */
#include "node_task.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "mqc/node.h"
#include "node_mqtt.h"
#include "sdkconfig.h"

static const char *TAG = "mqc_node";

#define SOFTWARE "mqcluster-" CONFIG_IDF_TARGET "/0.1.0"

#define POLL_MS 10
/* Slots for births, heartbeats, deaths and failure replies, which are at most
 * 164 bytes with this core. A larger message takes the result slot. */
#define SMALL_SLOTS 4
#define SMALL_SLOT_SIZE 192
#define SLOT_COUNT (SMALL_SLOTS + 1)

/* A core warning or error repeated within this time is counted, not printed. */
#define LOG_REPEAT_MS 1000

typedef enum {
    SLOT_FREE,
    SLOT_QUEUED,  /* waiting for the poll loop */
    SLOT_SENDING, /* in esp_mqtt_client_publish(); only the task sending it touches it */
} slot_state_t;

/* A message the core published, waiting to go to esp-mqtt. */
typedef struct {
    slot_state_t state;
    uint32_t order;   /* the poll loop sends the lowest first */
    uint32_t session; /* connection the core published it on */
    unsigned failures;
    int qos;
    bool retain;
    size_t len;
    size_t cap;
    uint8_t *data;
    char topic[MQC_TOPIC_MAX];
} slot_t;

static uint8_t s_buffer[NODE_BUFFER_SIZE];
static uint8_t s_small_storage[SMALL_SLOTS][SMALL_SLOT_SIZE];
static uint8_t s_result_storage[NODE_PUBLISH_MAX];

static SemaphoreHandle_t s_lock;
static StaticSemaphore_t s_lock_storage;

/* Guarded by s_lock. */
static mqc_node_t s_node;
static slot_t s_slots[SLOT_COUNT];
static uint32_t s_next_order;
static bool s_connected;
static uint32_t s_session;
static const char *s_last_log;
static uint32_t s_last_log_ms;
static unsigned s_log_repeats;

/* Reports whether a slot still goes out after its connection is lost. A
 * result or failure reply (QoS 1, not retained) does, on the next connection,
 * as the protocol requires of unacknowledged results. A birth or death
 * (retained) and a heartbeat (QoS 0) describe the lost connection and do not. */
static bool outlives_connection(const slot_t *slot)
{
    return slot->qos > 0 && !slot->retain;
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    return (uint32_t)(esp_timer_get_time() / 1000);
}

/* ---- the platform seam of the core; every call comes with s_lock held ---- */

/* Copies a message into a free slot that fits it. Returns -1 when none is
 * free; the core then publishes births, replies and results again at its next
 * poll, and drops the heartbeat. */
static int publish_to_slot(void *ctx, const char *topic, const uint8_t *data, size_t len, int qos, bool retain)
{
    (void)ctx;
    size_t topic_len = strlen(topic);
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        slot_t *slot = &s_slots[i];
        if (slot->state != SLOT_FREE || len > slot->cap || topic_len >= sizeof(slot->topic)) {
            continue;
        }
        memcpy(slot->topic, topic, topic_len + 1);
        memcpy(slot->data, data, len);
        slot->len = len;
        slot->qos = qos;
        slot->retain = retain;
        slot->session = s_session;
        slot->order = s_next_order++;
        slot->failures = 0;
        slot->state = SLOT_QUEUED;
        return 0;
    }
    return -1;
}

/* The core subscribes only in mqc_node_on_connect(), which node_mqtt.c calls
 * from the connected event on the MQTT task. That task already holds
 * esp-mqtt's API lock, a recursive mutex, so the subscribe call does not wait
 * for it. */
static int subscribe_now(void *ctx, const char *topic, int qos)
{
    (void)ctx;
    return node_mqtt_subscribe(topic, qos) >= 0 ? 0 : -1;
}

static void log_core_line(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level >= 2) {
        ESP_LOGI(TAG, "%s", msg);
        return;
    }

    /* A warning can repeat every poll, such as the one for a result that
     * waits for a free slot. The core's messages are string literals, so
     * equal pointers mean the same message. */
    uint32_t now = now_ms(NULL);
    if (msg == s_last_log && now - s_last_log_ms < LOG_REPEAT_MS) {
        s_log_repeats++;
        return;
    }
    if (s_log_repeats > 0) {
        ESP_LOGW(TAG, "\"%s\" repeated %u more times", s_last_log, s_log_repeats);
        s_log_repeats = 0;
    }
    s_last_log = msg;
    s_last_log_ms = now;
    if (level <= 0) {
        ESP_LOGE(TAG, "%s", msg);
    } else {
        ESP_LOGW(TAG, "%s", msg);
    }
}

/* ---- calls from app_main and the MQTT event handler ---- */

esp_err_t node_task_init(const char *node_id)
{
    s_lock = xSemaphoreCreateMutexStatic(&s_lock_storage);
    for (size_t i = 0; i < SMALL_SLOTS; i++) {
        s_slots[i].data = s_small_storage[i];
        s_slots[i].cap = sizeof(s_small_storage[i]);
    }
    s_slots[SMALL_SLOTS].data = s_result_storage;
    s_slots[SMALL_SLOTS].cap = sizeof(s_result_storage);

    const mqc_platform_t platform = {
        .ctx = NULL,
        .publish = publish_to_slot,
        .subscribe = subscribe_now,
        .now_ms = now_ms,
        .log = log_core_line,
    };
    const mqc_node_config_t config = {
        .node_id = node_id,
        .topic_root = CONFIG_MQC_TOPIC_ROOT,
        .cluster = CONFIG_MQC_CLUSTER,
        .software = SOFTWARE,
        .heartbeat_ms = CONFIG_MQC_HEARTBEAT_MS,
    };
    if (!mqc_node_init(&s_node, &config, &platform, s_buffer, sizeof(s_buffer))) {
        ESP_LOGE(TAG,
                 "invalid node id \"%s\", cluster \"%s\" or topic root \"%s\": set them under \"mqcluster node\" in "
                 "idf.py menuconfig (an id is 1 to 64 of A-Z a-z 0-9 . _ : -; names are letters, digits and . _ -)",
                 node_id, CONFIG_MQC_CLUSTER, CONFIG_MQC_TOPIC_ROOT);
        return ESP_ERR_INVALID_ARG;
    }
    ESP_LOGI(TAG, "node %s, cluster %s: buffer %u bytes, largest task payload %" PRIu32 " bytes, heartbeat %d ms",
             node_id, CONFIG_MQC_CLUSTER, (unsigned)sizeof(s_buffer), mqc_node_max_payload(sizeof(s_buffer)),
             CONFIG_MQC_HEARTBEAT_MS);
    return ESP_OK;
}

const char *node_task_client_id(void)
{
    /* Set by mqc_node_init() and never changed after, so no lock is needed. */
    return mqc_node_client_id(&s_node);
}

size_t node_task_will(uint32_t session, char *topic, size_t topic_cap, uint8_t *will, size_t will_cap)
{
    const char *will_topic;
    xSemaphoreTake(s_lock, portMAX_DELAY);
    size_t len = mqc_node_will(&s_node, session, &will_topic, will, will_cap);
    size_t topic_len = strlen(will_topic);
    if (topic_len >= topic_cap) {
        len = 0;
    } else {
        memcpy(topic, will_topic, topic_len + 1);
    }
    xSemaphoreGive(s_lock);
    return len;
}

void node_task_connected(uint32_t session)
{
    xSemaphoreTake(s_lock, portMAX_DELAY);
    s_session = session;
    s_connected = true;
    mqc_node_on_connect(&s_node, session);
    xSemaphoreGive(s_lock);
}

void node_task_disconnected(void)
{
    unsigned dropped = 0;
    xSemaphoreTake(s_lock, portMAX_DELAY);
    s_connected = false;
    mqc_node_on_disconnect(&s_node);
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        if (s_slots[i].state == SLOT_QUEUED && !outlives_connection(&s_slots[i])) {
            s_slots[i].state = SLOT_FREE;
            dropped++;
        }
    }
    xSemaphoreGive(s_lock);
    if (dropped > 0) {
        ESP_LOGI(TAG, "dropped %u unsent births or heartbeats of the lost connection", dropped);
    }
}

void node_task_data(const char *topic, size_t topic_len, const uint8_t *data, size_t len, size_t offset,
                    size_t total)
{
    xSemaphoreTake(s_lock, portMAX_DELAY);
    mqc_node_on_data(&s_node, topic, topic_len, data, len, offset, total);
    xSemaphoreGive(s_lock);
}

/* ---- the poll loop ---- */

/* Returns the oldest queued slot that may go out on the current connection,
 * or NULL. With qos0_only, it skips QoS 1 messages. */
static slot_t *oldest_queued_slot(bool qos0_only)
{
    slot_t *oldest = NULL;
    if (!s_connected) {
        return NULL;
    }
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        slot_t *slot = &s_slots[i];
        bool current = slot->session == s_session || outlives_connection(slot);
        if (slot->state != SLOT_QUEUED || !current || (qos0_only && slot->qos > 0)) {
            continue;
        }
        if (oldest == NULL || (int32_t)(slot->order - oldest->order) < 0) {
            oldest = slot;
        }
    }
    return oldest;
}

/*
 * Hands the queued slots to esp-mqtt, oldest first, with s_lock released
 * while esp-mqtt works. A slot is free again as soon as
 * esp_mqtt_client_publish() returns. At QoS 1, esp-mqtt has copied the
 * message into its outbox by then and keeps it until the PUBACK
 * (outbox_enqueue() in mqtt_outbox.c). At QoS 0, it has written the message
 * to the socket.
 *
 * A QoS 1 message that esp-mqtt refuses stays queued for the next poll, and
 * the QoS 1 messages after it wait too, so that they keep their order.
 * Heartbeats (QoS 0) still go out meanwhile. A refused result waits through
 * a reconnect as well (see outlives_connection).
 */
static void send_slots(void)
{
    bool qos1_waiting = false;
    for (;;) {
        xSemaphoreTake(s_lock, portMAX_DELAY);
        slot_t *slot = oldest_queued_slot(qos1_waiting);
        if (slot != NULL) {
            slot->state = SLOT_SENDING;
        }
        xSemaphoreGive(s_lock);
        if (slot == NULL) {
            return;
        }

        /* A failed write makes esp-mqtt dispatch MQTT_EVENT_DISCONNECTED on
         * this task, inside this call. The handler takes s_lock, which is
         * free here. */
        int msg_id = node_mqtt_publish(slot->topic, slot->data, slot->len, slot->qos, slot->retain);

        xSemaphoreTake(s_lock, portMAX_DELAY);
        bool retry = msg_id < 0 && slot->qos > 0 &&
                     (outlives_connection(slot) || (s_connected && slot->session == s_session));
        if (msg_id < 0 && slot->failures++ == 0) {
            ESP_LOGW(TAG, "publishing %u bytes to %s failed (esp-mqtt returned %d, -2 means its outbox is full); %s",
                     (unsigned)slot->len, slot->topic, msg_id, retry ? "trying again after each poll" : "dropped");
        } else if (msg_id >= 0 && slot->failures > 0) {
            ESP_LOGI(TAG, "published to %s after %u failed attempts", slot->topic, slot->failures);
        }
        slot->state = retry ? SLOT_QUEUED : SLOT_FREE;
        xSemaphoreGive(s_lock);
        qos1_waiting = qos1_waiting || retry;
    }
}

void node_task_run(void)
{
    const TickType_t delay = pdMS_TO_TICKS(POLL_MS) > 0 ? pdMS_TO_TICKS(POLL_MS) : 1;
    for (;;) {
        xSemaphoreTake(s_lock, portMAX_DELAY);
        mqc_node_poll(&s_node);
        xSemaphoreGive(s_lock);
        send_slots();
        vTaskDelay(delay);
    }
}

/*
 * Runs inside esp_restart(), before the Wi-Fi driver's own shutdown handler
 * stops Wi-Fi: handlers run in reverse order of registration, and app_main
 * registers this one after starting Wi-Fi. A reset, a power loss or a panic
 * skips it, and the broker publishes the will instead.
 */
void node_task_leave(void)
{
    /* The timeout covers a restart called from inside a call into the node. */
    if (xSemaphoreTake(s_lock, pdMS_TO_TICKS(100)) != pdTRUE) {
        return;
    }
    mqc_node_leave(&s_node);
    xSemaphoreGive(s_lock);
    send_slots();
    /* NOTE: best effort. The pause gives lwIP time to pass the death to the
     * Wi-Fi driver, but nothing confirms that it left the board. */
    vTaskDelay(pdMS_TO_TICKS(100));
}
