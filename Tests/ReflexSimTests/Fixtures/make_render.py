"""pybullet's TinyRenderer images of the SO-101 lift scene, for Tests/ReflexSimTests/SceneRendererTests.swift.

  "$(Benchmarks/peers/setup.sh)" Tests/ReflexSimTests/Fixtures/make_render.py

(pybullet's module needs numpy to import, which the peers venv of Benchmarks/peers/setup.sh has.)

Builds the scene Reflex's lift task builds, in the same order (so the same object ids): robots/so101.urdf with a fixed
base at the origin (id 0), a table top — the world's plane with a thin box visual, since a plane has no picture of its
own (id 1) — and the 3 cm cube (id 2), with the arm at fixed joint angles. Renders three cameras with
getCameraImage(renderer=ER_TINY_RENDERER) and pybullet's default light: a front camera, an oblique one with link
indices in the segmentation (ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX) and a wrist camera mounted on gripper_link.
Writes render_so101.safetensors: the scene and camera parameters as F64 tensors, and per camera
rgb (U8, h×w×3), depth (F32, h×w) and seg (I32, h×w).
"""
import json
import math
import os
import struct

import numpy as np
import pybullet as p

HERE = os.path.dirname(os.path.abspath(__file__))
URDF = os.path.join(HERE, "..", "..", "..", "robots", "so101.urdf")

# Joint angles by pybullet joint index (shoulder_pan … gripper); the tcp joint is fixed.
JOINTS = [0.25, 0.35, 1.35, 1.45, 0.4, 0.9]
CUBE_HALF = 0.015
CUBE_POSE = [0.21, 0.03, CUBE_HALF, 0.3]  # x, y, z, yaw
CUBE_RGBA = [0.85, 0.15, 0.1, 1.0]
TABLE_HALF = [0.4, 0.4, 0.01]
TABLE_CENTER = [0.2, 0.0, -0.01]
TABLE_RGBA = [0.8, 0.65, 0.45, 1.0]
GRIPPER_LINK = 4  # gripper_link, the child of wrist_roll

# name: width, height, fov, near, far, eye, target, up, mount link (-2: world), link indices in seg (0/1)
CAMERAS = {
    "front": (64, 48, 60.0, 0.01, 2.0, [0.55, 0.0, 0.35], [0.15, 0.0, 0.05], [0.0, 0.0, 1.0], -2, 0),
    "oblique": (48, 36, 50.0, 0.05, 3.0, [0.3, -0.45, 0.3], [0.15, 0.05, 0.05], [0.0, 0.0, 1.0], -2, 1),
    "wrist": (32, 24, 75.0, 0.01, 1.0, [0.0, -0.05, 0.0], [0.0, -0.02, 0.12], [1.0, 0.0, 0.0], GRIPPER_LINK, 0),
}


def rotate(q, v):
    m = p.getMatrixFromQuaternion(q)
    return [m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
            m[6] * v[0] + m[7] * v[1] + m[8] * v[2]]


def build():
    p.connect(p.DIRECT)
    arm = p.loadURDF(URDF, [0, 0, 0], useFixedBase=True)
    for j, q in enumerate(JOINTS):
        p.resetJointState(arm, j, q)
    table = p.createMultiBody(baseMass=0, baseCollisionShapeIndex=p.createCollisionShape(p.GEOM_PLANE),
                              baseVisualShapeIndex=p.createVisualShape(p.GEOM_BOX, halfExtents=TABLE_HALF,
                                                                       rgbaColor=TABLE_RGBA,
                                                                       visualFramePosition=TABLE_CENTER))
    h = CUBE_HALF
    cube = p.createMultiBody(baseMass=0.03, baseCollisionShapeIndex=p.createCollisionShape(p.GEOM_BOX, halfExtents=[h] * 3),
                             baseVisualShapeIndex=p.createVisualShape(p.GEOM_BOX, halfExtents=[h] * 3,
                                                                      rgbaColor=CUBE_RGBA),
                             basePosition=CUBE_POSE[:3],
                             baseOrientation=p.getQuaternionFromEuler([0, 0, CUBE_POSE[3]]))
    assert (arm, table, cube) == (0, 1, 2)
    return arm


def camera_matrices(arm, cam):
    w, h, fov, near, far, eye, target, up, link, _ = cam
    if link >= -1:
        state = p.getLinkState(arm, link, computeForwardKinematics=True)
        pos, orn = state[4], state[5]
        eye = [a + b for a, b in zip(pos, rotate(orn, eye))]
        target = [a + b for a, b in zip(pos, rotate(orn, target))]
        up = rotate(orn, up)
    view = p.computeViewMatrix(eye, target, up)
    proj = p.computeProjectionMatrixFOV(fov, w / h, near, far)
    return view, proj


def render(arm, cam):
    w, h = cam[0], cam[1]
    view, proj = camera_matrices(arm, cam)
    flags = p.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX if cam[9] else 0
    _, _, rgba, depth, seg = p.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER, flags=flags)
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3]
    return (rgb.tobytes(), np.asarray(depth, dtype="<f4").reshape(h, w).tobytes(),
            np.asarray(seg, dtype="<i4").reshape(h, w).tobytes())


def safetensors(tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def main():
    arm = build()
    tensors = {
        "joints": ("F64", [len(JOINTS)], struct.pack(f"<{len(JOINTS)}d", *JOINTS)),
        "cube": ("F64", [8], struct.pack("<8d", CUBE_HALF, *CUBE_POSE[:3], CUBE_POSE[3], *CUBE_RGBA[:3])),
        "table": ("F64", [10], struct.pack("<10d", *TABLE_HALF, *TABLE_CENTER, *TABLE_RGBA)),
    }
    for name, cam in CAMERAS.items():
        w, h, fov, near, far, eye, target, up, link, seg_links = cam
        params = [w, h, fov, near, far, *eye, *target, *up, link, seg_links]
        tensors[f"{name}.camera"] = ("F64", [len(params)], struct.pack(f"<{len(params)}d", *params))
        rgb, depth, seg = render(arm, cam)
        tensors[f"{name}.rgb"] = ("U8", [h, w, 3], rgb)
        tensors[f"{name}.depth"] = ("F32", [h, w], depth)
        tensors[f"{name}.seg"] = ("I32", [h, w], seg)
    out = os.path.join(HERE, "render_so101.safetensors")
    with open(out, "wb") as f:
        f.write(safetensors(tensors))
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
