"""Encoded test images made here: an EXIF-tagged picture and a small file of a huge image."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

# 64 wide, 40 high: left half white, right half black (a rotation shows in shape and content)
STORED = np.zeros((40, 64, 3), np.uint8)
STORED[:, :32] = 255
ROTATE_90_CW = 6  # EXIF Orientation: "rotate 90 CW to display"


def exif_tagged(fmt: str, pixels: np.ndarray = STORED, orientation: int = ROTATE_90_CW) -> bytes:
    """``pixels`` encoded by Pillow with an EXIF Orientation tag (a phone or camera's file)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, exif=exif, quality=95)
    return out.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A real, decodable 1-bit grey PNG of width x height zero pixels: a few KB on disk,
    ``width * height * 3`` bytes once decoded to colour (768 MB at 16000x16000)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    packer = zlib.compressobj(9)
    rows = row * 500
    idat = b"".join(packer.compress(rows) for _ in range(height // 500))
    idat += packer.compress(row * (height % 500)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
