/* TLS and broker credentials of mqc-node: their flags, the password from the
 * environment or a file, and the Paho options they become. */
#ifndef MQC_POSIX_SECURITY_H
#define MQC_POSIX_SECURITY_H

#include <MQTTClient.h>
#include <stdbool.h>

/* The environment variable that contains the broker password. A password is
 * never a flag, because the command line of a process shows in ps. */
#define PASSWORD_ENV "MQC_PASSWORD"

typedef struct {
    const char *ca;            /* --ca: PEM certificate of the CA that signed the broker's certificate */
    const char *cert;          /* --cert: PEM client certificate, for mutual TLS */
    const char *key;           /* --key: PEM private key of --cert */
    const char *username;      /* --username */
    const char *password_file; /* --password-file: the password is its first line */
    const char *password;      /* from MQC_PASSWORD or --password-file; NULL for none */
    bool tls;                  /* the broker URL starts with ssl:// or mqtts:// */
} security_t;

/* Returns -1 after printing an error if flag is --password or
 * --password=VALUE, else 0. Call it before printing anything about flag. */
int security_reject_password_flag(const char *flag);

/* Stores value in s and returns true if flag is one of the flags above;
 * returns false for any other flag. */
bool security_flag(security_t *s, const char *flag, const char *value);

/* Checks the flags against the broker URL, checks that each PEM file can be
 * read, and reads the password. Returns 0, or -1 after printing an error
 * that names the value and the fix. It never prints the password. */
int security_load(security_t *s, const char *broker);

/* Sets the user name, the password and, for a TLS URL, the TLS options of one
 * connect. ssl must live until MQTTClient_connect returns. OpenSSL's errors
 * go to stderr with node_id in each line. */
void security_apply(const security_t *s, const char *node_id, MQTTClient_connectOptions *c,
                    MQTTClient_SSLOptions *ssl);

#endif /* MQC_POSIX_SECURITY_H */
