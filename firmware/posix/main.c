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
 *
 * Threads: the main thread makes every call into the node, and so every
 * blocking Paho call. Paho's MQTTClient_run thread reads all packets: the
 * SUBACK that MQTTClient_subscribe waits for, the PUBACK that a QoS 1
 * MQTTClient_publish waits for while another is unacknowledged, and every
 * message, which it passes to on_message. So on_message must never wait for
 * the main thread: it takes only the inbox's lock, which no thread holds
 * across a Paho call, and the main loop hands the inbox to the node.
 */
#define _GNU_SOURCE /* SO_PROTOCOL */

#include <MQTTClient.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* Maximum number of received messages handed to the node per turn of the
 * main loop, so that a burst of messages does not hold up its polls. */
#define DELIVER_MAX 64

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

/* A message as Paho delivers it, in the inbox, which owns both pointers. */
typedef struct received {
    struct received *next;
    char *topic;
    size_t topic_len;
    MQTTClient_message *message;
} received_t;

/*
 * The received messages, oldest first. NOTE: it has no bound, like Paho's
 * own queue of received messages. It grows only while the main thread waits
 * in a Paho call or converts a tile, because the main loop empties it every
 * 2 ms or so.
 */
typedef struct {
    pthread_mutex_t lock; /* guards the fields below; never held across a Paho or node call */
    received_t *first;
    received_t *last;
} inbox_t;

typedef struct {
    MQTTClient client;
    mqc_node_t node; /* only the main thread touches it */
    inbox_t inbox;
    atomic_bool lost; /* set by Paho's thread when the connection drops */
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

/*
 * on_message runs on Paho's thread and appends the message to the inbox. If
 * malloc fails it returns 0, and Paho keeps the message and calls again on a
 * later turn of its loop.
 */
static int on_message(void *ctx, char *topic, int topic_len, MQTTClient_message *m)
{
    app_t *app = ctx;
    received_t *r = malloc(sizeof(*r));
    if (!r) {
        return 0;
    }
    *r = (received_t){NULL, topic, topic_len > 0 ? (size_t)topic_len : strlen(topic), m};
    inbox_t *inbox = &app->inbox;
    pthread_mutex_lock(&inbox->lock);
    if (inbox->last) {
        inbox->last->next = r;
    } else {
        inbox->first = r;
    }
    inbox->last = r;
    pthread_mutex_unlock(&inbox->lock);
    return 1;
}

/* take_received removes the oldest message from the inbox and returns it,
 * or NULL if the inbox is empty. */
static received_t *take_received(inbox_t *inbox)
{
    pthread_mutex_lock(&inbox->lock);
    received_t *r = inbox->first;
    if (r) {
        inbox->first = r->next;
        if (!inbox->first) {
            inbox->last = NULL;
        }
    }
    pthread_mutex_unlock(&inbox->lock);
    return r;
}

static void free_received(received_t *r)
{
    MQTTClient_freeMessage(&r->message);
    MQTTClient_free(r->topic);
    free(r);
}

/* deliver_received hands the node up to DELIVER_MAX messages from the
 * inbox. Paho hands over whole messages, so each is one chunk at offset 0. */
static void deliver_received(app_t *app)
{
    received_t *r;
    for (int i = 0; i < DELIVER_MAX && (r = take_received(&app->inbox)) != NULL; i++) {
        size_t len = (size_t)r->message->payloadlen;
        mqc_node_on_data(&app->node, r->topic, r->topic_len, r->message->payload, len, 0, len);
        free_received(r);
    }
}

/* on_lost runs on one of Paho's threads. */
static void on_lost(void *ctx, char *cause)
{
    app_t *app = ctx;
    fprintf(stderr, "mqc-node %s: warning: connection lost (%s), reconnecting\n", app->id, cause ? cause : "no cause");
    atomic_store(&app->lost, true);
}

/* sleep_ms sleeps ms milliseconds, or less once a signal has set stopping.
 * It sleeps in steps of at most 50 ms, because the signal may go to one of
 * Paho's threads and then does not interrupt this one. */
static void sleep_ms(long ms)
{
    while (ms > 0 && !stopping) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stopping) {
        }
        ms -= step;
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
    size_t will_len = mqc_node_will(&app->node, session, &will_topic, will, sizeof(will));
    char topic[MQC_TOPIC_MAX];
    snprintf(topic, sizeof(topic), "%s", will_topic);

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
    /* Cleared before connecting, so that a loss right after the connect
     * stays seen. Paho calls on_lost only for an established connection. */
    atomic_store(&app->lost, false);
    int rc = MQTTClient_connect(app->client, &c);
    if (rc != MQTTCLIENT_SUCCESS) {
        return rc;
    }
    disable_nagle();
    fprintf(stderr, "mqc-node %s: info: connected to %s, session %u\n", app->id, o->broker, (unsigned)session);
    /* Subscribes and publishes the birth. The retained messages of the
     * subscribed topics wait in the inbox until the main loop takes them. */
    mqc_node_on_connect(&app->node, session);
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
        /* The messages that arrived before a loss go first, as they came. */
        deliver_received(app);
        if (atomic_load(&app->lost)) {
            mqc_node_on_disconnect(&app->node);
            connected = false;
            session++;
            continue;
        }
        if (app->node.task_ready && !delaying) {
            delaying = true;
            ready_at = now_ms(NULL);
        }
        if (!delaying || now_ms(NULL) - ready_at >= o->task_delay_ms) {
            mqc_node_poll(&app->node);
            delaying = false;
        }
        sleep_ms(2);
    }
}

/* usage prints the help: to stdout for --help, to stderr after an error. */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqc-node --broker tcp://HOST:PORT --id NODE_ID [--cluster NAME] [--topic-root ROOT]\n"
            "                [--buffer BYTES] [--heartbeat MS] [--keepalive SECONDS] [--task-delay MS]\n"
            "                [--ca FILE [--cert FILE --key FILE]] [--username NAME [--password-file FILE]]\n"
            "       mqc-node --help\n"
            "\n"
            "--broker takes tcp:// or mqtt://, or ssl:// or mqtts:// for TLS, which needs --ca: the PEM\n"
            "certificate of the CA that signed the broker's certificate. The node checks that certificate\n"
            "and that it names the host of --broker. --cert and --key are the PEM client certificate and\n"
            "its key, for mutual TLS. The broker password is read from the environment variable\n"
            PASSWORD_ENV " or from the first line of --password-file, never from a flag.\n");
}

/* Return value of parse_options for --help or -h. */
#define PARSE_HELP 1

/* parse_options fills o from the flags. Returns 0, PARSE_HELP, or -1 after
 * printing what is wrong. */
static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){"tcp://127.0.0.1:1883", NULL, NULL, NULL, BUFFER_DEFAULT, 1000, 10, 0, {0}};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            return PARSE_HELP;
        }
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
    int parsed = parse_options(argc, argv, &o);
    if (parsed == PARSE_HELP) {
        usage(stdout);
        return 0;
    }
    if (parsed != 0) {
        usage(stderr);
        return 2;
    }
    static app_t app;
    app.id = o.id;
    pthread_mutex_init(&app.inbox.lock, NULL);
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

    mqc_node_leave(&app.node);
    MQTTClient_disconnect(app.client, 1000);
    MQTTClient_destroy(&app.client);
    /* Paho's thread has stopped: nothing adds to the inbox any more. */
    received_t *r;
    while ((r = take_received(&app.inbox)) != NULL) {
        free_received(r);
    }
    fprintf(stderr, "mqc-node %s: info: stopped, %llu tasks done\n", o.id, (unsigned long long)app.node.stats.tasks_done);
    return 0;
}
