/* The esp-mqtt client of the node: configuration, the will, and its events. */
#ifndef MQC_ESP32_NODE_MQTT_H
#define MQC_ESP32_NODE_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

/* Checks that the TLS setting matches the scheme of the broker URI. Returns
 * ESP_ERR_INVALID_ARG after logging the setting to change, else ESP_OK. */
esp_err_t node_mqtt_check_config(void);

/* Creates and starts the client. It connects with the client id of
 * node_task_client_id() and names the node node_id in its logs; node_id must
 * outlive the client. */
esp_err_t node_mqtt_start(const char *node_id);

/* Wrappers of esp_mqtt_client_publish() and esp_mqtt_client_subscribe(): they
 * return the message id, 0 for QoS 0, or a negative number on failure. */
int node_mqtt_publish(const char *topic, const uint8_t *data, size_t len, int qos, bool retain);
int node_mqtt_subscribe(const char *topic, int qos);

/* Makes a client that waits between connection attempts try at once. Does
 * nothing before node_mqtt_start(), or while the client is connected or
 * connecting. */
void node_mqtt_reconnect_now(void);

#endif /* MQC_ESP32_NODE_MQTT_H */
