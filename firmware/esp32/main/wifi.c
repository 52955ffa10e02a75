/*
 * The Wi-Fi station. After every disconnect it waits and calls
 * esp_wifi_connect() again, with a wait that doubles from 1 s to at most 30 s
 * and goes back to 1 s once the station has an IP address. It never gives up,
 * so a node comes back by itself after the access point was away for any time.
 */
#include "wifi.h"

#include <inttypes.h>
#include <stdint.h>

#include "esp_check.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"

static const char *TAG = "mqc_wifi";

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000

#define GOT_IP_BIT BIT0

static esp_timer_handle_t s_retry_timer;
static uint32_t s_retry_ms = RETRY_FIRST_MS;
static EventGroupHandle_t s_state;
static StaticEventGroup_t s_state_storage;
static void (*s_on_got_ip)(void);

/* The SSID and password arrays of wifi_sta_config_t hold 32 and 64 bytes. */
_Static_assert(sizeof(CONFIG_MQC_WIFI_SSID) - 1 <= 32, "CONFIG_MQC_WIFI_SSID is longer than 32 bytes");
_Static_assert(sizeof(CONFIG_MQC_WIFI_PASSWORD) - 1 <= 64, "CONFIG_MQC_WIFI_PASSWORD is longer than 64 bytes");

/* Runs on the esp_timer task when the wait after a disconnect is over. A
 * failed attempt ends in WIFI_EVENT_STA_DISCONNECTED, which schedules the next
 * one. An error returned here produces no event, so this retries by itself,
 * after the longest wait. */
static void connect_after_wait(void *arg)
{
    (void)arg;
    esp_err_t err = esp_wifi_connect();
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "esp_wifi_connect failed: %s; trying again in %d ms", esp_err_to_name(err), RETRY_MAX_MS);
        esp_timer_start_once(s_retry_timer, (uint64_t)RETRY_MAX_MS * 1000u);
    }
}

/* Schedules connect_after_wait and doubles the wait for the next time. Only
 * the default event loop task calls it, so s_retry_ms needs no lock. */
static void schedule_connect(void)
{
    esp_err_t err = esp_timer_start_once(s_retry_timer, (uint64_t)s_retry_ms * 1000u);
    if (err == ESP_ERR_INVALID_STATE) {
        return; /* a connect is already scheduled */
    }
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "scheduling a reconnect failed: %s", esp_err_to_name(err));
        return;
    }
    s_retry_ms = s_retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s_retry_ms * 2;
}

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        ESP_LOGI(TAG, "connecting to \"%s\"", CONFIG_MQC_WIFI_SSID);
        esp_err_t err = esp_wifi_connect();
        if (err != ESP_OK) {
            ESP_LOGW(TAG, "esp_wifi_connect failed: %s; trying again in %" PRIu32 " ms", esp_err_to_name(err),
                     s_retry_ms);
            schedule_connect();
        }
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        const wifi_event_sta_disconnected_t *event = data;
        xEventGroupClearBits(s_state, GOT_IP_BIT);
        ESP_LOGW(TAG, "not connected to \"%s\" (reason %u); trying again in %" PRIu32 " ms", CONFIG_MQC_WIFI_SSID,
                 (unsigned)event->reason, s_retry_ms);
        schedule_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        const ip_event_got_ip_t *event = data;
        ESP_LOGI(TAG, "connected to \"%s\", IP address " IPSTR, CONFIG_MQC_WIFI_SSID, IP2STR(&event->ip_info.ip));
        s_retry_ms = RETRY_FIRST_MS;
        xEventGroupSetBits(s_state, GOT_IP_BIT);
        if (s_on_got_ip) {
            s_on_got_ip();
        }
    }
}

esp_err_t wifi_start(void (*on_got_ip)(void))
{
    s_on_got_ip = on_got_ip;
    s_state = xEventGroupCreateStatic(&s_state_storage);

    const esp_timer_create_args_t retry_args = {
        .callback = connect_after_wait,
        .dispatch_method = ESP_TIMER_TASK,
        .name = "wifi_retry",
    };
    ESP_RETURN_ON_ERROR(esp_timer_create(&retry_args, &s_retry_timer), TAG, "creating the reconnect timer failed");

    esp_netif_create_default_wifi_sta(); /* aborts on failure */
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_RETURN_ON_ERROR(esp_wifi_init(&init), TAG, "esp_wifi_init failed");
    ESP_RETURN_ON_ERROR(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, NULL), TAG,
                        "registering for Wi-Fi events failed");
    ESP_RETURN_ON_ERROR(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, NULL), TAG,
                        "registering for IP events failed");

    wifi_config_t config = {
        .sta = {
            .ssid = CONFIG_MQC_WIFI_SSID,
            .password = CONFIG_MQC_WIFI_PASSWORD,
            .threshold.authmode = sizeof(CONFIG_MQC_WIFI_PASSWORD) > 1 ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN,
        },
    };
    /* The settings come from Kconfig at every start, so the driver need not
     * store them in NVS. */
    ESP_RETURN_ON_ERROR(esp_wifi_set_storage(WIFI_STORAGE_RAM), TAG, "esp_wifi_set_storage failed");
    ESP_RETURN_ON_ERROR(esp_wifi_set_mode(WIFI_MODE_STA), TAG, "esp_wifi_set_mode failed");
    ESP_RETURN_ON_ERROR(esp_wifi_set_config(WIFI_IF_STA, &config), TAG, "esp_wifi_set_config failed");
    /* In modem sleep, the default, the station wakes only for some beacons,
     * which delays every task that arrives. A cluster node stays awake. */
    ESP_RETURN_ON_ERROR(esp_wifi_set_ps(WIFI_PS_NONE), TAG, "esp_wifi_set_ps failed");
    return esp_wifi_start();
}

void wifi_wait_for_ip(void)
{
    xEventGroupWaitBits(s_state, GOT_IP_BIT, pdFALSE, pdTRUE, portMAX_DELAY);
}
