#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (Fuzz/Corpus/<target>/) from the repository's own files and a few crafted
packets: one valid example of each input kind, so the fuzzer starts inside the parsers instead of at their first
check. Targets whose input begins with a selector byte (see Fuzz/Sources/ReflexFuzz/Targets.swift) get it prefixed.
Standard library only:  python3 Fuzz/make_seeds.py"""
import json, os, shutil, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fuzz", "Corpus")


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def put(target, name, data, selector=None):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if selector is not None:
        data = bytes([selector]) + data
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


def feetech_status(sid, params, error=0):
    body = bytes([sid, len(params) + 2, error]) + bytes(params)
    return b"\xff\xff" + body + bytes([(~sum(body)) & 0xFF])


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def dynamixel_packet(sid, instruction, params):
    # Byte stuffing: FF FF FD in the parameters gets an extra FD.
    stuffed, i = bytearray(), 0
    while i < len(params):
        stuffed.append(params[i])
        if i >= 2 and params[i - 2:i + 1] == b"\xff\xff\xfd":
            stuffed.append(0xFD)
        i += 1
    length = len(stuffed) + 3
    head = b"\xff\xff\xfd\x00" + bytes([sid]) + struct.pack("<H", length) + bytes([instruction]) + bytes(stuffed)
    return head + struct.pack("<H", crc16(head))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # safetensors: a fixture, a 3-dtype file, an empty one.
    put("safetensors", "python", read("Tests/ReflexCoreTests/Fixtures/python.safetensors"))
    put("safetensors", "mixed", safetensors({"a": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                                             "b": ("BF16", [3], b"\x80\x3f" * 3), "c": ("F16", [1], b"\x00\x3c")},
                                            {"format": "pt"}))
    put("safetensors", "empty", safetensors({}))
    # JSON: the LeRobot fixtures.
    put("json", "config", read("Tests/ReflexPolicyTests/Fixtures/lerobot_image_1cam/config.json"))
    put("json", "numbers", b'{"a": [1, -2.5e-3, 1E10, true, false, null, "\\u00e9\\n"], "b": {}}')
    # YAML, one per type as the selector orders them in Targets.swift.
    put("yaml", "robot", read("robots/so101.yaml"), 0)
    put("yaml", "policy", read("policies/so101-lift/policy.yaml"), 1)
    put("yaml", "deployment", read("examples/deployment-sim.yaml"), 2)
    put("yaml", "serve", read("examples/serve-sim.yaml"), 3)
    put("yaml", "bus-calibration", b"robot: so101\njoints:\n  - joint: shoulder_pan\n    id: 1\n    offset: 2048\n    direction: 1\n    range_min: 700\n    range_max: 3300\n", 4)
    put("yaml", "safety", b"position_margin: 0.05\nvelocity_scale: 0.8\nwatchdog_timeout: 0.1\nwatchdog_action: hold\nstop_action: torque_off\n", 5)
    put("yaml", "value-function", b"state_size: 10\naction_size: 6\nhidden_sizes: [64, 64]\nactivation: relu\nlayer_norm: true\ngamma: 0.99\nalgorithm: iql\n", 6)
    put("yaml", "sweep", read("examples/sweep.yaml"), 7)
    put("yaml", "anchors", b"a: &x [1, 2, {b: 'c', d: \"e\\n\"}]\nf: *x\ng: |\n  block\n  text\n", 8)
    # URDF: both bundled arms, and a mesh reference.
    put("urdf", "so101", read("robots/so101.urdf"))
    put("urdf", "koch", read("robots/koch.urdf"))
    put("urdf", "mesh", b'<robot name="r"><link name="a"><collision><geometry><mesh filename="package://p/m.stl" scale="1 1 1"/></geometry></collision></link></robot>')
    # Meshes: a binary STL tetrahedron and an OBJ.
    tri = [((0, 0, 1), (0, 0, 0), (1, 0, 0), (0, 1, 0)), ((1, 0, 0), (0, 0, 0), (0, 0, 1), (1, 0, 0))]
    stl = b"\0" * 80 + struct.pack("<I", len(tri)) + b"".join(struct.pack("<12fH", *[c for v in t for c in v], 0) for t in tri)
    put("mesh", "binary-stl", stl, 0)
    put("mesh", "ascii-stl", b"solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n", 0)
    put("mesh", "obj", b"# cube corner\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvn 0 0 1\nf 1//1 2//1 3//1\nf 1 3 4\n", 1)
    # LeRobot config.json and processor pipelines.
    for name in ["lerobot_image_1cam", "lerobot_film", "lerobot_legacy"]:
        put("lerobot-config", name, read(f"Tests/ReflexPolicyTests/Fixtures/{name}/config.json"), 0)
    put("lerobot-config", "preprocessor", read("Tests/ReflexPolicyTests/Fixtures/lerobot_film/policy_preprocessor.json"), 1)
    put("lerobot-config", "postprocessor", read("Tests/ReflexPolicyTests/Fixtures/lerobot_film/policy_postprocessor.json"), 1)
    # LeRobot calibration.
    motors = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    cal = {m: {"id": i + 1, "drive_mode": 0, "homing_offset": -1470 + 300 * i, "range_min": 758, "range_max": 3292}
           for i, m in enumerate(motors)}
    put("lerobot-calibration", "so101", json.dumps(cal, indent=4).encode())
    # PPM frames (P6 binary, P3 text).
    put("ppm", "p6", b"P6\n# c\n2 2\n255\n" + bytes(range(12)))
    put("ppm", "p3", b"P3 2 1 255 0 1 2 3 4 5\n")
    # Servo byte streams: the SDKs' instruction packets and crafted status replies, with garbage between.
    cases = json.load(open(os.path.join(ROOT, "Tests/ReflexHardwareTests/Fixtures/servo_packets.json")))["cases"]
    fe = b"".join(bytes.fromhex(c["python"]) for c in cases if c["protocol"] == "feetech")
    dx = b"".join(bytes.fromhex(c["python"]) for c in cases if c["protocol"] == "dynamixel")
    fs = feetech_status(1, [0x00, 0x08]) + b"\x00\xff" + feetech_status(2, [1, 2, 3, 4], error=0x20)
    ds = dynamixel_packet(1, 0x55, b"\x00\x00\x08\x00\x00") + b"\xff\xfd" + dynamixel_packet(2, 0x55, b"\x00\xff\xff\xfd\x01")
    for sel, data, name in [(0, fs, "feetech-status"), (1, fe, "feetech-instruction"),
                            (2, ds, "dynamixel-status"), (3, dx, "dynamixel-instruction")]:
        put("servo-frames", name, data, sel)
    put("servo-emulator", "feetech", fe, 0)
    put("servo-emulator", "dynamixel", dx, 1)
    # Camera channel datagrams (magic "RXCM", version 1, kind).
    head = lambda kind: struct.pack("<IBBH", 0x4D435852, 1, kind, 0)
    put("camera-message", "estimate", head(1) + struct.pack("<IIQQ10d", 3, 1, 7, 123456789, 0.2, 0.0, 0.02, 0, 0, 0, 1, 0.1, 0.1, 0.1))
    put("camera-message", "subscribe", head(2))
    put("camera-message", "reset", head(3) + struct.pack("<IIQ", 4, 0, 99))
    # The daemon's bodies.
    put("daemon-request", "predict-safetensors", safetensors({"observation": ("F32", [1, 4], struct.pack("<4f", 0.1, 0.2, 0.3, 0.4))},
                                                             {"policy": "lift", "seed": "3", "execution": "rtc:5"}), 0)
    put("daemon-request", "predict-json", json.dumps({"policy": "lift", "observation": [0.1, 0.2], "steps_executed": 0,
                                                      "episode_start": True, "seed": 1}).encode(), 1)
    put("daemon-request", "load", json.dumps({"name": "lift", "directory": "policies/so101-lift"}).encode(), 2)
    put("daemon-request", "name", json.dumps({"policy": "lift"}).encode(), 3)
    put("daemon-request", "steering", json.dumps({"policy": "lift", "sampler": "rti", "value": "q", "k": 4, "beta": 0.5, "dsrl_actor": "a"}).encode(), 4)


if __name__ == "__main__":
    main()
