/*
 * reflex.h — the C ABI of Reflex, an embeddable control-policy runtime for robot arms.
 *
 * Link against libReflexC.so (SwiftPM product `ReflexC`). Everything here is plain C: opaque handles with
 * open/close, status codes with a message, plain pointers and sizes. No Swift types cross this boundary.
 *
 * Errors: every function that can fail returns a reflex_status; REFLEX_OK is 0. After a failure,
 * reflex_last_error() returns a message saying what and where (file, key), valid on the calling thread until that
 * thread's next call into Reflex.
 *
 * Thread safety:
 *   - a reflex_policy serves one thread at a time (it owns its workspaces and its random generator); open one per
 *     thread that predicts;
 *   - a reflex_controller may be called from any thread; its control loop runs on a thread of its own, and
 *     reflex_controller_emergency_stop never waits for a lock (call it from anywhere, even while another thread is
 *     inside reflex_controller_start);
 *   - reflex_last_error is per thread.
 *
 * Units: observations and actions are raw, as the policy was trained on them (SI units and radians for policies
 * Reflex trained), in the robot description's joint order.
 */
#ifndef REFLEX_H
#define REFLEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reflex_status {
    REFLEX_OK = 0,
    REFLEX_ERROR_INVALID_ARGUMENT = 1, /* a null handle or pointer, a buffer too small, a value out of range */
    REFLEX_ERROR_NOT_FOUND = 2,        /* a file, directory, robot or policy name that is not there */
    REFLEX_ERROR_INVALID_FILE = 3,     /* a malformed config, policy directory or checkpoint */
    REFLEX_ERROR_SHAPE = 4,            /* sizes that do not agree (observation, action, policy vs arm) */
    REFLEX_ERROR_STATE = 5,            /* the wrong moment: an episode running, the emergency stop engaged */
    REFLEX_ERROR_DEVICE = 6,           /* the arm, its serial port or its camera channel */
    REFLEX_ERROR_INTERNAL = 7
} reflex_status;

/* A loaded policy with the steering its policy.yaml switches on (DSRL actor, V-GPS value function, sampler). */
typedef struct reflex_policy reflex_policy;
/* An arm (simulated, on a servo bus, or a fake) with its safety layer and control loop. */
typedef struct reflex_controller reflex_controller;

/* The library's version, e.g. "0.2.0". */
const char *reflex_version(void);

/* The message of this thread's last failure ("" if none). */
const char *reflex_last_error(void);

/* ---- Policies ---------------------------------------------------------------------------------------------- */

/* Opens a policy directory (policy.yaml + model.safetensors) with its steering, or a LeRobot diffusion or ACT
 * checkpoint (config.json). `sampler` may be NULL (the policy's own) or a sampler spec such as "ddim:10" or
 * "rti:2,1,0". The random generator starts from seed 0. */
reflex_status reflex_policy_open(const char *directory, const char *sampler, reflex_policy **out);

/* Closes a policy (NULL is ignored). */
void reflex_policy_close(reflex_policy *policy);

/* The policy's shapes: each pointer may be NULL.
 *   observation_size  values per observation
 *   history_steps     observations per prediction (n_obs_steps), oldest first
 *   horizon           actions per predicted chunk
 *   action_size       values per action
 *   action_steps      actions executed per chunk before the next prediction (n_action_steps) */
reflex_status reflex_policy_shape(const reflex_policy *policy, size_t *observation_size, size_t *history_steps,
                                  size_t *horizon, size_t *action_size, size_t *action_steps);

/* Starts an episode: forgets the warm start and re-seeds the policy's random generator. */
reflex_status reflex_policy_reset(reflex_policy *policy, uint64_t seed);

/* Predicts one chunk. `history` holds history_steps x observation_size raw values, oldest first (history_count
 * values in all); `steps_executed` is how many actions of the previous chunk ran since it was predicted (0 at the
 * start of an episode); `chunk` receives horizon x action_size raw actions (chunk_capacity values at least).
 * A non-finite observation is refused (REFLEX_ERROR_INVALID_ARGUMENT) and nothing is written. */
reflex_status reflex_policy_predict(reflex_policy *policy, const float *history, size_t history_count,
                                    size_t steps_executed, float *chunk, size_t chunk_capacity);

/* ---- Policies that look through cameras ------------------------------------------------------------------
 * A Reflex camera policy (policy.yaml with `cameras:`) and a LeRobot ACT or image diffusion checkpoint take each
 * camera's frame with every prediction: reflex_policy_set_image for each camera, then reflex_policy_predict_images
 * with the non-image values. The chunk equals `reflex predict DIR --image CAMERA=frame.ppm`'s for the same frames,
 * state and seed. (A LeRobot checkpoint also takes reflex_policy_predict with its raw row: state, each camera's
 * C x H x W floats in [0, 1], environment state.) */

/* The policy's inputs besides images: `state_size` values per history step (observation.state, then
 * observation.environment_state when the policy has it), and `camera_count` cameras (0: a state policy). Each
 * pointer may be NULL. */
reflex_status reflex_policy_inputs(const reflex_policy *policy, size_t *state_size, size_t *camera_count);

/* Camera `index` (0 ..< camera_count): its name as LeRobot names the feature ("observation.images.top"; for a Reflex
 * camera policy "observation.images.<camera in policy.yaml>") into `name` (NUL-terminated; may be NULL), and the
 * frame it takes: height x width x channels uint8. The name is refused (REFLEX_ERROR_INVALID_ARGUMENT) when it does
 * not fit `name_capacity` bytes. */
reflex_status reflex_policy_camera(const reflex_policy *policy, size_t index, char *name, size_t name_capacity,
                                   size_t *height, size_t *width, size_t *channels);

/* Sets `camera`'s frame for the next reflex_policy_predict_images: `rgb` holds height x width x 3 bytes, row by row,
 * R G B per pixel, as a camera (OpenCV after BGR -> RGB) gives it. `camera` is the feature name or the short name
 * ("top"). A wrong size or an unknown camera is refused (REFLEX_ERROR_SHAPE, REFLEX_ERROR_INVALID_ARGUMENT). */
reflex_status reflex_policy_set_image(reflex_policy *policy, const char *camera, const uint8_t *rgb, size_t height,
                                      size_t width);

/* Predicts one chunk from the frames set since the last prediction and `state`: history_steps x state_size raw
 * values, oldest first (or state_size values, repeated over the history); each frame is repeated over the history.
 * A camera without a frame since the last prediction is refused (REFLEX_ERROR_STATE); the rest as
 * reflex_policy_predict. For ACT, one chunk per call (LeRobot's action queue runs action_steps of it). */
reflex_status reflex_policy_predict_images(reflex_policy *policy, const float *state, size_t state_count,
                                           size_t steps_executed, float *chunk, size_t chunk_capacity);

/* ---- Controllers ------------------------------------------------------------------------------------------- */

/* Creates a controller from a deployment config (YAML): `arm:` (robot, and one of sim: TASK, port: DEVICE or
 * fake: true), `policies:` (name: directory, loaded with their steering), `rate:` (Hz), `priority:` (SCHED_FIFO,
 * 0: do not ask) and `safety:`. The arm is opened and configured (torque off); nothing moves until
 * reflex_controller_start. The daemon's config file (reflex serve --config) is accepted too; its server keys are
 * ignored here. */
reflex_status reflex_controller_create(const char *config_path, reflex_controller **out);

/* Stops any episode, switches torque off and frees the controller (NULL is ignored). */
void reflex_controller_destroy(reflex_controller *controller);

/* Loads a policy directory (with its steering) under `name`, replacing a policy of that name that is not running. */
reflex_status reflex_controller_load_policy(reflex_controller *controller, const char *name, const char *directory);

/* Starts an episode with the policy `name`: the arm goes back to its scene's start (simulated arms), torque on,
 * then the loop runs on its own thread, approaching the policy's first pose slowly. */
reflex_status reflex_controller_start(reflex_controller *controller, const char *name);

/* Ends the episode; the arm stays active, holding its last command. */
reflex_status reflex_controller_stop(reflex_controller *controller);

/* Engages the emergency stop (hold or torque off, as safety.stop_action says). Never waits for a lock. */
void reflex_controller_emergency_stop(reflex_controller *controller);

/* Releases the emergency stop (no episode may be running). */
reflex_status reflex_controller_clear_emergency_stop(reflex_controller *controller);

/* The controller's status as JSON (lifecycle, running, policies, loop counters and timings, task success) into
 * `buffer` (NUL-terminated). `length` (may be NULL) receives the JSON's length without the NUL; when the buffer is
 * too small the call fails with REFLEX_ERROR_INVALID_ARGUMENT and `length` says how much is needed. */
reflex_status reflex_controller_status_json(reflex_controller *controller, char *buffer, size_t capacity, size_t *length);

/* Whether the current episode's task has succeeded (simulated arms and camera channels; 0 elsewhere). */
int reflex_controller_task_succeeded(reflex_controller *controller);

#ifdef __cplusplus
}
#endif

#endif /* REFLEX_H */
