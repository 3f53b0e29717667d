"""Reflex from Python through its C ABI (ctypes; no build step, no dependencies).

    from reflex import Policy, Controller
    policy = Policy("policies/so101-lift")
    policy.reset(seed=7)
    chunk = policy.predict(history)          # list of floats, horizon x action_size
    with Controller("examples/deployment-sim.yaml") as arm:
        arm.start("lift"); ...; arm.status()

The shared library is libReflexC.so (SwiftPM product ReflexC): $REFLEX_LIB, else .build/release/ next to this
checkout. Run as a script it prints one chunk, as `reflex predict` does for the same inputs and seed:
    python3 examples/python/reflex.py policies/so101-lift 7
A policy that looks through cameras takes each frame first (a Reflex camera policy, a LeRobot ACT checkpoint):
    policy.set_image("observation.images.front", rgb, height, width)   # uint8 H x W x 3
    chunk = policy.predict_images(state)      # history_steps x state_size floats
"""
import ctypes
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_DEFAULT = os.path.join(_HERE, "..", "..", ".build", "release", "libReflexC.so")
_lib = ctypes.CDLL(os.environ.get("REFLEX_LIB") or os.path.normpath(_DEFAULT))

_c_size_p = ctypes.POINTER(ctypes.c_size_t)
_lib.reflex_version.restype = ctypes.c_char_p
_lib.reflex_last_error.restype = ctypes.c_char_p
_lib.reflex_policy_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
_lib.reflex_policy_close.argtypes = [ctypes.c_void_p]
_lib.reflex_policy_shape.argtypes = [ctypes.c_void_p] + [_c_size_p] * 5
_lib.reflex_policy_reset.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
_lib.reflex_policy_predict.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_size_t,
                                       ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]
_lib.reflex_policy_inputs.argtypes = [ctypes.c_void_p, _c_size_p, _c_size_p]
_lib.reflex_policy_camera.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t] + [_c_size_p] * 3
_lib.reflex_policy_set_image.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
                                         ctypes.c_size_t]
_lib.reflex_policy_predict_images.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                              ctypes.c_size_t, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]
_lib.reflex_controller_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
_lib.reflex_controller_destroy.argtypes = [ctypes.c_void_p]
_lib.reflex_controller_load_policy.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
_lib.reflex_controller_start.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.reflex_controller_stop.argtypes = [ctypes.c_void_p]
_lib.reflex_controller_emergency_stop.argtypes = [ctypes.c_void_p]
_lib.reflex_controller_clear_emergency_stop.argtypes = [ctypes.c_void_p]
_lib.reflex_controller_status_json.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, _c_size_p]
_lib.reflex_controller_task_succeeded.argtypes = [ctypes.c_void_p]

STATUS_NAMES = {1: "invalid argument", 2: "not found", 3: "invalid file", 4: "shape", 5: "state", 6: "device", 7: "internal"}


class ReflexError(Exception):
    """A refused call: `status` is the reflex_status code, the message says what and where."""

    def __init__(self, status, message):
        super().__init__(f"{STATUS_NAMES.get(status, status)}: {message}")
        self.status = status


def _check(status):
    if status != 0:
        raise ReflexError(status, _lib.reflex_last_error().decode())


def version():
    return _lib.reflex_version().decode()


class Policy:
    """A policy directory with its steering; one thread at a time."""

    def __init__(self, directory, sampler=None):
        self._h = ctypes.c_void_p()
        _check(_lib.reflex_policy_open(directory.encode(), sampler.encode() if sampler else None, ctypes.byref(self._h)))
        sizes = [ctypes.c_size_t() for _ in range(5)]
        _check(_lib.reflex_policy_shape(self._h, *[ctypes.byref(s) for s in sizes]))
        self.observation_size, self.history_steps, self.horizon, self.action_size, self.action_steps = (s.value for s in sizes)
        state, count = ctypes.c_size_t(), ctypes.c_size_t()
        _check(_lib.reflex_policy_inputs(self._h, ctypes.byref(state), ctypes.byref(count)))
        self.state_size = state.value
        self.cameras = []  # (name, height, width, channels), LeRobot's feature names
        for i in range(count.value):
            name = ctypes.create_string_buffer(256)
            dims = [ctypes.c_size_t() for _ in range(3)]
            _check(_lib.reflex_policy_camera(self._h, i, name, len(name), *[ctypes.byref(d) for d in dims]))
            self.cameras.append((name.value.decode(),) + tuple(d.value for d in dims))

    def reset(self, seed=0):
        _check(_lib.reflex_policy_reset(self._h, seed))

    def predict(self, history, steps_executed=0):
        """`history`: history_steps x observation_size floats, oldest first. Returns horizon x action_size floats."""
        n, m = len(history), self.horizon * self.action_size
        h = (ctypes.c_float * n)(*history)
        out = (ctypes.c_float * m)()
        _check(_lib.reflex_policy_predict(self._h, h, n, steps_executed, out, m))
        return list(out)

    def set_image(self, camera, rgb, height, width):
        """`rgb`: height x width x 3 uint8 (bytes, bytearray, or a C-contiguous numpy array, as OpenCV gives after
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)); `camera`: its feature name or short name."""
        n = height * width * 3
        if hasattr(rgb, "ctypes"):  # numpy, without a copy when it is C-contiguous uint8
            if str(rgb.dtype) != "uint8":
                raise ReflexError(1, f"the frame is {rgb.dtype}; frames are uint8 H x W x 3")
            if not rgb.flags["C_CONTIGUOUS"]:
                rgb = rgb.copy(order="C")
            data = rgb.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
            if rgb.nbytes != n:
                raise ReflexError(4, f"the frame holds {rgb.nbytes} bytes, {height} x {width} x 3 = {n} expected")
        else:
            raw = bytes(rgb)
            if len(raw) != n:
                raise ReflexError(4, f"the frame holds {len(raw)} bytes, {height} x {width} x 3 = {n} expected")
            data = (ctypes.c_uint8 * n).from_buffer_copy(raw)
        _check(_lib.reflex_policy_set_image(self._h, camera.encode(), data, height, width))

    def predict_images(self, state, steps_executed=0):
        """After set_image for every camera: `state` is history_steps x state_size floats (or state_size, repeated),
        oldest first. Returns horizon x action_size floats."""
        n, m = len(state), self.horizon * self.action_size
        s = (ctypes.c_float * max(n, 1))(*state)
        out = (ctypes.c_float * m)()
        _check(_lib.reflex_policy_predict_images(self._h, s, n, steps_executed, out, m))
        return list(out)

    def close(self):
        if self._h:
            _lib.reflex_policy_close(self._h)
            self._h = ctypes.c_void_p()

    def __del__(self):
        self.close()


class Controller:
    """An arm from a deployment config, its safety layer and real-time loop. Thread-safe."""

    def __init__(self, config_path):
        self._h = ctypes.c_void_p()
        _check(_lib.reflex_controller_create(config_path.encode(), ctypes.byref(self._h)))

    def load_policy(self, name, directory):
        _check(_lib.reflex_controller_load_policy(self._h, name.encode(), directory.encode()))

    def start(self, name):
        _check(_lib.reflex_controller_start(self._h, name.encode()))

    def stop(self):
        _check(_lib.reflex_controller_stop(self._h))

    def emergency_stop(self):
        _lib.reflex_controller_emergency_stop(self._h)

    def clear_emergency_stop(self):
        _check(_lib.reflex_controller_clear_emergency_stop(self._h))

    @property
    def task_succeeded(self):
        return bool(_lib.reflex_controller_task_succeeded(self._h))

    def status(self):
        length = ctypes.c_size_t()
        _lib.reflex_controller_status_json(self._h, None, 0, ctypes.byref(length))
        buf = ctypes.create_string_buffer(length.value + 1)
        _check(_lib.reflex_controller_status_json(self._h, buf, len(buf), ctypes.byref(length)))
        return json.loads(buf.value.decode())

    def close(self):
        if self._h:
            _lib.reflex_controller_destroy(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    directory = sys.argv[1] if len(sys.argv) > 1 else "policies/so101-lift"
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    p = Policy(directory)
    if p.cameras:
        # A camera policy: camera k's frame is byte i = (i * 37 + 11 + 13 k) % 256 (H x W x 3), the state as below.
        state = [(i % 7) * 0.05 for i in range(p.history_steps * p.state_size)]
        p.reset(seed)
        for k, (name, h, w, c) in enumerate(p.cameras):
            p.set_image(name, bytes((i * 37 + 11 + 13 * k) % 256 for i in range(h * w * 3)), h, w)
        print("chunk: " + json.dumps(p.predict_images(state)))
        name, h, w, _ = p.cameras[0]
        try:
            p.set_image(name, bytes(h * (w - 1) * 3), h, w - 1)
        except ReflexError as e:
            print(f"wrong size: {e.status} ({e})")
        sys.exit(0)
    history = [(i % 7) * 0.05 for i in range(p.history_steps * p.observation_size)]
    p.reset(seed)
    print("chunk: " + json.dumps(p.predict(history)))
    try:
        p.predict(history[:-1])
    except ReflexError as e:
        print(f"wrong size: {e.status} ({e})")
    if len(sys.argv) > 3:
        import time
        with Controller(sys.argv[3]) as arm:
            arm.start("lift")
            for _ in range(60):
                if arm.task_succeeded:
                    break
                time.sleep(0.1)
            arm.stop()
            print("status: " + json.dumps(arm.status()))
