/* Tests of the node logic through its platform seam: a test platform that
 * records what the node publishes and subscribes to, and a clock the test
 * sets. The real MQTT path is covered by the Go tests of the POSIX node. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mqc/node.h"

#define MAX_SENT 32

typedef struct {
    char topic[MQC_TOPIC_MAX];
    uint8_t data[1024];
    size_t len;
    int qos;
    bool retain;
} sent_t;

static sent_t sent[MAX_SENT];
static int sent_count;
static char subscribed[8][MQC_TOPIC_MAX];
static int subscribe_count;
static uint32_t clock_ms;
static int fail_publish; /* publishes to fail from now on */

static int test_publish(void *ctx, const char *topic, const uint8_t *data, size_t len, int qos, bool retain)
{
    (void)ctx;
    if (fail_publish > 0) {
        fail_publish--;
        return -1;
    }
    if (sent_count == MAX_SENT || len > sizeof(sent[0].data)) {
        return -1;
    }
    sent_t *s = &sent[sent_count++];
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    memcpy(s->data, data, len);
    s->len = len;
    s->qos = qos;
    s->retain = retain;
    return 0;
}

static int test_subscribe(void *ctx, const char *topic, int qos)
{
    (void)ctx;
    (void)qos;
    if (subscribe_count < 8) {
        snprintf(subscribed[subscribe_count++], MQC_TOPIC_MAX, "%s", topic);
    }
    return 0;
}

static uint32_t test_now(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

#define BUF_SIZE 256
static uint8_t buf[BUF_SIZE];
static mqc_node_t node;

static const char *tasks_topic = "mqc/v1/lab/nodes/esp-1/tasks";
static const char *presence_topic = "mqc/v1/lab/nodes/esp-1/presence";
static const char *results_topic = "mqc/v1/lab/nodes/esp-1/results";

/* setup initializes a node of cluster "lab" and connects it with session 7. */
static void setup(void)
{
    memset(sent, 0, sizeof(sent));
    sent_count = subscribe_count = fail_publish = 0;
    clock_ms = 1000;
    mqc_platform_t p = {NULL, test_publish, test_subscribe, test_now, NULL};
    mqc_node_config_t cfg = {.node_id = "esp-1", .cluster = "lab", .software = "test", .heartbeat_ms = 500};
    CHECK(mqc_node_init(&node, &cfg, &p, buf, BUF_SIZE), "init failed");
    mqc_node_on_connect(&node, 7);
}

/* tasks_message encodes a tasks message with one image.gray task. */
static size_t tasks_message(uint8_t *out, size_t cap, uint64_t id, uint16_t attempt, const uint8_t *payload,
                            uint32_t payload_len)
{
    mqc_task_t t = {id, attempt, 30000, {"image.gray", 10}, payload, payload_len};
    return mqc_encode_tasks(out, cap, 5, &t, 1);
}

static const uint8_t red_green[] = {8, 0, 0, 2, 0, 1, 255, 0, 0, 0, 255, 0};

static bool contains(const uint8_t *data, size_t len, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(data + i, word, n) == 0) {
            return true;
        }
    }
    return false;
}

/* last_result decodes the last message sent, which must be one result. */
static bool last_result(mqc_result_t *r)
{
    if (sent_count == 0) {
        return false;
    }
    sent_t *s = &sent[sent_count - 1];
    uint32_t session;
    mqc_iter_t it;
    return strcmp(s->topic, results_topic) == 0 && s->qos == 1 &&
           mqc_decode_results(s->data, s->len, &session, &it) == MQC_OK && session == 7 && it.left == 1 &&
           mqc_next_result(&it, r);
}

static void test_connect_announces(void)
{
    setup();
    CHECK(subscribe_count == 3, "%d subscriptions, want 3", subscribe_count);
    CHECK(strcmp(subscribed[0], tasks_topic) == 0, "first subscription %s", subscribed[0]);
    CHECK(strcmp(subscribed[2], "mqc/v1/lab/coordinator/presence") == 0, "third subscription %s", subscribed[2]);
    REQUIRE(sent_count == 1, "%d messages sent, want the birth", sent_count);
    CHECK(strcmp(sent[0].topic, presence_topic) == 0, "birth on topic %s", sent[0].topic);
    CHECK(sent[0].retain, "birth not retained");
    CHECK(sent[0].qos == 1, "birth at QoS %d, want 1", sent[0].qos);
    mqc_birth_t b;
    REQUIRE(mqc_decode_birth(sent[0].data, sent[0].len, &b) == MQC_OK, "birth does not decode");
    CHECK(b.session == 7, "session %" PRIu32 ", want 7", b.session);
    CHECK(b.slots == 1, "slots %u, want 1", b.slots);
    CHECK(b.batch == 1, "batch %u, want 1", b.batch);
    CHECK(b.prefetch == 0, "prefetch %u, want 0", b.prefetch);
    CHECK(b.max_payload == BUF_SIZE - 61, "max payload %" PRIu32 ", want %d", b.max_payload, BUF_SIZE - 61);
    REQUIRE(b.kind_count == 1, "%u kinds, want 1", b.kind_count);
    CHECK(b.kinds[0].len == 10 && memcmp(b.kinds[0].ptr, "image.gray", 10) == 0, "kind is not image.gray");

    uint8_t will[16];
    const char *topic;
    size_t len = mqc_node_will(&node, 8, &topic, will, sizeof(will));
    REQUIRE(len > 0, "no will");
    mqc_death_t d;
    REQUIRE(mqc_decode_death(will, len, &d) == MQC_OK, "will does not decode");
    CHECK(d.session == 8, "will session %" PRIu32 ", want 8", d.session);
    CHECK(d.reason == 0, "will reason %u, want 0", d.reason);
    CHECK(strcmp(topic, presence_topic) == 0, "will topic %s", topic);
    CHECK(strcmp(mqc_node_client_id(&node), "mqc/v1/lab/esp-1") == 0, "client id %s", mqc_node_client_id(&node));
}

static void test_task_whole(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 42, 1, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    CHECK(sent_count == 1, "result sent before poll");
    mqc_node_poll(&node);
    mqc_result_t r;
    REQUIRE(last_result(&r), "no result");
    CHECK(r.id == 42, "result for task %" PRIu64 ", want 42", r.id);
    CHECK(r.attempt == 1, "result for attempt %u, want 1", r.attempt);
    CHECK(r.status == MQC_STATUS_OK, "status %u, want ok", r.status);
    REQUIRE(r.data_len == 2, "output %u bytes, want 2", r.data_len);
    CHECK(r.data[0] == 76, "first gray pixel %u, want 76", r.data[0]);
    CHECK(r.data[1] == 150, "second gray pixel %u, want 150", r.data[1]);
    CHECK(node.stats.tasks_done == 1, "tasks done %" PRIu64, node.stats.tasks_done);
}

/* esp-mqtt hands a large message over in chunks; only the first has the
 * topic, and it is not NUL-terminated. */
static void test_task_in_chunks(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 43, 2, red_green, sizeof(red_green));
    char topic[64];
    memcpy(topic, tasks_topic, strlen(tasks_topic));
    topic[strlen(tasks_topic)] = 'X'; /* no NUL after the topic */
    mqc_node_on_data(&node, topic, strlen(tasks_topic), msg, 5, 0, len);
    mqc_node_on_data(&node, NULL, 0, msg + 5, 20, 5, len);
    mqc_node_on_data(&node, NULL, 0, msg + 25, len - 25, 25, len);
    mqc_node_poll(&node);
    mqc_result_t r;
    REQUIRE(last_result(&r), "no result from a chunked message");
    CHECK(r.id == 43, "result for task %" PRIu64 ", want 43", r.id);
    CHECK(r.status == MQC_STATUS_OK, "status %u, want ok", r.status);
    REQUIRE(r.data_len == 2, "output %u bytes, want 2", r.data_len);
    CHECK(r.data[0] == 76, "first gray pixel %u, want 76", r.data[0]);
}

static void test_duplicate_dropped(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 44, 1, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len); /* while holding */
    mqc_node_poll(&node);
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len); /* after answering */
    mqc_node_poll(&node);
    CHECK(sent_count == 2, "%d messages sent, want the birth and one result", sent_count);
    CHECK(node.stats.duplicates_dropped == 2, "duplicates dropped %" PRIu64 ", want 2", node.stats.duplicates_dropped);
}

static void test_oversized_message_fails_task(void)
{
    setup();
    static uint8_t payload[400];
    static uint8_t msg[512];
    payload[0] = 8;
    size_t len = tasks_message(msg, sizeof(msg), 45, 1, payload, sizeof(payload));
    for (size_t off = 0; off < len; off += 100) {
        size_t n = len - off < 100 ? len - off : 100;
        mqc_node_on_data(&node, off == 0 ? tasks_topic : NULL, off == 0 ? strlen(tasks_topic) : 0, msg + off, n, off,
                         len);
    }
    mqc_node_poll(&node);
    mqc_result_t r;
    REQUIRE(last_result(&r), "no result for an oversized task");
    CHECK(r.id == 45, "result for task %" PRIu64 ", want 45", r.id);
    CHECK(r.status == MQC_STATUS_FAILED, "status %u, want failed", r.status);
    CHECK(node.stats.oversized == 1, "oversized %" PRIu64, node.stats.oversized);
}

static void test_busy_node_declines(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 46, 1, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    len = tasks_message(msg, sizeof(msg), 47, 1, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    REQUIRE(sent_count == 3, "%d messages, want birth, decline, result", sent_count);
    uint32_t session;
    mqc_iter_t it;
    mqc_result_t r;
    REQUIRE(mqc_decode_results(sent[1].data, sent[1].len, &session, &it) == MQC_OK, "decline does not decode");
    REQUIRE(mqc_next_result(&it, &r), "decline contains no result");
    CHECK(r.id == 47, "declined task %" PRIu64 ", want 47", r.id);
    CHECK(r.status == MQC_STATUS_DECLINED, "status %u, want declined", r.status);
}

static void test_abort_drops_held_task(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 51, 2, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    mqc_task_ref_t ref = {51, 2};
    len = mqc_encode_abort(msg, sizeof(msg), 5, &ref, 1);
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    mqc_result_t r;
    REQUIRE(last_result(&r), "no result after the abort");
    CHECK(r.id == 51, "result for task %" PRIu64 ", want 51", r.id);
    CHECK(r.status == MQC_STATUS_DECLINED, "status %u, want declined", r.status);
    CHECK(node.stats.tasks_done == 0, "the aborted task ran");
}

static void test_invalid_payload_fails(void)
{
    setup();
    static const uint8_t bad[] = {9, 0, 0, 1, 0, 1, 1, 2, 3};
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 48, 1, bad, sizeof(bad));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    mqc_node_poll(&node);
    mqc_result_t r;
    CHECK(last_result(&r) && r.id == 48 && r.status == MQC_STATUS_FAILED, "no failure result");
    CHECK(r.data_len > 5 && contains(r.data, r.data_len, "depth"), "reason does not name the depth");
}

static void test_stale_will_reannounces(void)
{
    setup();
    uint8_t msg[16];
    mqc_death_t d = {6, MQC_DEATH_CONNECTION_LOST};
    size_t len = mqc_encode_death(msg, sizeof(msg), &d);
    mqc_node_on_data(&node, presence_topic, strlen(presence_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2 && strcmp(sent[1].topic, presence_topic) == 0, "no birth after a stale will");

    d.session = 5; /* a clean leave of an older connection is never a late will */
    d.reason = MQC_DEATH_LEFT;
    len = mqc_encode_death(msg, sizeof(msg), &d);
    mqc_node_on_data(&node, presence_topic, strlen(presence_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2, "announced again after a clean leave of an older connection");

    d.session = 7; /* the node's own clean death is no reason to announce */
    len = mqc_encode_death(msg, sizeof(msg), &d);
    mqc_node_on_data(&node, presence_topic, strlen(presence_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2, "announced again after a death of its own session");
}

static void test_stale_birth_reannounces(void)
{
    setup();
    uint8_t msg[128];
    mqc_birth_t b = {.session = 6, .slots = 1, .batch = 1, .max_payload = 10, .heartbeat_ms = 500,
                     .node_id = {"esp-1", 5}, .software = {"t", 1}, .kind_count = 1, .kinds = {{"image.gray", 10}}};
    size_t len = mqc_encode_birth(msg, sizeof(msg), &b);
    mqc_node_on_data(&node, presence_topic, strlen(presence_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2 && strcmp(sent[1].topic, presence_topic) == 0, "no birth after a stale birth");
    b.session = 5; /* another one within 5 s: no second repair */
    len = mqc_encode_birth(msg, sizeof(msg), &b);
    mqc_node_on_data(&node, presence_topic, strlen(presence_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2, "announced again within 5 s of the last repair");
    b.session = 7; /* its own birth coming back: nothing to do */
    len = mqc_encode_birth(msg, sizeof(msg), &b);
    mqc_node_on_data(&node, presence_topic, strlen(presence_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2, "announced again after its own birth");
}

static void test_new_coordinator_reannounces(void)
{
    setup();
    const char *topic = "mqc/v1/lab/coordinator/presence";
    uint8_t msg[32];
    mqc_str_t sw = {"c", 1};
    size_t len = mqc_encode_coordinator_online(msg, sizeof(msg), 100, sw);
    mqc_node_on_data(&node, topic, strlen(topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 1, "announced on the first coordinator epoch it saw");
    len = mqc_encode_coordinator_online(msg, sizeof(msg), 101, sw);
    mqc_node_on_data(&node, topic, strlen(topic), msg, len, 0, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 2 && strcmp(sent[1].topic, presence_topic) == 0, "no birth for a new coordinator epoch");
}

static void test_heartbeat_lists_held_task(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 49, 3, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    fail_publish = 2; /* the result cannot go out twice: the node keeps the task */
    mqc_node_poll(&node);
    clock_ms += 500;
    mqc_node_poll(&node);
    CHECK(sent_count == 2, "%d messages, want the birth and a heartbeat", sent_count);
    sent_t *hb = &sent[sent_count - 1];
    uint32_t session;
    mqc_iter_t it;
    mqc_task_ref_t ref;
    CHECK(strcmp(hb->topic, "mqc/v1/lab/nodes/esp-1/heartbeat") == 0 && hb->qos == 0, "no QoS 0 heartbeat");
    CHECK(mqc_decode_heartbeat(hb->data, hb->len, &session, &it) == MQC_OK && it.left == 1 &&
              mqc_next_task_ref(&it, &ref) && ref.id == 49 && ref.attempt == 3,
          "heartbeat does not list task 49 attempt 3");
    mqc_node_poll(&node);
    mqc_result_t r;
    CHECK(last_result(&r) && r.id == 49 && r.data_len == 2 && r.data[0] == 76,
          "the result was not sent again at the next poll");
}

static void test_offline_node_sends_nothing(void)
{
    setup();
    mqc_node_on_disconnect(&node);
    clock_ms += 10000;
    mqc_node_poll(&node);
    CHECK(sent_count == 1, "%d messages sent while disconnected", sent_count - 1);
}

static void test_chunk_gap_dropped(void)
{
    setup();
    uint8_t msg[128];
    size_t len = tasks_message(msg, sizeof(msg), 50, 1, red_green, sizeof(red_green));
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, 10, 0, len);
    mqc_node_on_data(&node, NULL, 0, msg + 20, len - 20, 20, len);
    mqc_node_poll(&node);
    CHECK(sent_count == 1 && node.stats.malformed_dropped == 1, "a message with a missing chunk was not dropped");
    /* The node still takes the next whole message. */
    mqc_node_on_data(&node, tasks_topic, strlen(tasks_topic), msg, len, 0, len);
    mqc_node_poll(&node);
    mqc_result_t r;
    CHECK(last_result(&r) && r.id == 50, "no result after a dropped message");
}

static void test_bad_config_rejected(void)
{
    mqc_platform_t p = {NULL, test_publish, test_subscribe, test_now, NULL};
    mqc_node_config_t bad_id = {.node_id = "a/b"};
    mqc_node_config_t bad_cluster = {.node_id = "n", .cluster = "a+b"};
    mqc_node_config_t good = {.node_id = "n"};
    CHECK(!mqc_node_init(&node, &bad_id, &p, buf, BUF_SIZE), "accepted node id a/b");
    CHECK(!mqc_node_init(&node, &bad_cluster, &p, buf, BUF_SIZE), "accepted cluster a+b");
    CHECK(!mqc_node_init(&node, &good, &p, buf, 40), "accepted a 40-byte buffer");
    CHECK(mqc_node_init(&node, &good, &p, buf, BUF_SIZE), "rejected a good config");
}

int main(void)
{
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"connect announces", test_connect_announces},
        {"task whole", test_task_whole},
        {"task in chunks", test_task_in_chunks},
        {"duplicate dropped", test_duplicate_dropped},
        {"oversized message fails task", test_oversized_message_fails_task},
        {"busy node declines", test_busy_node_declines},
        {"invalid payload fails", test_invalid_payload_fails},
        {"abort drops held task", test_abort_drops_held_task},
        {"stale will reannounces", test_stale_will_reannounces},
        {"stale birth reannounces", test_stale_birth_reannounces},
        {"new coordinator reannounces", test_new_coordinator_reannounces},
        {"heartbeat lists held task", test_heartbeat_lists_held_task},
        {"offline node sends nothing", test_offline_node_sends_nothing},
        {"chunk gap dropped", test_chunk_gap_dropped},
        {"bad config rejected", test_bad_config_rejected},
    };
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        run_test(tests[i].name, tests[i].fn, &passed, &failed);
    }
    printf("node: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
