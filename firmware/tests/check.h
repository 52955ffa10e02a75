/* A minimal test harness: each test function records checks; main prints
 * "N passed, N failed" and exits non-zero on any failure. */
#ifndef MQC_TEST_CHECK_H
#define MQC_TEST_CHECK_H

#include <stdio.h>

extern int checks_failed;
extern const char *current_test;

#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            checks_failed++;                                                                                          \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, current_test);                                        \
            fprintf(stderr, __VA_ARGS__);                                                                             \
            fputc('\n', stderr);                                                                                      \
        }                                                                                                             \
    } while (0)

/* REQUIRE is CHECK that also ends the test on failure, for a condition the
 * checks after it depend on. */
#define REQUIRE(cond, ...)                                                                                            \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            CHECK(0, __VA_ARGS__);                                                                                    \
            return;                                                                                                   \
        }                                                                                                             \
    } while (0)

/* run_test runs one test and counts it as passed if it added no failure. */
int run_test(const char *name, void (*fn)(void), int *passed, int *failed);

#endif
