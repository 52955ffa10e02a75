/*
 * TLS and broker credentials of mqc-node. Every setting is checked once at
 * start, so that a wrong path or a missing flag stops the node with exit code
 * 2 and a message, instead of failing every connection attempt for ever.
 */
#define _GNU_SOURCE /* getline */

#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The maximum length of an MQTT password, whose length MQTT encodes in two bytes. */
#define PASSWORD_MAX 65535

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int security_reject_password_flag(const char *flag)
{
    if (strcmp(flag, "--password") != 0 && !has_prefix(flag, "--password=")) {
        return 0;
    }
    /* The message names the flag only: what follows it is the password. */
    fprintf(stderr, "mqc-node: --password is not accepted, because the command line shows in ps: "
                    "set " PASSWORD_ENV " or use --password-file FILE\n");
    return -1;
}

bool security_flag(security_t *s, const char *flag, const char *value)
{
    if (strcmp(flag, "--ca") == 0) {
        s->ca = value;
    } else if (strcmp(flag, "--cert") == 0) {
        s->cert = value;
    } else if (strcmp(flag, "--key") == 0) {
        s->key = value;
    } else if (strcmp(flag, "--username") == 0) {
        s->username = value;
    } else if (strcmp(flag, "--password-file") == 0) {
        s->password_file = value;
    } else {
        return false;
    }
    return true;
}

/* Sets s->tls from the scheme of broker. Paho accepts the same schemes. */
static int parse_scheme(security_t *s, const char *broker)
{
    if (has_prefix(broker, "ssl://") || has_prefix(broker, "mqtts://")) {
        s->tls = true;
        return 0;
    }
    if (has_prefix(broker, "tcp://") || has_prefix(broker, "mqtt://")) {
        s->tls = false;
        return 0;
    }
    fprintf(stderr,
            "mqc-node: invalid --broker %s: use tcp://HOST:PORT or mqtt://HOST:PORT, "
            "or ssl://HOST:PORT or mqtts://HOST:PORT for TLS\n",
            broker);
    return -1;
}

/* Checks that the TLS flags suit the scheme and go together. */
static int check_tls_flags(const security_t *s, const char *broker)
{
    if (!s->tls) {
        const char *flag = NULL;
        if (s->ca) {
            flag = "--ca";
        } else if (s->cert) {
            flag = "--cert";
        } else if (s->key) {
            flag = "--key";
        }
        if (flag) {
            fprintf(stderr, "mqc-node: %s needs a TLS broker URL, but --broker is %s: use ssl://HOST:PORT or mqtts://HOST:PORT\n",
                    flag, broker);
            return -1;
        }
        return 0;
    }
    /* The node trusts only the CA it is given, not the system's store, so a
     * certificate that any public CA issued for the host does not pass. A
     * broker with a public certificate works with the system's bundle as
     * --ca. */
    if (!s->ca) {
        fprintf(stderr,
                "mqc-node: --broker %s uses TLS, but no --ca is given: add --ca FILE, the PEM certificate of the CA "
                "that signed the broker's certificate (for a broker with a public certificate, "
                "--ca /etc/ssl/certs/ca-certificates.crt)\n",
                broker);
        return -1;
    }
    if ((s->cert == NULL) != (s->key == NULL)) {
        fprintf(stderr, "mqc-node: %s is given without %s: give both --cert and --key for mutual TLS, or neither\n",
                s->cert ? "--cert" : "--key", s->cert ? "--key" : "--cert");
        return -1;
    }
    return 0;
}

/* Checks that path can be read and contains a PEM block. The lines read are
 * not printed, since the file may be a private key. */
static int check_pem_file(const char *flag, const char *path)
{
    if (path == NULL) {
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "mqc-node: cannot read %s %s: %s\n", flag, path, strerror(errno));
        return -1;
    }
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = has_prefix(line, "-----BEGIN ");
    }
    fclose(f);
    if (!found) {
        fprintf(stderr, "mqc-node: %s %s is not a PEM file (no -----BEGIN line): give the PEM file\n", flag, path);
        return -1;
    }
    return 0;
}

/* Reads the first line of path, without its line ending, into a new string. */
static char *read_password_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "mqc-node: cannot read --password-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        fprintf(stderr, "mqc-node: warning: --password-file %s is open to its group or other users: chmod 600 it\n",
                path);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    int read_errno = errno;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        fprintf(stderr, "mqc-node: cannot read --password-file %s: %s\n", path, strerror(read_errno));
        free(line);
        return NULL;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    if (len <= 0) {
        fprintf(stderr, "mqc-node: the first line of --password-file %s is empty: write the password there\n", path);
        free(line);
        return NULL;
    }
    return line;
}

/* Sets s->password from MQC_PASSWORD or --password-file. An empty
 * MQC_PASSWORD counts as unset, as a shell's MQC_PASSWORD= suggests. */
static int load_password(security_t *s)
{
    const char *env = getenv(PASSWORD_ENV);
    if (env != NULL && env[0] == '\0') {
        env = NULL;
    }
    if (env != NULL && s->password_file != NULL) {
        fprintf(stderr, "mqc-node: both " PASSWORD_ENV " and --password-file %s are set: use one of them\n",
                s->password_file);
        return -1;
    }
    if (env != NULL) {
        s->password = env;
    } else if (s->password_file != NULL) {
        /* The string lives as long as the process; it is never freed. */
        s->password = read_password_file(s->password_file);
        if (s->password == NULL) {
            return -1;
        }
    }
    if (s->password == NULL) {
        return 0;
    }
    const char *source = env != NULL ? PASSWORD_ENV : "--password-file";
    if (strlen(s->password) > PASSWORD_MAX) {
        fprintf(stderr, "mqc-node: the password in %s is longer than %d bytes, the MQTT maximum\n", source,
                PASSWORD_MAX);
        return -1;
    }
    /* MQTT 3.1.1 sends a password only after a user name. */
    if (s->username == NULL) {
        fprintf(stderr, "mqc-node: a password is set in %s, but no --username: add --username NAME\n", source);
        return -1;
    }
    if (!s->tls) {
        fprintf(stderr, "mqc-node: warning: the password goes to the broker unencrypted over plain TCP: "
                        "use ssl:// or mqtts:// with --ca\n");
    }
    return 0;
}

int security_load(security_t *s, const char *broker)
{
    if (parse_scheme(s, broker) != 0 || check_tls_flags(s, broker) != 0) {
        return -1;
    }
    if (check_pem_file("--ca", s->ca) != 0 || check_pem_file("--cert", s->cert) != 0 ||
        check_pem_file("--key", s->key) != 0) {
        return -1;
    }
    if (s->username != NULL && s->username[0] == '\0') {
        fprintf(stderr, "mqc-node: --username is empty: give the user name, or leave the flag out\n");
        return -1;
    }
    return load_password(s);
}

/* Passes OpenSSL's error lines, such as "certificate verify failed", to
 * stderr. They name no secret. */
static int log_tls_error(const char *str, size_t len, void *ctx)
{
    const char *node_id = ctx;
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r')) {
        len--;
    }
    fprintf(stderr, "mqc-node %s: warning: TLS: %.*s\n", node_id, (int)len, str);
    return 1; /* ERR_print_errors_cb stops at a return of 0 or less */
}

void security_apply(const security_t *s, const char *node_id, MQTTClient_connectOptions *c,
                    MQTTClient_SSLOptions *ssl)
{
    c->username = s->username;
    c->password = s->password;
    if (!s->tls) {
        return;
    }
    ssl->trustStore = s->ca;
    ssl->keyStore = s->cert;
    ssl->privateKey = s->key;
    /* Verify the broker's chain against --ca only, and with verify set, that
     * its certificate names the host of the URL (a DNS name, else an IP
     * address). Without verify, Paho checks the chain but not the name. */
    ssl->enableServerCertAuth = 1;
    ssl->verify = 1;
    ssl->disableDefaultTrustStore = 1;
    ssl->ssl_error_cb = log_tls_error;
    ssl->ssl_error_context = (void *)node_id; /* Paho only passes it back */
    c->ssl = ssl;
}
