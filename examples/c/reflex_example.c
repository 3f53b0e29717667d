/*
 * A C host of Reflex through reflex.h: predicts one chunk from a policy directory, then (with a deployment config)
 * runs an episode on the controller and reads its status.
 *
 *   cc -std=c11 -I Sources/ReflexC/include examples/c/reflex_example.c -L .build/release -lReflexC \
 *      -Wl,-rpath,$PWD/.build/release -o /tmp/reflex_example
 *   /tmp/reflex_example policies/so101-lift 7 [examples/deployment-sim.yaml]
 *
 * Prints `chunk: [...]` (JSON), the same numbers as `reflex predict POLICY --seed 7` for the observation history
 * h[i] = (i % 7) * 0.05, then the episode's status. A policy that looks through cameras (a Reflex camera policy, a
 * LeRobot ACT checkpoint) gets synthetic frames instead (camera_example), the same as `reflex predict --image`'s.
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

/* A policy that looks through cameras: camera k's frame is byte i = (i * 37 + 11 + 13 k) % 256 (H x W x 3), the
 * state s[i] = (i % 7) * 0.05 over history_steps x state_size values; prints `chunk: [...]`. */
static int camera_example(reflex_policy *policy, uint64_t seed, size_t steps, size_t state_size, size_t cameras, size_t m) {
    reflex_status s;
    if ((s = reflex_policy_reset(policy, seed)) != REFLEX_OK) return fail("reflex_policy_reset", s);
    char name[256];
    size_t h = 0, w = 0;
    for (size_t k = 0; k < cameras; k++) {
        if ((s = reflex_policy_camera(policy, k, name, sizeof name, &h, &w, NULL)) != REFLEX_OK) return fail("reflex_policy_camera", s);
        uint8_t *rgb = malloc(h * w * 3);
        for (size_t i = 0; i < h * w * 3; i++) rgb[i] = (uint8_t)((i * 37 + 11 + 13 * k) % 256);
        s = reflex_policy_set_image(policy, name, rgb, h, w);
        free(rgb);
        if (s != REFLEX_OK) return fail("reflex_policy_set_image", s);
    }
    size_t n = steps * state_size;
    float *state = malloc((n ? n : 1) * sizeof(float)), *chunk = malloc(m * sizeof(float));
    for (size_t i = 0; i < n; i++) state[i] = (float)(i % 7) * 0.05f;
    if ((s = reflex_policy_predict_images(policy, state, n, 0, chunk, m)) != REFLEX_OK) return fail("reflex_policy_predict_images", s);
    printf("chunk: [");
    for (size_t i = 0; i < m; i++) printf("%s%.9g", i ? "," : "", chunk[i]);
    printf("]\n");
    /* Bad input: a frame of the wrong size is refused with a message; predicting without frames too. */
    uint8_t small[3] = {0, 0, 0};
    s = reflex_policy_set_image(policy, name, small, 1, 1);
    printf("wrong size: %d (%s)\n", (int)s, reflex_last_error());
    s = reflex_policy_predict_images(policy, state, n, 0, chunk, m);
    printf("no frames: %d (%s)\n", (int)s, reflex_last_error());
    reflex_policy_close(policy);
    free(state);
    free(chunk);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "policies/so101-lift";
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
    reflex_policy *policy = NULL;
    reflex_status s = reflex_policy_open(dir, NULL, &policy);
    if (s != REFLEX_OK) return fail("reflex_policy_open", s);
    size_t obs = 0, steps = 0, horizon = 0, actions = 0, state_size = 0, cameras = 0;
    reflex_policy_shape(policy, &obs, &steps, &horizon, &actions, NULL);
    reflex_policy_inputs(policy, &state_size, &cameras);
    if (cameras > 0) return camera_example(policy, seed, steps, state_size, cameras, horizon * actions);
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
