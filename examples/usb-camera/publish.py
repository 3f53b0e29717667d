"""Publish a USB camera (or a video file) into a Reflex frame ring, for a camera policy run by `reflex run --camera`.

    python3 examples/usb-camera/publish.py --source 0 --ring /dev/shm/so101.cam.frames --camera front --size 64x64

Each captured frame is center-cropped to the ring's aspect ratio, resized (INTER_AREA), turned from OpenCV's BGR to
RGB and written into the ring with the layout of docs/hardware.md ("The frame ring"): a seqlocked slot per frame,
stamped with CLOCK_MONOTONIC at capture. The ring stays in place when the script ends; readers then see its last
frame age past --camera-max-age and hold, as for a camera that stopped.

--source is a device index (0 for /dev/video0), a device path, or a video file (played once, or --loop).
Needs OpenCV (`pip install opencv-python-headless`) and numpy. The counters are written with aligned 8-byte stores
(ctypes), which x86-64 and arm64 make atomic; the ordering of the seqlock relies on x86-64's store order or on the
reader's check of the frame number (a frame that fails it is read again).
"""
import argparse
import ctypes
import mmap
import os
import struct
import sys
import time

MAGIC = 0x52465852  # "RXFR" read as a little-endian word
VERSION = 1
HEADER = 4096
DESCRIPTOR = 64
DESCRIPTOR_SIZE = 128
SLOT_HEADER = 64
RGB8 = 1


class FrameRing:
    """The publishing side of a one-camera frame ring (docs/hardware.md)."""

    def __init__(self, path, name, width, height, slots=4):
        self.width, self.height, self.slots = width, height, slots
        self.frame_bytes = width * height * 3
        self.stride = (SLOT_HEADER + self.frame_bytes + 63) // 64 * 64
        self.first = HEADER
        size = HEADER + self.stride * slots
        tmp = "%s.%d.tmp" % (path, os.getpid())
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, size)
            self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        d = DESCRIPTOR
        encoded = name.encode()
        assert 0 < len(encoded) < 32, "camera name must be 1..31 bytes"
        struct.pack_into("<IIIII", self.mm, 4, VERSION, HEADER, 1, slots, 0)
        struct.pack_into("<QI", self.mm, 24, size, os.getpid())
        self.mm[d:d + len(encoded)] = encoded
        struct.pack_into("<IIIIQQ", self.mm, d + 32, width, height, RGB8, self.frame_bytes, self.stride, self.first)
        struct.pack_into("<I", self.mm, 0, MAGIC)  # last: a reader that sees it sees a whole header
        os.rename(tmp, path)
        self.published = ctypes.c_uint64.from_buffer(self.mm, d + 64)
        self.n = 0

    def publish(self, rgb, capture_ns):
        """Writes one H x W x 3 uint8 RGB frame (a numpy array of the ring's size)."""
        n = self.n + 1
        slot = self.first + ((n - 1) % self.slots) * self.stride
        seq = ctypes.c_uint64.from_buffer(self.mm, slot)
        s = seq.value
        seq.value = s + 2 if s & 1 else s + 1  # odd: being written
        self.mm[slot + SLOT_HEADER:slot + SLOT_HEADER + self.frame_bytes] = rgb.tobytes()
        ctypes.c_uint64.from_buffer(self.mm, slot + 8).value = n
        ctypes.c_uint64.from_buffer(self.mm, slot + 16).value = capture_ns
        seq.value = seq.value + 1  # even: complete
        self.published.value = n
        del seq
        self.n = n


def fit(frame, width, height, cv2):
    """Center-crop `frame` (BGR) to width:height, resize to width x height, convert to RGB."""
    h, w = frame.shape[:2]
    if w * height > h * width:  # too wide: crop the sides
        cw = h * width // height
        x = (w - cw) // 2
        frame = frame[:, x:x + cw]
    elif w * height < h * width:  # too tall: crop top and bottom
        ch = w * height // width
        y = (h - ch) // 2
        frame = frame[y:y + ch, :]
    if frame.shape[1] != width or frame.shape[0] != height:
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="0", help="device index, device path or video file")
    p.add_argument("--ring", required=True, help="the frame ring's file, e.g. /dev/shm/so101.cam.frames")
    p.add_argument("--camera", default="front", help="the camera's name: the policy's camera (policy.yaml cameras:)")
    p.add_argument("--size", default="64x64", help="WIDTHxHEIGHT the policy was trained at")
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--fps", type=float, default=0, help="pace a video file at this rate (0: as fast as it decodes)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: until the source ends)")
    p.add_argument("--loop", action="store_true", help="play a video file again and again")
    a = p.parse_args(argv)
    import cv2  # imported here so --help works without OpenCV

    width, height = (int(v) for v in a.size.lower().split("x"))
    source = int(a.source) if a.source.isdigit() else a.source
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        sys.exit("cannot open camera or video %r" % (a.source,))
    ring = FrameRing(a.ring, a.camera, width, height, a.slots)
    print("publishing %s as %s %dx%d into %s" % (a.source, a.camera, width, height, a.ring), flush=True)
    count = 0
    try:
        while a.max_frames == 0 or count < a.max_frames:
            ok, frame = cap.read()
            taken = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            if not ok:
                if a.loop and isinstance(source, str):
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                break
            ring.publish(fit(frame, width, height, cv2), taken)
            count += 1
            if a.fps > 0:
                time.sleep(1.0 / a.fps)
    except KeyboardInterrupt:
        pass
    print("published %d frames" % count, flush=True)


if __name__ == "__main__":
    main()
