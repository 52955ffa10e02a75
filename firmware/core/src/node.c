/* The node's protocol logic; see include/mqc/node.h. */
#include "mqc/node.h"

#include <string.h>

#include "mqc/gray.h"

static const char kind_gray[] = MQC_GRAY_KIND;

/* ---- topics ------------------------------------------------------------- */

/* append copies s to dst at *pos, keeping room for the final NUL. */
static bool append(char *dst, size_t cap, size_t *pos, const char *s, size_t len)
{
    if (*pos + len >= cap) {
        return false;
    }
    memcpy(dst + *pos, s, len);
    *pos += len;
    dst[*pos] = '\0';
    return true;
}

static bool append_str(char *dst, size_t cap, size_t *pos, const char *s)
{
    return append(dst, cap, pos, s, strlen(s));
}

/* valid_level checks one topic level of the prefix, as protocol.NewTopics does. */
static bool valid_level(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_root(const char *root)
{
    const char *start = root;
    for (const char *p = root;; p++) {
        if (*p == '/' || *p == '\0') {
            if (!valid_level(start, (size_t)(p - start))) {
                return false;
            }
            if (*p == '\0') {
                return true;
            }
            start = p + 1;
        }
    }
}

/* node_topic builds "<prefix>/nodes/<id>/<channel>" in n->topic. */
static const char *node_topic(mqc_node_t *n, const char *channel)
{
    size_t pos = 0;
    n->topic[0] = '\0';
    append_str(n->topic, sizeof(n->topic), &pos, n->prefix);
    append_str(n->topic, sizeof(n->topic), &pos, "/nodes/");
    append_str(n->topic, sizeof(n->topic), &pos, n->cfg.node_id);
    append_str(n->topic, sizeof(n->topic), &pos, "/");
    append_str(n->topic, sizeof(n->topic), &pos, channel);
    return n->topic;
}

static const char *coordinator_topic(mqc_node_t *n)
{
    size_t pos = 0;
    append_str(n->topic, sizeof(n->topic), &pos, n->prefix);
    append_str(n->topic, sizeof(n->topic), &pos, "/coordinator/presence");
    return n->topic;
}

static bool topic_is(const char *topic, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(topic, want, len) == 0;
}

/* ---- set-up ------------------------------------------------------------- */

static void log_line(mqc_node_t *n, int level, const char *msg)
{
    if (n->platform.log) {
        n->platform.log(n->platform.ctx, level, msg);
    }
}

uint32_t mqc_node_max_payload(size_t cap)
{
    size_t overhead = MQC_TASKS_HEAD_SIZE + MQC_TASK_HEAD_SIZE(MQC_MAX_KIND_LEN);
    return cap > overhead ? (uint32_t)(cap - overhead) : 0;
}

bool mqc_node_init(mqc_node_t *n, const mqc_node_config_t *cfg, const mqc_platform_t *platform, uint8_t *buf,
                   size_t cap)
{
    memset(n, 0, sizeof(*n));
    n->cfg = *cfg;
    n->platform = *platform;
    n->buf = buf;
    n->cap = cap;
    if (!n->cfg.topic_root) {
        n->cfg.topic_root = "mqc";
    }
    if (!n->cfg.cluster) {
        n->cfg.cluster = "default";
    }
    if (!n->cfg.software) {
        n->cfg.software = "mqcluster-fw";
    }
    if (n->cfg.heartbeat_ms == 0) {
        n->cfg.heartbeat_ms = 2000;
    }
    if (!cfg->node_id || !mqc_valid_node_id(cfg->node_id, strlen(cfg->node_id)) || !valid_root(n->cfg.topic_root) ||
        !valid_level(n->cfg.cluster, strlen(n->cfg.cluster)) || mqc_node_max_payload(cap) == 0) {
        return false;
    }
    size_t pos = 0;
    bool ok = append_str(n->prefix, sizeof(n->prefix), &pos, n->cfg.topic_root) &&
              append_str(n->prefix, sizeof(n->prefix), &pos, "/v1/") &&
              append_str(n->prefix, sizeof(n->prefix), &pos, n->cfg.cluster);
    /* The node's longest topic must fit in MQC_TOPIC_MAX too. */
    ok = ok && pos + strlen("/nodes/") + strlen(cfg->node_id) + strlen("/heartbeat") < MQC_TOPIC_MAX;
    pos = 0;
    return ok && append_str(n->client_id, sizeof(n->client_id), &pos, n->prefix) &&
           append_str(n->client_id, sizeof(n->client_id), &pos, "/") &&
           append_str(n->client_id, sizeof(n->client_id), &pos, cfg->node_id);
}

const char *mqc_node_client_id(const mqc_node_t *n)
{
    return n->client_id;
}

size_t mqc_node_will(mqc_node_t *n, uint32_t session, const char **topic, uint8_t *out, size_t cap)
{
    mqc_death_t d = {session, MQC_DEATH_CONNECTION_LOST};
    *topic = node_topic(n, "presence");
    return mqc_encode_death(out, cap, &d);
}

/* announce publishes the retained birth of the current session. */
static void announce(mqc_node_t *n)
{
    uint8_t msg[4 + 4 + 2 + 2 + 2 + 4 + 4 + 1 + 1 + MQC_MAX_ID_LEN + 1 + 64 + 1 + 1 + sizeof(kind_gray)];
    size_t software_len = strlen(n->cfg.software);
    mqc_birth_t b = {
        .session = n->session,
        .slots = 1,
        .batch = 1,
        .prefetch = 0, /* the core keeps one tile: a second task is declined */
        .max_payload = mqc_node_max_payload(n->cap),
        .heartbeat_ms = n->cfg.heartbeat_ms,
        .node_id = {n->cfg.node_id, (uint8_t)strlen(n->cfg.node_id)},
        .software = {n->cfg.software, (uint8_t)(software_len > 64 ? 64 : software_len)},
        .kind_count = 1,
        .kinds = {{kind_gray, (uint8_t)(sizeof(kind_gray) - 1)}},
    };
    size_t len = mqc_encode_birth(msg, sizeof(msg), &b);
    if (len == 0 || n->platform.publish(n->platform.ctx, node_topic(n, "presence"), msg, len, 1, true) != 0) {
        n->announce_pending = true; /* try again at the next poll */
        return;
    }
    n->announce_pending = false;
}

void mqc_node_on_connect(mqc_node_t *n, uint32_t session)
{
    n->session = session;
    n->connected = true;
    n->rx = MQC_RX_NONE;
    bool ok = n->platform.subscribe(n->platform.ctx, node_topic(n, "tasks"), 1) == 0 &&
              n->platform.subscribe(n->platform.ctx, node_topic(n, "presence"), 1) == 0 &&
              n->platform.subscribe(n->platform.ctx, coordinator_topic(n), 1) == 0;
    if (!ok) {
        log_line(n, 0, "subscribe failed");
    }
    announce(n);
    n->last_heartbeat = n->platform.now_ms(n->platform.ctx);
    n->last_repair = n->last_heartbeat - 5000;
    log_line(n, 2, "connected and announced");
}

void mqc_node_on_disconnect(mqc_node_t *n)
{
    n->connected = false;
    n->rx = MQC_RX_NONE;
}

/* ---- receiving ---------------------------------------------------------- */

static void remember(mqc_node_t *n, uint64_t id, uint16_t attempt);

static bool same_ref(mqc_task_ref_t a, uint64_t id, uint16_t attempt)
{
    return a.id == id && a.attempt == attempt;
}

/* known reports whether the task attempt is held or had its result sent lately. */
static bool known(const mqc_node_t *n, uint64_t id, uint16_t attempt)
{
    if (n->holding && same_ref((mqc_task_ref_t){n->task.id, n->task.attempt}, id, attempt)) {
        return true;
    }
    for (unsigned i = 0; i < MQC_RECENT_MAX; i++) {
        if (n->recent[i].attempt != 0 && same_ref(n->recent[i], id, attempt)) {
            return true;
        }
    }
    return false;
}

static void queue_reply(mqc_node_t *n, uint64_t id, uint16_t attempt, mqc_status_t status, const char *reason)
{
    if (n->reply_pending) {
        /* One reply slot: the coordinator finds a task lost by its absence
         * from the heartbeats and runs it again. */
        log_line(n, 1, "reply dropped: another reply is pending");
        return;
    }
    n->reply_pending = true;
    n->reply_ref = (mqc_task_ref_t){id, attempt};
    n->reply_status = status;
    n->reply_reason = reason;
}

static void begin_message(mqc_node_t *n, const char *topic, size_t topic_len, size_t total)
{
    n->rx_total = total;
    n->rx_got = 0;
    n->head_len = 0;
    n->rx = MQC_RX_IGNORED;
    if (!topic) {
        return;
    }
    if (topic_is(topic, topic_len, node_topic(n, "tasks"))) {
        n->rx = (total <= n->cap && !n->holding) ? MQC_RX_TASKS : MQC_RX_TASKS_HEAD;
    } else if (topic_is(topic, topic_len, node_topic(n, "presence"))) {
        n->rx = MQC_RX_PRESENCE;
    } else if (topic_is(topic, topic_len, coordinator_topic(n))) {
        n->rx = MQC_RX_COORDINATOR;
    }
}

/* abort_tasks handles an abort message: the held task, if listed and not
 * yet converted, is dropped and gets a declined result. */
static void abort_tasks(mqc_node_t *n, const uint8_t *msg, size_t len)
{
    uint32_t epoch;
    mqc_iter_t it;
    mqc_task_ref_t ref;
    if (mqc_decode_abort(msg, len, &epoch, &it) != MQC_OK) {
        n->stats.malformed_dropped++;
        return;
    }
    while (mqc_next_task_ref(&it, &ref)) {
        if (n->holding && n->task_ready && same_ref((mqc_task_ref_t){n->task.id, n->task.attempt}, ref.id, ref.attempt)) {
            n->task_ready = false;
            n->holding = false;
            remember(n, ref.id, ref.attempt);
            queue_reply(n, ref.id, ref.attempt, MQC_STATUS_DECLINED, "aborted: the job was cancelled");
            log_line(n, 2, "task aborted");
        }
    }
}

static bool is_abort(const uint8_t *msg, size_t len)
{
    mqc_type_t type;
    return mqc_decode_header(msg, len, &type) == MQC_OK && type == MQC_TYPE_ABORT;
}

/* take_task accepts the first task of a complete tasks message in buf. */
static void take_task(mqc_node_t *n)
{
    if (is_abort(n->buf, n->rx_total)) {
        abort_tasks(n, n->buf, n->rx_total);
        return;
    }
    uint32_t epoch;
    mqc_iter_t it;
    mqc_task_t t;
    if (mqc_decode_tasks(n->buf, n->rx_total, &epoch, &it) != MQC_OK || !mqc_next_task(&it, &t)) {
        n->stats.malformed_dropped++;
        log_line(n, 1, "dropped malformed tasks message");
        return;
    }
    if (it.left > 0) {
        log_line(n, 1, "tasks message contains more than one task; the node takes the first, the rest run elsewhere");
    }
    if (known(n, t.id, t.attempt)) {
        n->stats.duplicates_dropped++;
        return;
    }
    if (!(t.kind.len == sizeof(kind_gray) - 1 && memcmp(t.kind.ptr, kind_gray, t.kind.len) == 0)) {
        queue_reply(n, t.id, t.attempt, MQC_STATUS_FAILED, "this node runs only image.gray tasks");
        return;
    }
    n->task = t;
    n->holding = true;
    n->task_ready = true;
}

/* answer_head handles a tasks message that is not in buf, because it is too
 * large for it or arrives while the node already has a task. */
static void answer_head(mqc_node_t *n)
{
    if (is_abort(n->head, n->head_len)) {
        if (n->rx_total <= n->head_len) {
            abort_tasks(n, n->head, n->rx_total);
        }
        return;
    }
    mqc_task_t t;
    if (mqc_peek_first_task(n->head, n->head_len, n->rx_total, &t) != MQC_OK) {
        n->stats.malformed_dropped++;
        return;
    }
    if (known(n, t.id, t.attempt)) {
        n->stats.duplicates_dropped++;
        return;
    }
    if (n->rx_total > n->cap) {
        n->stats.oversized++;
        queue_reply(n, t.id, t.attempt, MQC_STATUS_FAILED, "tasks message larger than this node's buffer");
        return;
    }
    queue_reply(n, t.id, t.attempt, MQC_STATUS_DECLINED, "node busy with another task");
}

static uint32_t head_u32(const mqc_node_t *n)
{
    const uint8_t *b = n->head + MQC_HEADER_SIZE;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* The presence messages are read from their first bytes: the header, the
 * session or epoch that follows it, and a death's reason. */
static void presence_message(mqc_node_t *n)
{
    mqc_type_t type;
    if (n->head_len < 8 || mqc_decode_header(n->head, n->head_len, &type) != MQC_OK) {
        return;
    }
    /* A late will of an older connection, or its birth resent late from the
     * MQTT client's outbox, replaced the retained birth. A clean leave is
     * never late: only the node itself publishes it. */
    bool late_will = type == MQC_TYPE_DEATH && n->head_len >= 9 && n->head[8] == MQC_DEATH_CONNECTION_LOST;
    if (n->rx == MQC_RX_PRESENCE && (late_will || type == MQC_TYPE_BIRTH) && head_u32(n) != n->session) {
        /* At most once every 5 s: two nodes sharing an id would otherwise
         * reply to each other's births for ever. */
        uint32_t now = n->platform.now_ms(n->platform.ctx);
        if ((uint32_t)(now - n->last_repair) >= 5000) {
            n->last_repair = now;
            n->announce_pending = true;
        }
        return;
    }
    if (n->rx == MQC_RX_COORDINATOR && type == MQC_TYPE_COORDINATOR_ONLINE) {
        uint32_t epoch = head_u32(n);
        if (n->coordinator_epoch != 0 && epoch != n->coordinator_epoch) {
            n->announce_pending = true; /* a new coordinator: announce again */
        }
        n->coordinator_epoch = epoch;
        log_line(n, 2, "coordinator online");
    } else if (n->rx == MQC_RX_COORDINATOR && type == MQC_TYPE_COORDINATOR_OFFLINE) {
        log_line(n, 1, "coordinator offline");
    }
}

static void end_message(mqc_node_t *n)
{
    switch (n->rx) {
    case MQC_RX_TASKS:
        take_task(n);
        break;
    case MQC_RX_TASKS_HEAD:
        answer_head(n);
        break;
    case MQC_RX_PRESENCE:
    case MQC_RX_COORDINATOR:
        presence_message(n);
        break;
    default:
        break;
    }
    n->rx = MQC_RX_NONE;
}

void mqc_node_on_data(mqc_node_t *n, const char *topic, size_t topic_len, const uint8_t *data, size_t len,
                      size_t offset, size_t total)
{
    if (offset == 0) {
        begin_message(n, topic, topic_len, total);
    }
    if (n->rx == MQC_RX_NONE) {
        return; /* a chunk whose first chunk was never seen */
    }
    if (offset != n->rx_got || total != n->rx_total || len > total - offset) {
        n->stats.malformed_dropped++;
        log_line(n, 1, "dropped a message whose chunks do not follow each other");
        n->rx = MQC_RX_NONE;
        return;
    }
    if (n->head_len < MQC_HEAD_MAX) {
        size_t k = MQC_HEAD_MAX - n->head_len < len ? MQC_HEAD_MAX - n->head_len : len;
        memcpy(n->head + n->head_len, data, k);
        n->head_len += k;
    }
    if (n->rx == MQC_RX_TASKS && len > 0) {
        memcpy(n->buf + offset, data, len);
    }
    n->rx_got += len;
    if (n->rx_got == n->rx_total) {
        end_message(n);
    }
}

/* ---- running and sending ------------------------------------------------ */

static int publish_results(mqc_node_t *n, const uint8_t *msg, size_t len)
{
    return n->platform.publish(n->platform.ctx, node_topic(n, "results"), msg, len, 1, false);
}

static void send_reply(mqc_node_t *n)
{
    uint8_t msg[MQC_RESULT1_HEAD_SIZE + 80];
    size_t reason_len = strlen(n->reply_reason);
    if (reason_len > sizeof(msg) - MQC_RESULT1_HEAD_SIZE) {
        reason_len = sizeof(msg) - MQC_RESULT1_HEAD_SIZE;
    }
    mqc_write_result1_head(msg, n->session, n->reply_ref.id, n->reply_ref.attempt, n->reply_status,
                           (uint32_t)reason_len);
    memcpy(msg + MQC_RESULT1_HEAD_SIZE, n->reply_reason, reason_len);
    if (publish_results(n, msg, MQC_RESULT1_HEAD_SIZE + reason_len) == 0) {
        n->reply_pending = false;
    }
}

static void remember(mqc_node_t *n, uint64_t id, uint16_t attempt)
{
    n->recent[n->recent_next] = (mqc_task_ref_t){id, attempt};
    n->recent_next = (n->recent_next + 1) % MQC_RECENT_MAX;
}

static void release(mqc_node_t *n)
{
    remember(n, n->task.id, n->task.attempt);
    n->task_ready = false;
    n->result_ready = false;
    n->holding = false;
}

/* send_result publishes the converted tile. If the publish fails, the node
 * keeps the result and tries again at the next poll, because a result sent
 * late still counts if it reaches the coordinator first. */
static void send_result(mqc_node_t *n)
{
    if (publish_results(n, n->result_msg, n->result_len) != 0) {
        log_line(n, 1, "sending the result failed; trying again");
        return;
    }
    n->stats.tasks_done++;
    release(n);
}

/*
 * run_task converts the held tile in place. The results head goes in the 25
 * bytes before the output, over the task head that is no longer needed, so
 * the result is sent from the buffer with no copy.
 */
static void run_task(mqc_node_t *n)
{
    mqc_task_t t = n->task;
    mqc_gray_header_t h;
    const char *bad = mqc_gray_parse(t.payload, t.payload_len, &h);
    n->task_ready = false;
    if (bad) {
        queue_reply(n, t.id, t.attempt, MQC_STATUS_FAILED, bad);
        n->stats.tasks_failed++;
        release(n);
        return;
    }
    uint8_t *out = n->buf + (t.payload - n->buf) + MQC_GRAY_HEADER_SIZE;
    mqc_gray_convert(&h, t.payload, out);
    size_t out_len = mqc_gray_output_size(&h);
    n->result_msg = out - MQC_RESULT1_HEAD_SIZE;
    n->result_len = MQC_RESULT1_HEAD_SIZE + out_len;
    mqc_write_result1_head(n->result_msg, n->session, t.id, t.attempt, MQC_STATUS_OK, (uint32_t)out_len);
    n->result_ready = true;
    send_result(n);
}

static void heartbeat(mqc_node_t *n, uint32_t now)
{
    uint8_t msg[MQC_HEADER_SIZE + 4 + 2 + 10];
    mqc_task_ref_t ref = {n->task.id, n->task.attempt};
    size_t len = mqc_encode_heartbeat(msg, sizeof(msg), n->session, &ref, n->holding ? 1 : 0);
    /* QoS 0: a heartbeat is never queued while the broker is away. */
    n->platform.publish(n->platform.ctx, node_topic(n, "heartbeat"), msg, len, 0, false);
    n->last_heartbeat = now;
}

void mqc_node_poll(mqc_node_t *n)
{
    if (!n->connected) {
        return;
    }
    if (n->announce_pending) {
        announce(n);
    }
    if (n->reply_pending) {
        send_reply(n);
    }
    if (n->task_ready) {
        run_task(n);
    } else if (n->result_ready) {
        send_result(n);
    }
    uint32_t now = n->platform.now_ms(n->platform.ctx);
    if ((uint32_t)(now - n->last_heartbeat) >= n->cfg.heartbeat_ms) {
        heartbeat(n, now);
    }
}

void mqc_node_leave(mqc_node_t *n)
{
    uint8_t msg[MQC_HEADER_SIZE + 5];
    mqc_death_t d = {n->session, MQC_DEATH_LEFT};
    size_t len = mqc_encode_death(msg, sizeof(msg), &d);
    if (n->connected) {
        n->platform.publish(n->platform.ctx, node_topic(n, "presence"), msg, len, 1, true);
    }
}
