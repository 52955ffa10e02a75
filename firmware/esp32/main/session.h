/* Session numbers that differ for every MQTT connection of this board, across resets. */
#ifndef MQC_ESP32_SESSION_H
#define MQC_ESP32_SESSION_H

#include <stdint.h>

#include "esp_err.h"

/* Opens the counter in NVS. nvs_flash_init() must have succeeded. */
esp_err_t session_init(void);

/* Returns the session number for the next connection attempt and stores it in
 * NVS before returning. */
uint32_t session_next(void);

#endif /* MQC_ESP32_SESSION_H */
