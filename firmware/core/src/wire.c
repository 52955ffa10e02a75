/* Encoding and decoding of protocol messages; see include/mqc/wire.h. */
#include "mqc/wire.h"

#include <string.h>

/* ---- reading ------------------------------------------------------------ */

/* A reader walks a body. The first error sticks, as in the Go decoder. */
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    mqc_err_t err;
} reader_t;

static bool take(reader_t *r, size_t n, const uint8_t **out)
{
    if (r->err != MQC_OK) {
        return false;
    }
    if ((size_t)(r->end - r->p) < n) {
        r->err = MQC_ERR_TRUNCATED;
        return false;
    }
    *out = r->p;
    r->p += n;
    return true;
}

static uint8_t get_u8(reader_t *r)
{
    const uint8_t *b;
    return take(r, 1, &b) ? b[0] : 0;
}

static uint16_t get_u16(reader_t *r)
{
    const uint8_t *b;
    return take(r, 2, &b) ? (uint16_t)((b[0] << 8) | b[1]) : 0;
}

static uint32_t get_u32(reader_t *r)
{
    const uint8_t *b;
    if (!take(r, 4, &b)) {
        return 0;
    }
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static uint64_t get_u64(reader_t *r)
{
    uint64_t hi = get_u32(r);
    return (hi << 32) | get_u32(r);
}

static mqc_str_t get_str(reader_t *r, uint8_t max_len)
{
    mqc_str_t s = {0};
    uint8_t n = get_u8(r);
    const uint8_t *b;
    if (r->err == MQC_OK && n > max_len) {
        r->err = MQC_ERR_INVALID;
    }
    if (take(r, n, &b)) {
        s.ptr = (const char *)b;
        s.len = n;
    }
    return s;
}

static void fail_if(reader_t *r, bool bad)
{
    if (r->err == MQC_OK && bad) {
        r->err = MQC_ERR_INVALID;
    }
}

/* finish returns the reader's error, or MQC_ERR_TRAILING if bytes are left. */
static mqc_err_t finish(const reader_t *r)
{
    if (r->err != MQC_OK) {
        return r->err;
    }
    return r->p == r->end ? MQC_OK : MQC_ERR_TRAILING;
}

const char *mqc_err_name(mqc_err_t err)
{
    switch (err) {
    case MQC_OK:
        return "ok";
    case MQC_ERR_TRUNCATED:
        return "truncated";
    case MQC_ERR_TRAILING:
        return "trailing";
    case MQC_ERR_MAGIC:
        return "magic";
    case MQC_ERR_VERSION:
        return "version";
    case MQC_ERR_UNKNOWN_TYPE:
        return "unknown-type";
    case MQC_ERR_INVALID:
        return "invalid";
    }
    return "unknown";
}

mqc_err_t mqc_decode_header(const uint8_t *msg, size_t len, mqc_type_t *type)
{
    if (len < MQC_HEADER_SIZE) {
        return MQC_ERR_TRUNCATED;
    }
    if (msg[0] != MQC_MAGIC) {
        return MQC_ERR_MAGIC;
    }
    if (msg[1] != MQC_VERSION) {
        return MQC_ERR_VERSION;
    }
    if (msg[2] < MQC_TYPE_BIRTH || msg[2] > MQC_TYPE_ABORT) {
        return MQC_ERR_UNKNOWN_TYPE;
    }
    *type = (mqc_type_t)msg[2];
    return MQC_OK;
}

/* body opens a reader on the body of a message of the wanted type. */
static mqc_err_t body(const uint8_t *msg, size_t len, mqc_type_t want, reader_t *r)
{
    mqc_type_t type;
    mqc_err_t err = mqc_decode_header(msg, len, &type);
    if (err != MQC_OK) {
        return err;
    }
    if (type != want) {
        return MQC_ERR_INVALID;
    }
    r->p = msg + MQC_HEADER_SIZE;
    r->end = msg + len;
    r->err = MQC_OK;
    return MQC_OK;
}

static bool valid_chars(const char *s, size_t len, bool upper_and_colon)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                  (upper_and_colon && ((c >= 'A' && c <= 'Z') || c == ':'));
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool mqc_valid_node_id(const char *id, size_t len)
{
    return len >= 1 && len <= MQC_MAX_ID_LEN && valid_chars(id, len, true);
}

bool mqc_valid_kind(const char *kind, size_t len)
{
    return len >= 1 && len <= MQC_MAX_KIND_LEN && valid_chars(kind, len, false);
}

mqc_err_t mqc_decode_birth(const uint8_t *msg, size_t len, mqc_birth_t *out)
{
    reader_t r;
    mqc_err_t err = body(msg, len, MQC_TYPE_BIRTH, &r);
    if (err != MQC_OK) {
        return err;
    }
    memset(out, 0, sizeof(*out));
    out->session = get_u32(&r);
    out->slots = get_u16(&r);
    out->batch = get_u16(&r);
    out->prefetch = get_u16(&r);
    out->max_payload = get_u32(&r);
    out->heartbeat_ms = get_u32(&r);
    uint8_t draining = get_u8(&r);
    fail_if(&r, draining > 1);
    out->draining = draining == 1;
    out->node_id = get_str(&r, MQC_MAX_ID_LEN);
    out->software = get_str(&r, 255);
    out->kind_count = get_u8(&r);
    for (uint8_t i = 0; i < out->kind_count && r.err == MQC_OK; i++) {
        mqc_str_t kind = get_str(&r, MQC_MAX_KIND_LEN);
        if (i < MQC_MAX_KINDS) {
            out->kinds[i] = kind;
        }
    }
    /* The same checks, in the same order, as the Go decoder. */
    fail_if(&r, !mqc_valid_node_id(out->node_id.ptr, out->node_id.len));
    fail_if(&r, out->slots == 0 || out->batch == 0 || out->batch > MQC_MAX_BATCH);
    fail_if(&r, out->kind_count == 0 || out->kind_count > MQC_MAX_KINDS);
    for (uint8_t i = 0; i < out->kind_count && i < MQC_MAX_KINDS; i++) {
        fail_if(&r, !mqc_valid_kind(out->kinds[i].ptr, out->kinds[i].len));
    }
    return finish(&r);
}

mqc_err_t mqc_decode_death(const uint8_t *msg, size_t len, mqc_death_t *out)
{
    reader_t r;
    mqc_err_t err = body(msg, len, MQC_TYPE_DEATH, &r);
    if (err != MQC_OK) {
        return err;
    }
    out->session = get_u32(&r);
    out->reason = get_u8(&r);
    fail_if(&r, out->reason > MQC_DEATH_LEFT);
    return finish(&r);
}

mqc_err_t mqc_decode_coordinator(const uint8_t *msg, size_t len, uint32_t *epoch, mqc_str_t *software)
{
    mqc_type_t type;
    mqc_err_t err = mqc_decode_header(msg, len, &type);
    if (err != MQC_OK) {
        return err;
    }
    if (type != MQC_TYPE_COORDINATOR_ONLINE && type != MQC_TYPE_COORDINATOR_OFFLINE) {
        return MQC_ERR_INVALID;
    }
    reader_t r = {msg + MQC_HEADER_SIZE, msg + len, MQC_OK};
    *epoch = get_u32(&r);
    mqc_str_t sw = {"", 0};
    if (type == MQC_TYPE_COORDINATOR_ONLINE) {
        sw = get_str(&r, 255);
    }
    if (software) {
        *software = sw;
    }
    return finish(&r);
}

/*
 * count reads a 16-bit element count and checks that the rest of the body
 * can hold that many elements of at least min_size bytes, as the Go decoder
 * does, so that both reject the same messages with the same error.
 */
static uint16_t get_count(reader_t *r, size_t min_size, size_t max_count)
{
    uint16_t n = get_u16(r);
    if (r->err != MQC_OK) {
        return 0;
    }
    if (n > max_count) {
        r->err = MQC_ERR_INVALID;
        return 0;
    }
    if ((size_t)n * min_size > (size_t)(r->end - r->p)) {
        r->err = MQC_ERR_TRUNCATED;
        return 0;
    }
    return n;
}

/* decode_refs decodes a message of type that holds a u32 and a list of task
 * references: a heartbeat (any count) or an abort (1 to MQC_MAX_BATCH). */
static mqc_err_t decode_refs(const uint8_t *msg, size_t len, mqc_type_t type, uint32_t *value, mqc_iter_t *it)
{
    reader_t r;
    mqc_err_t err = body(msg, len, type, &r);
    if (err != MQC_OK) {
        return err;
    }
    *value = get_u32(&r);
    uint16_t n = get_count(&r, 10, type == MQC_TYPE_ABORT ? MQC_MAX_BATCH : 65535);
    fail_if(&r, type == MQC_TYPE_ABORT && n == 0);
    it->next = r.p;
    it->left = n;
    const uint8_t *skip;
    (void)take(&r, (size_t)n * 10, &skip);
    it->end = r.p;
    return finish(&r);
}

mqc_err_t mqc_decode_heartbeat(const uint8_t *msg, size_t len, uint32_t *session, mqc_iter_t *it)
{
    return decode_refs(msg, len, MQC_TYPE_HEARTBEAT, session, it);
}

mqc_err_t mqc_decode_abort(const uint8_t *msg, size_t len, uint32_t *epoch, mqc_iter_t *it)
{
    return decode_refs(msg, len, MQC_TYPE_ABORT, epoch, it);
}

bool mqc_next_task_ref(mqc_iter_t *it, mqc_task_ref_t *out)
{
    if (it->left == 0) {
        return false;
    }
    reader_t r = {it->next, it->end, MQC_OK};
    out->id = get_u64(&r);
    out->attempt = get_u16(&r);
    it->next = r.p;
    it->left--;
    return r.err == MQC_OK;
}

static void read_task(reader_t *r, mqc_task_t *t)
{
    t->id = get_u64(r);
    t->attempt = get_u16(r);
    t->deadline_ms = get_u32(r);
    t->kind = get_str(r, MQC_MAX_KIND_LEN);
    t->payload_len = get_u32(r);
    t->payload = NULL;
    (void)take(r, t->payload_len, &t->payload);
    fail_if(r, !mqc_valid_kind(t->kind.ptr, t->kind.len));
}

mqc_err_t mqc_decode_tasks(const uint8_t *msg, size_t len, uint32_t *epoch, mqc_iter_t *it)
{
    reader_t r;
    mqc_err_t err = body(msg, len, MQC_TYPE_TASKS, &r);
    if (err != MQC_OK) {
        return err;
    }
    *epoch = get_u32(&r);
    uint16_t n = get_count(&r, MQC_TASK_HEAD_SIZE(0), MQC_MAX_BATCH);
    fail_if(&r, n == 0);
    it->next = r.p;
    it->left = n;
    for (uint16_t i = 0; i < n && r.err == MQC_OK; i++) {
        mqc_task_t t;
        read_task(&r, &t);
    }
    it->end = r.p;
    return finish(&r);
}

bool mqc_next_task(mqc_iter_t *it, mqc_task_t *out)
{
    if (it->left == 0) {
        return false;
    }
    reader_t r = {it->next, it->end, MQC_OK};
    read_task(&r, out);
    it->next = r.p;
    it->left--;
    return r.err == MQC_OK;
}

mqc_err_t mqc_peek_first_task(const uint8_t *head, size_t head_len, size_t total_len, mqc_task_t *out)
{
    reader_t r;
    mqc_err_t err = body(head, head_len, MQC_TYPE_TASKS, &r);
    if (err != MQC_OK) {
        return err;
    }
    (void)get_u32(&r);
    uint16_t n = get_u16(&r);
    fail_if(&r, n == 0);
    out->id = get_u64(&r);
    out->attempt = get_u16(&r);
    out->deadline_ms = get_u32(&r);
    out->kind = get_str(&r, MQC_MAX_KIND_LEN);
    out->payload_len = get_u32(&r);
    out->payload = NULL;
    fail_if(&r, (size_t)(r.p - head) > total_len);
    return r.err;
}

static void read_result(reader_t *r, mqc_result_t *res)
{
    res->id = get_u64(r);
    res->attempt = get_u16(r);
    res->status = get_u8(r);
    res->data_len = get_u32(r);
    res->data = NULL;
    (void)take(r, res->data_len, &res->data);
    fail_if(r, res->status > MQC_STATUS_DECLINED);
}

mqc_err_t mqc_decode_results(const uint8_t *msg, size_t len, uint32_t *session, mqc_iter_t *it)
{
    reader_t r;
    mqc_err_t err = body(msg, len, MQC_TYPE_RESULTS, &r);
    if (err != MQC_OK) {
        return err;
    }
    *session = get_u32(&r);
    uint16_t n = get_count(&r, 15, MQC_MAX_BATCH);
    fail_if(&r, n == 0);
    it->next = r.p;
    it->left = n;
    for (uint16_t i = 0; i < n && r.err == MQC_OK; i++) {
        mqc_result_t res;
        read_result(&r, &res);
    }
    it->end = r.p;
    return finish(&r);
}

bool mqc_next_result(mqc_iter_t *it, mqc_result_t *out)
{
    if (it->left == 0) {
        return false;
    }
    reader_t r = {it->next, it->end, MQC_OK};
    read_result(&r, out);
    it->next = r.p;
    it->left--;
    return r.err == MQC_OK;
}

/* ---- writing ------------------------------------------------------------ */

/* A writer fills a buffer; overflow sticks and makes the encoder return 0. */
typedef struct {
    uint8_t *p;
    uint8_t *end;
    bool overflow;
} writer_t;

static uint8_t *room(writer_t *w, size_t n)
{
    if (w->overflow || (size_t)(w->end - w->p) < n) {
        w->overflow = true;
        return NULL;
    }
    uint8_t *b = w->p;
    w->p += n;
    return b;
}

static void put_u8(writer_t *w, uint8_t v)
{
    uint8_t *b = room(w, 1);
    if (b) {
        b[0] = v;
    }
}

static void put_u16(writer_t *w, uint16_t v)
{
    uint8_t *b = room(w, 2);
    if (b) {
        b[0] = (uint8_t)(v >> 8);
        b[1] = (uint8_t)v;
    }
}

static void put_u32(writer_t *w, uint32_t v)
{
    uint8_t *b = room(w, 4);
    if (b) {
        b[0] = (uint8_t)(v >> 24);
        b[1] = (uint8_t)(v >> 16);
        b[2] = (uint8_t)(v >> 8);
        b[3] = (uint8_t)v;
    }
}

static void put_u64(writer_t *w, uint64_t v)
{
    put_u32(w, (uint32_t)(v >> 32));
    put_u32(w, (uint32_t)v);
}

static void put_bytes(writer_t *w, const void *data, size_t n)
{
    uint8_t *b = room(w, n);
    if (b && n > 0) {
        memcpy(b, data, n);
    }
}

static void put_str(writer_t *w, mqc_str_t s)
{
    put_u8(w, s.len);
    put_bytes(w, s.ptr, s.len);
}

static writer_t start(uint8_t *buf, size_t cap, mqc_type_t type)
{
    writer_t w = {buf, buf + cap, false};
    put_u8(&w, MQC_MAGIC);
    put_u8(&w, MQC_VERSION);
    put_u8(&w, (uint8_t)type);
    put_u8(&w, 0);
    return w;
}

static size_t done(const writer_t *w, const uint8_t *buf)
{
    return w->overflow ? 0 : (size_t)(w->p - buf);
}

size_t mqc_encode_birth(uint8_t *buf, size_t cap, const mqc_birth_t *m)
{
    if (!mqc_valid_node_id(m->node_id.ptr, m->node_id.len) || m->slots == 0 || m->batch == 0 ||
        m->batch > MQC_MAX_BATCH || m->kind_count == 0 || m->kind_count > MQC_MAX_KINDS) {
        return 0;
    }
    writer_t w = start(buf, cap, MQC_TYPE_BIRTH);
    put_u32(&w, m->session);
    put_u16(&w, m->slots);
    put_u16(&w, m->batch);
    put_u16(&w, m->prefetch);
    put_u32(&w, m->max_payload);
    put_u32(&w, m->heartbeat_ms);
    put_u8(&w, m->draining ? 1 : 0);
    put_str(&w, m->node_id);
    put_str(&w, m->software);
    put_u8(&w, m->kind_count);
    for (uint8_t i = 0; i < m->kind_count; i++) {
        if (!mqc_valid_kind(m->kinds[i].ptr, m->kinds[i].len)) {
            return 0;
        }
        put_str(&w, m->kinds[i]);
    }
    return done(&w, buf);
}

size_t mqc_encode_death(uint8_t *buf, size_t cap, const mqc_death_t *m)
{
    writer_t w = start(buf, cap, MQC_TYPE_DEATH);
    put_u32(&w, m->session);
    put_u8(&w, m->reason);
    return done(&w, buf);
}

size_t mqc_encode_heartbeat(uint8_t *buf, size_t cap, uint32_t session, const mqc_task_ref_t *refs, uint16_t count)
{
    writer_t w = start(buf, cap, MQC_TYPE_HEARTBEAT);
    put_u32(&w, session);
    put_u16(&w, count);
    for (uint16_t i = 0; i < count; i++) {
        put_u64(&w, refs[i].id);
        put_u16(&w, refs[i].attempt);
    }
    return done(&w, buf);
}

size_t mqc_encode_coordinator_online(uint8_t *buf, size_t cap, uint32_t epoch, mqc_str_t software)
{
    writer_t w = start(buf, cap, MQC_TYPE_COORDINATOR_ONLINE);
    put_u32(&w, epoch);
    put_str(&w, software);
    return done(&w, buf);
}

size_t mqc_encode_coordinator_offline(uint8_t *buf, size_t cap, uint32_t epoch)
{
    writer_t w = start(buf, cap, MQC_TYPE_COORDINATOR_OFFLINE);
    put_u32(&w, epoch);
    return done(&w, buf);
}

size_t mqc_encode_tasks(uint8_t *buf, size_t cap, uint32_t epoch, const mqc_task_t *tasks, uint16_t count)
{
    if (count == 0 || count > MQC_MAX_BATCH) {
        return 0;
    }
    writer_t w = start(buf, cap, MQC_TYPE_TASKS);
    put_u32(&w, epoch);
    put_u16(&w, count);
    for (uint16_t i = 0; i < count; i++) {
        const mqc_task_t *t = &tasks[i];
        if (!mqc_valid_kind(t->kind.ptr, t->kind.len)) {
            return 0;
        }
        put_u64(&w, t->id);
        put_u16(&w, t->attempt);
        put_u32(&w, t->deadline_ms);
        put_str(&w, t->kind);
        put_u32(&w, t->payload_len);
        put_bytes(&w, t->payload, t->payload_len);
    }
    return done(&w, buf);
}

size_t mqc_encode_results(uint8_t *buf, size_t cap, uint32_t session, const mqc_result_t *results, uint16_t count)
{
    if (count == 0 || count > MQC_MAX_BATCH) {
        return 0;
    }
    writer_t w = start(buf, cap, MQC_TYPE_RESULTS);
    put_u32(&w, session);
    put_u16(&w, count);
    for (uint16_t i = 0; i < count; i++) {
        const mqc_result_t *r = &results[i];
        if (r->status > MQC_STATUS_DECLINED) {
            return 0;
        }
        put_u64(&w, r->id);
        put_u16(&w, r->attempt);
        put_u8(&w, r->status);
        put_u32(&w, r->data_len);
        put_bytes(&w, r->data, r->data_len);
    }
    return done(&w, buf);
}

size_t mqc_encode_abort(uint8_t *buf, size_t cap, uint32_t epoch, const mqc_task_ref_t *refs, uint16_t count)
{
    if (count == 0 || count > MQC_MAX_BATCH) {
        return 0;
    }
    writer_t w = start(buf, cap, MQC_TYPE_ABORT);
    put_u32(&w, epoch);
    put_u16(&w, count);
    for (uint16_t i = 0; i < count; i++) {
        put_u64(&w, refs[i].id);
        put_u16(&w, refs[i].attempt);
    }
    return done(&w, buf);
}

static uint8_t *store_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        *p++ = (uint8_t)(v >> (8 * i));
    }
    return p;
}

void mqc_write_result1_head(uint8_t *head, uint32_t session, uint64_t id, uint16_t attempt, mqc_status_t status,
                            uint32_t data_len)
{
    uint8_t *p = head;
    *p++ = MQC_MAGIC;
    *p++ = MQC_VERSION;
    *p++ = MQC_TYPE_RESULTS;
    *p++ = 0;
    p = store_be(p, session, 4);
    p = store_be(p, 1, 2);
    p = store_be(p, id, 8);
    p = store_be(p, attempt, 2);
    *p++ = (uint8_t)status;
    store_be(p, data_len, 4);
}
