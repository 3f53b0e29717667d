"""LeRobot 0.4.4's own follower classes, unmodified, as clients of Reflex's servo-bus emulator over a pseudo-terminal
(LeRobotFollowerTests). Usage:

    lerobot_follower.py so101|koch PORT CALIBRATION_FILE|-|setup USE_DEGREES(0|1) ACTION_JSON

It connects the robot, lets configure() set the servos up, reads one observation, sends one action, and prints
JSON: the observation, the raw Present_Position words around it, the raw Goal_Position words after send_action, the
calibration LeRobot reads back from the servos and the calibration file it holds. With a CALIBRATION_FILE, LeRobot
asks whether to use it and this answers ENTER, so LeRobot's own write_calibration puts the file's offsets and limits
on the servos. With "-" LeRobot calibrates interactively, its prompts answered on this script's stdin by the test,
which moves the joints by hand through the emulator between the ENTERs. With "setup" (SO-101) it runs LeRobot's
motor setup (lerobot-setup-motors), the test plugging one factory-fresh servo in at a time. LeRobot's prompts and live tables go to
stderr; stdout carries only the JSON.

torch is not installed in the peers venv (from PyPI it pulls gigabytes of CUDA wheels), yet lerobot's package
imports it, and a few other heavy modules, at import time. None of them is used on a follower's path: they are
replaced here by stubs that raise if anything calls them, so a call would fail this script rather than pass
silently. Everything else — lerobot, its motor buses, the vendors' SDKs, numpy, draccus — is the real package
(Tests/peers-lerobot-requirements.txt)."""
import builtins
import importlib.abc
import importlib.machinery
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

STUBBED = {"torch", "torchvision", "safetensors.torch", "accelerate", "av", "einops", "diffusers", "transformers",
           "cv2", "wandb", "gymnasium", "rerun"}


class Stub(types.ModuleType):
    """A module whose attributes are more stubs (capitalized names: empty classes, usable in annotations and
    isinstance/singledispatch registrations) and which raises when called."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name[:1].isupper():
            cls = type(name, (), {"__module__": self.__name__})
            setattr(self, name, cls)
            return cls
        return Stub(self.__name__ + "." + name)

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.__name__} was called, but it is a stub: the follower path must not need it")

    def __or__(self, other):
        return self

    def __ror__(self, other):
        return self

    def __getitem__(self, key):
        return self

    def __mro_entries__(self, bases):
        return (object,)


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name in STUBBED or name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = Stub(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, StubFinder())

# The emulator answers over a pseudo-terminal on a shared two-core machine, with the rest of the test suite running
# beside it. The SDKs check their reply timeout (Dynamixel 34 ms, LeRobot's Feetech patch about 50 ms) right after a
# read that found nothing, so this process, descheduled for longer than that, times out on a reply that has already
# arrived ("There is no status packet!"). Their timeouts are floored at 300 ms; every byte is still the SDKs' own,
# and an absent servo still times out, later.
PATIENCE_MS = 300.0


def _patient(port_handler):
    def isPacketTimeout(self):  # noqa: N802 (the SDKs' name)
        if self.getTimeSinceStart() > max(self.packet_timeout, PATIENCE_MS):
            self.packet_timeout = 0
            return True
        return False
    port_handler.isPacketTimeout = isPacketTimeout


import dynamixel_sdk  # noqa: E402
import scservo_sdk  # noqa: E402

_patient(dynamixel_sdk.PortHandler)
_patient(scservo_sdk.PortHandler)


def main():
    kind, port, calibration_file, use_degrees, action_json = sys.argv[1:6]
    stdout, sys.stdout = sys.stdout, sys.stderr
    calibration_dir = Path(tempfile.mkdtemp())
    robot_id = "reflex_test"
    if calibration_file == "setup":
        # lerobot-setup-motors: one motor on the bus at a time (the test swaps them), each given its id and baud rate.
        def prompt_on_stderr(prompt=""):
            sys.stderr.write(prompt)
            sys.stderr.flush()
            return sys.stdin.readline().rstrip("\n")
        builtins.input = prompt_on_stderr
        from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig
        robot = SO101Follower(SO101FollowerConfig(port=port, id=robot_id, calibration_dir=calibration_dir))
        robot.setup_motors()
        robot.bus.port_handler.closePort()
        shutil.rmtree(calibration_dir)
        print(json.dumps({"motors": {m: robot.bus.motors[m].id for m in robot.bus.motors}}), file=stdout)
        return
    if calibration_file != "-":
        # LeRobot's prompt: ENTER uses the calibration file as it is.
        builtins.input = lambda prompt="": ""
        shutil.copy(calibration_file, calibration_dir / f"{robot_id}.json")
    else:
        # Interactive: input() reads the test's ENTERs; the prompt goes to stderr with everything LeRobot prints.
        def prompt_on_stderr(prompt=""):
            sys.stderr.write(prompt)
            sys.stderr.flush()
            return sys.stdin.readline().rstrip("\n")
        builtins.input = prompt_on_stderr
    if kind == "so101":
        from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig
        robot = SO101Follower(SO101FollowerConfig(port=port, id=robot_id, calibration_dir=calibration_dir,
                                                  use_degrees=use_degrees == "1"))
    else:
        from lerobot.robots.koch_follower import KochFollower, KochFollowerConfig
        robot = KochFollower(KochFollowerConfig(port=port, id=robot_id, calibration_dir=calibration_dir,
                                                use_degrees=use_degrees == "1"))
    robot.connect(calibrate=True)
    bus = robot.bus
    before = bus.sync_read("Present_Position", normalize=False)
    observation = robot.get_observation()
    after = bus.sync_read("Present_Position", normalize=False)
    action = json.loads(action_json)
    sent = robot.send_action(action)
    goal = bus.sync_read("Goal_Position", normalize=False)
    read_back = bus.read_calibration()
    robot.disconnect()
    saved = (calibration_dir / f"{robot_id}.json").read_text()
    shutil.rmtree(calibration_dir)
    print(json.dumps({
        "calibration_file": saved,
        "norm_modes": {m: bus.motors[m].norm_mode.value for m in bus.motors},
        "present_before": {m: int(v) for m, v in before.items()},
        "present_after": {m: int(v) for m, v in after.items()},
        "observation": {k: float(v) for k, v in observation.items()},
        "sent": {k: float(v) for k, v in sent.items()},
        "goal": {m: int(v) for m, v in goal.items()},
        "calibration": {m: {"id": c.id, "drive_mode": c.drive_mode, "homing_offset": c.homing_offset,
                            "range_min": c.range_min, "range_max": c.range_max} for m, c in read_back.items()},
    }), file=stdout)


if __name__ == "__main__":
    main()
