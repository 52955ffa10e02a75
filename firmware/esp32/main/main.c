/*
 * mqcluster node for ESP32 boards: joins a cluster over Wi-Fi and MQTT and
 * runs image.gray tasks with the portable core in firmware/core.
 *
 * app_main sets up NVS, the node, Wi-Fi and the MQTT client, then runs the
 * node's poll loop in the main task for as long as the board is on.
 */
#include <inttypes.h>
#include <stdio.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_system.h"
#include "mqc/wire.h"
#include "node_mqtt.h"
#include "node_task.h"
#include "nvs_flash.h"
#include "sdkconfig.h"
#include "session.h"
#include "wifi.h"

static const char *TAG = "mqc_main";

_Static_assert(sizeof(CONFIG_MQC_NODE_ID) - 1 <= MQC_MAX_ID_LEN, "CONFIG_MQC_NODE_ID is longer than 64 characters");

/* CONFIG_MQC_NODE_ID, or the Wi-Fi station MAC address when that is empty. */
static char s_node_id[MQC_MAX_ID_LEN + 1] = CONFIG_MQC_NODE_ID;

static esp_err_t init_nvs(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        /* The partition is full or has a layout this ESP-IDF cannot read.
         * Erasing it loses the session counter, which then restarts from a
         * random number (session.c). */
        ESP_LOGW(TAG, "NVS partition unusable (%s); erasing it", esp_err_to_name(err));
        err = nvs_flash_erase();
        if (err == ESP_OK) {
            err = nvs_flash_init();
        }
    }
    return err;
}

/* Formats the station MAC address as the node id, as in "a4:cf:12:0b:3e:01". */
static esp_err_t use_mac_as_node_id(void)
{
    uint8_t mac[6];
    esp_err_t err = esp_read_mac(mac, ESP_MAC_WIFI_STA);
    if (err != ESP_OK) {
        return err;
    }
    snprintf(s_node_id, sizeof(s_node_id), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
    return ESP_OK;
}

void app_main(void)
{
    if (CONFIG_MQC_WIFI_SSID[0] == '\0') {
        ESP_LOGE(TAG, "no Wi-Fi network set: set \"Wi-Fi SSID\" under \"mqcluster node\" in idf.py menuconfig, "
                      "then build and flash again");
        return;
    }

    if (node_mqtt_check_config() != ESP_OK) {
        return; /* node_mqtt_check_config logged the setting to change */
    }

    ESP_ERROR_CHECK(init_nvs());
    ESP_ERROR_CHECK(session_init());
    if (s_node_id[0] == '\0') {
        ESP_ERROR_CHECK(use_mac_as_node_id());
    }
    esp_err_t err = node_task_init(s_node_id);
    if (err == ESP_ERR_INVALID_ARG) {
        return; /* node_task_init logged which setting is invalid */
    }
    ESP_ERROR_CHECK(err);

    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    ESP_ERROR_CHECK(wifi_start(node_mqtt_reconnect_now));
    /* Shutdown handlers run in reverse order of registration, so this one,
     * registered after the Wi-Fi driver's, publishes before Wi-Fi stops. */
    ESP_ERROR_CHECK(esp_register_shutdown_handler(node_task_leave));

    wifi_wait_for_ip();
    ESP_ERROR_CHECK(node_mqtt_start(s_node_id));
    ESP_LOGI(TAG, "free heap %" PRIu32 " bytes", esp_get_free_heap_size());

    node_task_run();
}
