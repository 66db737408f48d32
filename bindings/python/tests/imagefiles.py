"""Image files for the C and Swift clients, written without any image library."""

import struct

import numpy as np


def write_tga(path, pixels: np.ndarray) -> None:
    """Uncompressed TGA, top-left origin; pixels uint8 (H, W, C) with C in 1, 3, 4 (RGB/RGBA order)."""
    h, w, c = pixels.shape
    if c == 1:
        kind, body = 3, pixels
    elif c == 3:
        kind, body = 2, pixels[:, :, ::-1]  # BGR on disk
    elif c == 4:
        kind, body = 2, pixels[:, :, [2, 1, 0, 3]]  # BGRA
    else:
        raise ValueError(c)
    descriptor = 0x20 | (8 if c == 4 else 0)
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, kind, 0, 0, 0, 0, 0, w, h, 8 * c, descriptor)
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(body).tobytes())


def pattern(h, w, c, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, c), dtype=np.uint8)
