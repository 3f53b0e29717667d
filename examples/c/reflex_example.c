/*
 * A C host of Reflex through reflex.h: predicts one chunk from a policy directory, then (with a deployment config)
 * runs an episode on the controller and reads its status.
 *
 *   cc -std=c11 -I Sources/ReflexC/include examples/c/reflex_example.c -L .build/release -lReflexC \
 *      -Wl,-rpath,$PWD/.build/release -o /tmp/reflex_example
 *   /tmp/reflex_example policies/so101-lift 7 [examples/deployment-sim.yaml]
 *
 * Prints `chunk: [...]` (JSON), the same numbers as `reflex predict POLICY --seed 7` for the observation history
 * h[i] = (i % 7) * 0.05, then the episode's status.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "reflex.h"

static int fail(const char *what, reflex_status s) {
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)s, reflex_last_error());
    return 1;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "policies/so101-lift";
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
    reflex_policy *policy = NULL;
    reflex_status s = reflex_policy_open(dir, NULL, &policy);
    if (s != REFLEX_OK) return fail("reflex_policy_open", s);
    size_t obs = 0, steps = 0, horizon = 0, actions = 0;
    reflex_policy_shape(policy, &obs, &steps, &horizon, &actions, NULL);
    size_t n = obs * steps, m = horizon * actions;
    float *history = malloc(n * sizeof(float)), *chunk = malloc(m * sizeof(float));
    for (size_t i = 0; i < n; i++) history[i] = (float)(i % 7) * 0.05f;
    if ((s = reflex_policy_reset(policy, seed)) != REFLEX_OK) return fail("reflex_policy_reset", s);
    if ((s = reflex_policy_predict(policy, history, n, 0, chunk, m)) != REFLEX_OK) return fail("reflex_policy_predict", s);
    printf("chunk: [");
    for (size_t i = 0; i < m; i++) printf("%s%.9g", i ? "," : "", chunk[i]);
    printf("]\n");
    /* Bad input: a history of the wrong size is refused with a message, nothing written. */
    s = reflex_policy_predict(policy, history, n - 1, 0, chunk, m);
    printf("wrong size: %d (%s)\n", (int)s, reflex_last_error());
    reflex_policy_close(policy);
    free(history);
    free(chunk);

    if (argc > 3) {
        reflex_controller *controller = NULL;
        if ((s = reflex_controller_create(argv[3], &controller)) != REFLEX_OK) return fail("reflex_controller_create", s);
        if ((s = reflex_controller_start(controller, "lift")) != REFLEX_OK) return fail("reflex_controller_start", s);
        for (int i = 0; i < 60 && !reflex_controller_task_succeeded(controller); i++) sleep_ms(100);
        reflex_controller_emergency_stop(controller);
        sleep_ms(100);
        char status[16384];
        size_t length = 0;
        if ((s = reflex_controller_status_json(controller, status, sizeof status, &length)) != REFLEX_OK)
            return fail("reflex_controller_status_json", s);
        printf("status: %s\n", status);
        if ((s = reflex_controller_stop(controller)) != REFLEX_OK) return fail("reflex_controller_stop", s);
        /* Starting again with the emergency stop engaged is refused. */
        s = reflex_controller_start(controller, "lift");
        printf("start under e-stop: %d (%s)\n", (int)s, reflex_last_error());
        reflex_controller_destroy(controller);
    }
    return 0;
}
