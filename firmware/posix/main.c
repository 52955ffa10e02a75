/*
 * mqc-node: the firmware core as a Linux program, over Eclipse Paho MQTT C.
 * It joins a cluster as a board would, so the Go tests can run real C nodes
 * beside Go workers.
 *
 *   mqc-node --broker tcp://127.0.0.1:1883 --id c-node-1 [--cluster NAME]
 *            [--buffer BYTES] [--heartbeat MS] [--keepalive S] [--task-delay MS]
 *            [--ca FILE [--cert FILE --key FILE]] [--username NAME [--password-file FILE]]
 *
 * --task-delay holds each task that long before converting it, as a slow
 * board would take, so tests can kill the node in the middle of a task.
 * With an ssl:// or mqtts:// broker URL the node connects over TLS; the
 * password comes from MQC_PASSWORD or --password-file (see security.h).
 */
#define _GNU_SOURCE /* SO_PROTOCOL */

#include <MQTTClient.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqc/node.h"
#include "security.h"

/* The largest --buffer: a 256x256 RGB tile at 16 bits and the message head. */
#define BUFFER_MAX (6 + 256 * 256 * 6 + 128)
/* The default --buffer: a 128x128 RGB tile at 8 bits, as on an ESP32. */
#define BUFFER_DEFAULT (6 + 128 * 128 * 3 + MQC_TASKS_HEAD_SIZE + MQC_TASK_HEAD_SIZE(MQC_MAX_KIND_LEN))

static uint8_t buffer[BUFFER_MAX];

typedef struct {
    const char *broker;
    const char *id;
    const char *cluster;
    const char *root;
    size_t buffer;
    uint32_t heartbeat_ms;
    int keepalive_s;
    uint32_t task_delay_ms;
    security_t security;
} options_t;

typedef struct {
    MQTTClient client;
    pthread_mutex_t lock; /* serializes every call into node */
    mqc_node_t node;
    volatile sig_atomic_t lost;
    const char *id;
} app_t;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)(ts.tv_sec * 1000u + (uint32_t)(ts.tv_nsec / 1000000));
}

static void log_line(void *ctx, int level, const char *msg)
{
    app_t *app = ctx;
    static const char *levels[] = {"error", "warning", "info"};
    fprintf(stderr, "mqc-node %s: %s: %s\n", app->id, levels[level < 0 || level > 2 ? 0 : level], msg);
}

static int publish(void *ctx, const char *topic, const uint8_t *data, size_t len, int qos, bool retain)
{
    app_t *app = ctx;
    /* Paho copies the payload before MQTTClient_publish returns. */
    int rc = MQTTClient_publish(app->client, topic, (int)len, data, qos, retain ? 1 : 0, NULL);
    return rc == MQTTCLIENT_SUCCESS ? 0 : -1;
}

static int subscribe(void *ctx, const char *topic, int qos)
{
    app_t *app = ctx;
    return MQTTClient_subscribe(app->client, topic, qos) == MQTTCLIENT_SUCCESS ? 0 : -1;
}

/* on_message runs on Paho's thread. Paho hands over whole messages, so each
 * is one chunk at offset 0. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTClient_message *m)
{
    app_t *app = ctx;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    pthread_mutex_lock(&app->lock);
    mqc_node_on_data(&app->node, topic, tlen, m->payload, (size_t)m->payloadlen, 0, (size_t)m->payloadlen);
    pthread_mutex_unlock(&app->lock);
    MQTTClient_freeMessage(&m);
    MQTTClient_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause)
{
    app_t *app = ctx;
    fprintf(stderr, "mqc-node %s: warning: connection lost (%s), reconnecting\n", app->id, cause ? cause : "no cause");
    app->lost = 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stopping) {
    }
}

/*
 * disable_nagle sets TCP_NODELAY on the process's TCP sockets, of which Paho's
 * connection is the only one. Paho MQTT C 1.3 leaves Nagle's algorithm on and
 * offers no option for it, and with it every result of a few kilobytes waits
 * about 40 ms for the broker's delayed ACK before its last segment leaves.
 */
static void disable_nagle(void)
{
    for (int fd = 3; fd < 1024; fd++) {
        int protocol = 0, on = 1;
        socklen_t len = sizeof(protocol);
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 && protocol == IPPROTO_TCP) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        }
    }
}

/* connect_once connects with the will of session. Returns 0 on success. */
static int connect_once(app_t *app, const options_t *o, uint32_t session)
{
    uint8_t will[16];
    const char *will_topic;
    pthread_mutex_lock(&app->lock);
    size_t will_len = mqc_node_will(&app->node, session, &will_topic, will, sizeof(will));
    char topic[MQC_TOPIC_MAX];
    snprintf(topic, sizeof(topic), "%s", will_topic);
    pthread_mutex_unlock(&app->lock);

    MQTTClient_willOptions w = MQTTClient_willOptions_initializer;
    w.topicName = topic;
    w.payload.data = will;
    w.payload.len = (int)will_len;
    w.qos = 1;
    w.retained = 1;
    MQTTClient_connectOptions c = MQTTClient_connectOptions_initializer;
    c.keepAliveInterval = o->keepalive_s;
    c.cleansession = 1;
    c.will = &w;
    c.connectTimeout = 5;
    /* The protocol is MQTT 3.1.1. Paho's default tries 3.1 after a rejected
     * connect, and the return code of that attempt would replace the first. */
    c.MQTTVersion = MQTTVERSION_3_1_1;
    MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
    security_apply(&o->security, app->id, &c, &ssl);
    int rc = MQTTClient_connect(app->client, &c);
    if (rc != MQTTCLIENT_SUCCESS) {
        return rc;
    }
    app->lost = 0;
    disable_nagle();
    pthread_mutex_lock(&app->lock);
    mqc_node_on_connect(&app->node, session);
    pthread_mutex_unlock(&app->lock);
    fprintf(stderr, "mqc-node %s: info: connected to %s, session %u\n", app->id, o->broker, (unsigned)session);
    return 0;
}

/* describe_connect_error returns what a failed MQTTClient_connect means: a
 * CONNACK return code of MQTT 3.1.1 (1 to 5), or an error of Paho. */
static const char *describe_connect_error(int rc, const options_t *o)
{
    switch (rc) {
    case 1:
        return "the broker does not accept MQTT 3.1.1";
    case 2:
        return "the broker rejected the client id: it must accept ids longer than 23 characters";
    case 3:
        return "the broker is unavailable";
    case 4:
        return "bad user name or password: check --username and " PASSWORD_ENV " or --password-file";
    case 5:
        return "not authorized: check --username and " PASSWORD_ENV " or --password-file, or --cert and --key";
    case MQTTCLIENT_FAILURE:
        if (o->security.tls) {
            return "no connection or TLS handshake failed: check the address, that --ca signed the broker's "
                   "certificate, and that the certificate names the host of --broker";
        }
        return "no connection: check the address and that the broker listens there";
    default:
        return MQTTClient_strerror(rc);
    }
}

/* run reconnects with backoff for ever and polls the node until a signal. */
static void run(app_t *app, const options_t *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Sessions grow from run to run: milliseconds times 16, plus 0 to 15
     * from the clock's nanoseconds and the pid, so that two processes
     * started with one id in the same millisecond still differ. */
    uint32_t ms = (uint32_t)(ts.tv_sec * 1000u + (uint32_t)(ts.tv_nsec / 1000000));
    uint32_t session = ms << 4 | (((uint32_t)ts.tv_nsec ^ (uint32_t)getpid()) & 15u);
    long backoff = 100;
    bool connected = false;
    bool delaying = false;
    uint32_t ready_at = 0;
    while (!stopping) {
        if (!connected) {
            int rc = connect_once(app, o, session);
            if (rc != 0) {
                fprintf(stderr, "mqc-node %s: warning: connect to %s failed (code %d: %s), retrying in %ld ms\n",
                        app->id, o->broker, rc, describe_connect_error(rc, o), backoff);
                sleep_ms(backoff);
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
                continue;
            }
            connected = true;
            backoff = 100;
        }
        if (app->lost) {
            pthread_mutex_lock(&app->lock);
            mqc_node_on_disconnect(&app->node);
            pthread_mutex_unlock(&app->lock);
            connected = false;
            session++;
            continue;
        }
        pthread_mutex_lock(&app->lock);
        if (app->node.task_ready && !delaying) {
            delaying = true;
            ready_at = now_ms(NULL);
        }
        if (!delaying || now_ms(NULL) - ready_at >= o->task_delay_ms) {
            mqc_node_poll(&app->node);
            delaying = false;
        }
        pthread_mutex_unlock(&app->lock);
        sleep_ms(2);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mqc-node --broker tcp://HOST:PORT --id NODE_ID [--cluster NAME] [--topic-root ROOT]\n"
            "                [--buffer BYTES] [--heartbeat MS] [--keepalive SECONDS] [--task-delay MS]\n"
            "                [--ca FILE [--cert FILE --key FILE]] [--username NAME [--password-file FILE]]\n"
            "\n"
            "--broker takes tcp:// or mqtt://, or ssl:// or mqtts:// for TLS, which needs --ca: the PEM\n"
            "certificate of the CA that signed the broker's certificate. The node checks that certificate\n"
            "and that it names the host of --broker. --cert and --key are the PEM client certificate and\n"
            "its key, for mutual TLS. The broker password is read from the environment variable\n"
            PASSWORD_ENV " or from the first line of --password-file, never from a flag.\n");
}

static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){"tcp://127.0.0.1:1883", NULL, NULL, NULL, BUFFER_DEFAULT, 1000, 10, 0, {0}};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (security_reject_password_flag(flag) != 0) {
            return -1;
        }
        /* A flag's value is the next argument. Of a --flag=VALUE, only the
         * flag is printed, in case VALUE is a secret. */
        int name_len = (int)strcspn(flag, "=");
        if (flag[name_len] == '=') {
            fprintf(stderr, "mqc-node: write %.*s VALUE, with a space, instead of %.*s=VALUE\n", name_len, flag,
                    name_len, flag);
            return -1;
        }
        if (!value) {
            fprintf(stderr, "mqc-node: %s needs a value\n", flag);
            return -1;
        }
        i++;
        if (security_flag(&o->security, flag, value)) {
            continue;
        }
        if (strcmp(flag, "--broker") == 0) {
            o->broker = value;
        } else if (strcmp(flag, "--id") == 0) {
            o->id = value;
        } else if (strcmp(flag, "--cluster") == 0) {
            o->cluster = value;
        } else if (strcmp(flag, "--topic-root") == 0) {
            o->root = value;
        } else if (strcmp(flag, "--buffer") == 0) {
            o->buffer = strtoul(value, NULL, 10);
        } else if (strcmp(flag, "--heartbeat") == 0) {
            o->heartbeat_ms = (uint32_t)strtoul(value, NULL, 10);
        } else if (strcmp(flag, "--keepalive") == 0) {
            o->keepalive_s = atoi(value);
        } else if (strcmp(flag, "--task-delay") == 0) {
            o->task_delay_ms = (uint32_t)strtoul(value, NULL, 10);
        } else {
            fprintf(stderr, "mqc-node: unknown flag %s\n", flag);
            return -1;
        }
    }
    if (!o->id) {
        fprintf(stderr, "mqc-node: --id is required\n");
        return -1;
    }
    if (o->buffer < 128 || o->buffer > BUFFER_MAX) {
        fprintf(stderr, "mqc-node: --buffer %zu is not between 128 and %d bytes\n", o->buffer, BUFFER_MAX);
        return -1;
    }
    if (o->keepalive_s < 1) {
        fprintf(stderr, "mqc-node: --keepalive must be at least 1 second\n");
        return -1;
    }
    return security_load(&o->security, o->broker);
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    static app_t app;
    app.id = o.id;
    pthread_mutex_init(&app.lock, NULL);
    mqc_platform_t platform = {&app, publish, subscribe, now_ms, log_line};
    mqc_node_config_t cfg = {o.id, o.root, o.cluster, "mqcluster-posix/0.1.0", o.heartbeat_ms};
    if (!mqc_node_init(&app.node, &cfg, &platform, buffer, o.buffer)) {
        fprintf(stderr, "mqc-node: invalid --id %s, --cluster or --topic-root: use letters, digits and . _ -\n", o.id);
        return 2;
    }
    if (MQTTClient_create(&app.client, o.broker, mqc_node_client_id(&app.node), MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
            MQTTCLIENT_SUCCESS ||
        MQTTClient_setCallbacks(app.client, &app, on_lost, on_message, NULL) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "mqc-node: invalid --broker %s: use tcp://HOST:PORT, or ssl://HOST:PORT for TLS\n", o.broker);
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    fprintf(stderr, "mqc-node %s: info: starting, buffer %zu bytes, max payload %u\n", o.id, o.buffer,
            (unsigned)mqc_node_max_payload(o.buffer));
    run(&app, &o);

    pthread_mutex_lock(&app.lock);
    mqc_node_leave(&app.node);
    pthread_mutex_unlock(&app.lock);
    MQTTClient_disconnect(app.client, 1000);
    MQTTClient_destroy(&app.client);
    fprintf(stderr, "mqc-node %s: info: stopped, %llu tasks done\n", o.id, (unsigned long long)app.node.stats.tasks_done);
    return 0;
}
