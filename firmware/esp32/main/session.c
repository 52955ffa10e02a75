/*
 * The session counter. A board has no clock before SNTP sync, so a session
 * number taken from the time would repeat after every reset. The last number
 * used is kept in NVS instead, and each connection attempt takes the next one
 * and commits it before the attempt starts: a reset during the attempt cannot
 * hand the same number to a later connection.
 *
 * That is one NVS write per connection attempt. NVS spreads its writes over
 * the pages of its partition, so a broker that stays unreachable for days
 * costs little flash wear.
 */
#include "session.h"

#include <inttypes.h>
#include <stdbool.h>

#include "esp_log.h"
#include "esp_random.h"
#include "nvs.h"

static const char *TAG = "mqc_session";

static const char NAMESPACE[] = "mqcluster";
static const char KEY[] = "session";

static nvs_handle_t s_nvs;
static bool s_open;

esp_err_t session_init(void)
{
    esp_err_t err = nvs_open(NAMESPACE, NVS_READWRITE, &s_nvs);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "opening NVS namespace \"%s\" failed: %s", NAMESPACE, esp_err_to_name(err));
        return err;
    }
    s_open = true;
    return ESP_OK;
}

uint32_t session_next(void)
{
    uint32_t last = 0;
    esp_err_t err = s_open ? nvs_get_u32(s_nvs, KEY, &last) : ESP_ERR_INVALID_STATE;
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        /* No counter yet: the first start, or the flash was erased. A random
         * start makes it unlikely that numbers used before an erase return. */
        last = esp_random();
        err = ESP_OK;
    }
    if (err == ESP_OK) {
        uint32_t next = last + 1;
        err = nvs_set_u32(s_nvs, KEY, next);
        if (err == ESP_OK) {
            err = nvs_commit(s_nvs);
        }
        if (err == ESP_OK) {
            return next;
        }
    }

    /* NOTE: a random number can repeat an earlier session of this node,
     * though with 2^32 values that is unlikely. */
    uint32_t fallback = esp_random();
    ESP_LOGE(TAG, "storing the session counter in NVS failed (%s); using random session %" PRIu32,
             esp_err_to_name(err), fallback);
    return fallback;
}
