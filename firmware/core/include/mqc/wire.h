/*
 * Encoding and decoding of mqcluster protocol messages (docs/protocol.md),
 * in portable C11 with no heap and no platform headers.
 *
 * Decoders read a complete message from a caller's buffer and return views
 * into it: no byte is copied. Encoders write into a caller's buffer and
 * return the number of bytes written, or 0 when the buffer is too small.
 */
#ifndef MQC_WIRE_H
#define MQC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQC_MAGIC 0x4D
#define MQC_VERSION 1
#define MQC_HEADER_SIZE 4
#define MQC_MAX_ID_LEN 64
#define MQC_MAX_KIND_LEN 32
#define MQC_MAX_KINDS 16
#define MQC_MAX_BATCH 1024
#define MQC_MAX_REASON_LEN 4096

/* Bytes before the first task of a tasks message: header, epoch, count. */
#define MQC_TASKS_HEAD_SIZE 10
/* Bytes of a task before its payload, with a kind of kind_len bytes. */
#define MQC_TASK_HEAD_SIZE(kind_len) (19 + (kind_len))
/* Bytes of a results message holding one result, before its data. */
#define MQC_RESULT1_HEAD_SIZE 25

typedef enum {
    MQC_TYPE_BIRTH = 1,
    MQC_TYPE_DEATH = 2,
    MQC_TYPE_HEARTBEAT = 3,
    MQC_TYPE_TASKS = 4,
    MQC_TYPE_RESULTS = 5,
    MQC_TYPE_COORDINATOR_ONLINE = 6,
    MQC_TYPE_COORDINATOR_OFFLINE = 7,
    MQC_TYPE_ABORT = 8,
} mqc_type_t;

/* Decoding outcomes. The names match the "error" lines of vectors.txt. */
typedef enum {
    MQC_OK = 0,
    MQC_ERR_TRUNCATED,    /* "truncated" */
    MQC_ERR_TRAILING,     /* "trailing" */
    MQC_ERR_MAGIC,        /* "magic" */
    MQC_ERR_VERSION,      /* "version" */
    MQC_ERR_UNKNOWN_TYPE, /* "unknown-type" */
    MQC_ERR_INVALID,      /* "invalid" */
} mqc_err_t;

typedef enum {
    MQC_STATUS_OK = 0,
    MQC_STATUS_FAILED = 1,
    MQC_STATUS_DECLINED = 2,
} mqc_status_t;

typedef enum {
    MQC_DEATH_CONNECTION_LOST = 0,
    MQC_DEATH_LEFT = 1,
} mqc_death_reason_t;

/* A string inside a message buffer: not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint8_t len;
} mqc_str_t;

typedef struct {
    uint64_t id;
    uint16_t attempt;
} mqc_task_ref_t;

typedef struct {
    uint32_t session;
    uint16_t slots;
    uint16_t batch;
    uint16_t prefetch; /* tasks held beyond slots, each waiting for a slot */
    uint32_t max_payload;
    uint32_t heartbeat_ms;
    bool draining;
    mqc_str_t node_id;
    mqc_str_t software;
    uint8_t kind_count;
    mqc_str_t kinds[MQC_MAX_KINDS];
} mqc_birth_t;

typedef struct {
    uint32_t session;
    uint8_t reason; /* mqc_death_reason_t */
} mqc_death_t;

typedef struct {
    uint64_t id;
    uint16_t attempt;
    uint32_t deadline_ms;
    mqc_str_t kind;
    const uint8_t *payload;
    uint32_t payload_len;
} mqc_task_t;

typedef struct {
    uint64_t id;
    uint16_t attempt;
    uint8_t status; /* mqc_status_t */
    const uint8_t *data;
    uint32_t data_len;
} mqc_result_t;

/* Returns the error name used in vectors.txt, such as "truncated". */
const char *mqc_err_name(mqc_err_t err);

/* Checks the 4-byte header of msg and stores the message type in *type. */
mqc_err_t mqc_decode_header(const uint8_t *msg, size_t len, mqc_type_t *type);

/* Validators shared by encoders and decoders. */
bool mqc_valid_node_id(const char *id, size_t len);
bool mqc_valid_kind(const char *kind, size_t len);

mqc_err_t mqc_decode_birth(const uint8_t *msg, size_t len, mqc_birth_t *out);
mqc_err_t mqc_decode_death(const uint8_t *msg, size_t len, mqc_death_t *out);
/* Decodes a coordinator online or offline message. software may be NULL; it
 * is set to an empty string for an offline message. */
mqc_err_t mqc_decode_coordinator(const uint8_t *msg, size_t len, uint32_t *epoch, mqc_str_t *software);

/*
 * Heartbeats, tasks and results hold lists. Their decoders check the whole
 * message and return the count; the list is then walked with an iterator,
 * so that no array of unknown length is needed.
 */
typedef struct {
    const uint8_t *next; /* next element */
    const uint8_t *end;  /* end of the message */
    uint16_t left;       /* elements not yet returned */
} mqc_iter_t;

mqc_err_t mqc_decode_heartbeat(const uint8_t *msg, size_t len, uint32_t *session, mqc_iter_t *it);
bool mqc_next_task_ref(mqc_iter_t *it, mqc_task_ref_t *out);

mqc_err_t mqc_decode_tasks(const uint8_t *msg, size_t len, uint32_t *epoch, mqc_iter_t *it);
bool mqc_next_task(mqc_iter_t *it, mqc_task_t *out);

mqc_err_t mqc_decode_results(const uint8_t *msg, size_t len, uint32_t *session, mqc_iter_t *it);

/* Decodes an abort message; walk its task references with mqc_next_task_ref. */
mqc_err_t mqc_decode_abort(const uint8_t *msg, size_t len, uint32_t *epoch, mqc_iter_t *it);
bool mqc_next_result(mqc_iter_t *it, mqc_result_t *out);

/*
 * Reads the fields of the first task of a tasks message from its first
 * bytes only, as many as head_len, without needing the rest. A node uses it
 * to answer a message too large for its buffer. Returns MQC_ERR_TRUNCATED
 * when head_len does not reach the task's payload length field.
 */
mqc_err_t mqc_peek_first_task(const uint8_t *head, size_t head_len, size_t total_len, mqc_task_t *out);

/* Encoders. Each returns the bytes written to buf, or 0 if cap is too small
 * or a field is invalid. */
size_t mqc_encode_birth(uint8_t *buf, size_t cap, const mqc_birth_t *m);
size_t mqc_encode_death(uint8_t *buf, size_t cap, const mqc_death_t *m);
size_t mqc_encode_heartbeat(uint8_t *buf, size_t cap, uint32_t session, const mqc_task_ref_t *refs, uint16_t count);
size_t mqc_encode_coordinator_online(uint8_t *buf, size_t cap, uint32_t epoch, mqc_str_t software);
size_t mqc_encode_coordinator_offline(uint8_t *buf, size_t cap, uint32_t epoch);
size_t mqc_encode_tasks(uint8_t *buf, size_t cap, uint32_t epoch, const mqc_task_t *tasks, uint16_t count);
size_t mqc_encode_results(uint8_t *buf, size_t cap, uint32_t session, const mqc_result_t *results, uint16_t count);
size_t mqc_encode_abort(uint8_t *buf, size_t cap, uint32_t epoch, const mqc_task_ref_t *refs, uint16_t count);

/*
 * Writes the MQC_RESULT1_HEAD_SIZE (25) bytes that start a results message
 * with one result, whose data of data_len bytes follows directly in the
 * buffer. The node uses it to send a tile's output from where the kernel
 * wrote it, with no copy.
 */
void mqc_write_result1_head(uint8_t *head, uint32_t session, uint64_t id, uint16_t attempt, mqc_status_t status,
                            uint32_t data_len);

#endif /* MQC_WIRE_H */
