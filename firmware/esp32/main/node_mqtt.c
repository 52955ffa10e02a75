/*
 * The esp-mqtt client (ESP-IDF's mqtt component). esp-mqtt runs on_event on
 * its own task, synchronously, while holding its API lock, a recursive mutex,
 * so the handler may subscribe and publish. A publish that fails to write
 * dispatches MQTT_EVENT_DISCONNECTED on the publishing task, with the same
 * lock held. Either way the lock serializes every run of on_event, and the
 * s_session, s_was_connected and will variables below need no other lock.
 *
 * Every connection needs its own will, because the will carries the
 * connection's session number. esp-mqtt takes the will from its
 * configuration, so before each connection attempt (MQTT_EVENT_BEFORE_CONNECT)
 * on_event takes a new session number and passes the whole configuration
 * again with esp_mqtt_set_config().
 */
#include "node_mqtt.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "esp_check.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "mqc/node.h"
#include "mqtt_client.h"
#include "node_task.h"
#include "sdkconfig.h"
#include "session.h"

static const char *TAG = "mqc_mqtt";

/* Wait between connection attempts; esp-mqtt's default is 10 s. */
#define RECONNECT_MS 5000

/* Bytes of unacknowledged QoS 1 messages that esp-mqtt may keep in its outbox:
 * two results, with room for births and replies. A publish beyond it fails
 * with -2 and the node tries it again after its next poll. */
#define OUTBOX_LIMIT (2 * NODE_PUBLISH_MAX + 4096)

/* The outbox limit and esp_mqtt_client_subscribe_single() both arrived with
 * the esp-mqtt version that ESP-IDF v5.1.2 ships. */
#define IDF_AT_LEAST_5_1_2 (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 1, 2))

/* Certificate verification flags of mbedTLS (MBEDTLS_X509_BADCERT_* in
 * mbedtls/x509.h), which esp-mqtt reports in esp_tls_cert_verify_flags. */
#define BADCERT_CN_MISMATCH 0x04
#define BADCERT_NOT_TRUSTED 0x08

#if CONFIG_MQC_BROKER_TLS
/* The PEM files from main/certs/ that main/CMakeLists.txt embeds. The build
 * ends each with a NUL, so esp-mqtt takes them as strings, with a length of 0. */
extern const char ca_pem_start[] asm("_binary_ca_pem_start");
#endif
#if CONFIG_MQC_BROKER_TLS_CLIENT_CERT
extern const char client_pem_start[] asm("_binary_client_pem_start");
extern const char client_key_start[] asm("_binary_client_key_start");
#endif

static esp_mqtt_client_config_t s_config;
static esp_mqtt_client_handle_t s_client;
static atomic_bool s_started;
static const char *s_node_id;

static uint32_t s_session;
static bool s_was_connected;
static char s_will_topic[MQC_TOPIC_MAX];
static uint8_t s_will[16];

/* Sets the will of the coming connection attempt, with a new session number. */
static void prepare_connection(esp_mqtt_client_handle_t client)
{
    s_session = session_next();
    size_t will_len = node_task_will(s_session, s_will_topic, sizeof(s_will_topic), s_will, sizeof(s_will));
    if (will_len == 0) {
        ESP_LOGE(TAG, "building the will of session %" PRIu32 " failed; connecting with the previous will",
                 s_session);
        return;
    }
    s_config.session.last_will.topic = s_will_topic;
    s_config.session.last_will.msg = (const char *)s_will;
    s_config.session.last_will.msg_len = (int)will_len;
    s_config.session.last_will.qos = 1;
    s_config.session.last_will.retain = 1;
    /* esp_mqtt_set_config() copies the strings and the will payload. It
     * resets every field left at zero to its default, hence the whole
     * configuration. */
    esp_err_t err = esp_mqtt_set_config(client, &s_config);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "setting the will of session %" PRIu32 " failed: %s", s_session, esp_err_to_name(err));
    }
    ESP_LOGI(TAG, "connecting to %s as %s, session %" PRIu32, CONFIG_MQC_BROKER_URI, node_task_client_id(),
             s_session);
}

/* Logs why the broker's certificate failed verification, if it did. */
static void log_certificate_error(const esp_mqtt_error_codes_t *error)
{
    int flags = error->esp_tls_cert_verify_flags;
    if (flags == 0) {
        return;
    }
    ESP_LOGE(TAG, "the certificate of %s failed verification (mbedTLS flags 0x%x)", CONFIG_MQC_BROKER_URI,
             (unsigned)flags);
    if (flags & BADCERT_NOT_TRUSTED) {
        ESP_LOGE(TAG, "the CA in main/certs/ca.pem did not sign the broker's certificate");
    }
    if (flags & BADCERT_CN_MISMATCH) {
        ESP_LOGE(TAG, "the broker's certificate does not name the host of \"Broker URI\" %s", CONFIG_MQC_BROKER_URI);
    }
}

static void log_error(const esp_mqtt_event_t *event)
{
    const esp_mqtt_error_codes_t *error = event->error_handle;
    if (error == NULL) {
        return;
    }
    if (error->error_type == MQTT_ERROR_TYPE_TCP_TRANSPORT) {
        ESP_LOGE(TAG, "network error with %s: socket errno %d (%s), esp-tls %s, TLS stack error 0x%x",
                 CONFIG_MQC_BROKER_URI, error->esp_transport_sock_errno, strerror(error->esp_transport_sock_errno),
                 esp_err_to_name(error->esp_tls_last_esp_err), (unsigned)error->esp_tls_stack_err);
        log_certificate_error(error);
    } else if (error->error_type == MQTT_ERROR_TYPE_CONNECTION_REFUSED) {
        ESP_LOGE(TAG,
                 "%s refused the connection (CONNACK return code %d): check the broker user name and password "
                 "or the client certificate, and that the broker accepts client id %s",
                 CONFIG_MQC_BROKER_URI, (int)error->connect_return_code, node_task_client_id());
    } else {
        ESP_LOGE(TAG, "esp-mqtt reported error type %d", (int)error->error_type);
    }
}

/* Passes one MQTT_EVENT_DATA to the core. A message larger than esp-mqtt's
 * buffer arrives in several events; the topic comes with the first, and with
 * the later ones too since ESP-IDF v5.5.1. */
static void deliver_data(const esp_mqtt_event_t *event)
{
    /* esp-mqtt gives data == NULL for an empty message, and the core copies
     * zero bytes from it, which needs a valid pointer. */
    static const uint8_t empty[1];
    const char *topic = event->topic_len > 0 ? event->topic : NULL;
    size_t topic_len = event->topic_len > 0 ? (size_t)event->topic_len : 0;
    const uint8_t *data = event->data_len > 0 ? (const uint8_t *)event->data : empty;
    node_task_data(topic, topic_len, data, (size_t)event->data_len, (size_t)event->current_data_offset,
                   (size_t)event->total_data_len);
}

static void on_event(void *arg, esp_event_base_t base, int32_t event_id, void *event_data)
{
    (void)arg;
    (void)base;
    esp_mqtt_event_handle_t event = event_data;
    switch ((esp_mqtt_event_id_t)event_id) {
    case MQTT_EVENT_BEFORE_CONNECT:
        prepare_connection(event->client);
        break;
    case MQTT_EVENT_CONNECTED:
        s_was_connected = true;
        ESP_LOGI(TAG, "node %s connected to %s, session %" PRIu32, s_node_id, CONFIG_MQC_BROKER_URI, s_session);
        node_task_connected(s_session);
        break;
    case MQTT_EVENT_DISCONNECTED:
        if (s_was_connected) {
            ESP_LOGW(TAG, "connection to %s lost; reconnecting in %d ms", CONFIG_MQC_BROKER_URI, RECONNECT_MS);
        } else {
            ESP_LOGW(TAG, "connecting to %s failed; trying again in %d ms", CONFIG_MQC_BROKER_URI, RECONNECT_MS);
        }
        s_was_connected = false;
        /* NOTE: esp-mqtt keeps the unacknowledged QoS 1 messages of the lost
         * connection and sends them again on the next one. A birth among them
         * reaches the broker after the new birth and replaces it as the
         * retained presence. The core announces again after a death of another
         * session on its presence topic, but not after such a birth. */
        node_task_disconnected();
        break;
    case MQTT_EVENT_DATA:
        deliver_data(event);
        break;
    case MQTT_EVENT_ERROR:
        log_error(event);
        break;
    default:
        break;
    }
}

esp_err_t node_mqtt_check_config(void)
{
    /* esp-mqtt rejects a CA certificate with mqtt://, and esp-tls rejects an
     * mqtts:// connection that has no way to verify the broker. */
    bool tls_uri = strncmp(CONFIG_MQC_BROKER_URI, "mqtts://", strlen("mqtts://")) == 0;
#if CONFIG_MQC_BROKER_TLS
    bool tls_on = true;
#else
    bool tls_on = false;
#endif
    if (tls_uri && !tls_on) {
        ESP_LOGE(TAG,
                 "\"Broker URI\" %s uses TLS, but no CA certificate is set: turn on \"Verify the broker with "
                 "main/certs/ca.pem\" under \"mqcluster node\" in idf.py menuconfig, then build and flash again",
                 CONFIG_MQC_BROKER_URI);
        return ESP_ERR_INVALID_ARG;
    }
    if (tls_on && !tls_uri) {
        ESP_LOGE(TAG,
                 "TLS is on under \"mqcluster node\", but \"Broker URI\" %s is not mqtts://: set it to "
                 "mqtts://HOST:PORT in idf.py menuconfig, then build and flash again",
                 CONFIG_MQC_BROKER_URI);
        return ESP_ERR_INVALID_ARG;
    }
    return ESP_OK;
}

esp_err_t node_mqtt_start(const char *node_id)
{
    s_node_id = node_id;
    s_config = (esp_mqtt_client_config_t){
        .broker.address.uri = CONFIG_MQC_BROKER_URI,
#if CONFIG_MQC_BROKER_TLS
        /* esp-tls checks the broker's certificate against this CA and checks
         * that it names the host of the URI. */
        .broker.verification.certificate = ca_pem_start,
#endif
        .credentials.client_id = node_task_client_id(),
        /* esp-mqtt leaves an empty user name or password out of CONNECT. */
        .credentials.username = CONFIG_MQC_BROKER_USERNAME,
        .credentials.authentication.password = CONFIG_MQC_BROKER_PASSWORD,
#if CONFIG_MQC_BROKER_TLS_CLIENT_CERT
        .credentials.authentication.certificate = client_pem_start,
        .credentials.authentication.key = client_key_start,
#endif
        .session.keepalive = CONFIG_MQC_KEEPALIVE_S,
        .session.disable_clean_session = false, /* the protocol uses clean sessions */
        .network.reconnect_timeout_ms = RECONNECT_MS,
#if IDF_AT_LEAST_5_1_2
        .outbox.limit = OUTBOX_LIMIT,
#endif
    };
    s_client = esp_mqtt_client_init(&s_config);
    if (s_client == NULL) {
        ESP_LOGE(TAG, "creating the MQTT client for %s failed: check \"Broker URI\" under \"mqcluster node\"",
                 CONFIG_MQC_BROKER_URI);
        return ESP_FAIL;
    }
    ESP_RETURN_ON_ERROR(esp_mqtt_client_register_event(s_client, MQTT_EVENT_ANY, on_event, NULL), TAG,
                        "registering the MQTT event handler failed");
    ESP_RETURN_ON_ERROR(esp_mqtt_client_start(s_client), TAG, "starting the MQTT client failed");
    atomic_store(&s_started, true);
    return ESP_OK;
}

int node_mqtt_publish(const char *topic, const uint8_t *data, size_t len, int qos, bool retain)
{
    /* With len 0, esp-mqtt would take strlen(data); with NULL it sends an empty message. */
    return esp_mqtt_client_publish(s_client, topic, len > 0 ? (const char *)data : NULL, (int)len, qos,
                                   retain ? 1 : 0);
}

int node_mqtt_subscribe(const char *topic, int qos)
{
#if IDF_AT_LEAST_5_1_2
    /* From v5.1.2, esp_mqtt_client_subscribe is a _Generic macro, and its
     * first versions accept char * but not const char *. */
    return esp_mqtt_client_subscribe_single(s_client, topic, qos);
#else
    /* Before v5.1.2, esp_mqtt_client_subscribe is a plain function. */
    return esp_mqtt_client_subscribe(s_client, topic, qos);
#endif
}

void node_mqtt_reconnect_now(void)
{
    if (atomic_load(&s_started)) {
        /* Returns ESP_FAIL, harmlessly, unless the client waits between attempts. */
        esp_mqtt_client_reconnect(s_client);
    }
}
