#include "check.h"

int checks_failed;
const char *current_test = "";

int run_test(const char *name, void (*fn)(void), int *passed, int *failed)
{
    int before = checks_failed;
    current_test = name;
    fn();
    if (checks_failed == before) {
        (*passed)++;
        return 0;
    }
    (*failed)++;
    fprintf(stderr, "FAIL %s\n", name);
    return 1;
}
