/* The Wi-Fi station: joins CONFIG_MQC_WIFI_SSID and reconnects for ever. */
#ifndef MQC_ESP32_WIFI_H
#define MQC_ESP32_WIFI_H

#include "esp_err.h"

/*
 * Starts the station. esp_netif_init() and esp_event_loop_create_default()
 * must have succeeded. on_got_ip, which may be NULL, runs on the default event
 * loop task each time the station gets an IP address.
 */
esp_err_t wifi_start(void (*on_got_ip)(void));

/* Blocks until the station has an IP address. */
void wifi_wait_for_ip(void);

#endif /* MQC_ESP32_WIFI_H */
