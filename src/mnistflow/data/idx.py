"""Read and validate IDX files (the MNIST format), gzip-compressed or not.

torchvision's ``read_sn3_pascalvincent_tensor`` parses IDX but checks nothing: a truncated file
fails deep inside a reshape, a foreign file gives garbage. This reader validates the magic
number, the dimensions and the exact byte length first, and names the file in every error.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from mnistflow.errors import UserError

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxError(UserError, ValueError):
    """A file is not a well-formed IDX file of the expected shape."""


def read_bytes(path: str | Path) -> bytes:
    """The file's content, decompressed when its name ends in ``.gz``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise IdxError(f"{path}: file not found; run the download stage (dvc repro download)") from None
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise IdxError(f"{path}: not a readable gzip file ({exc}); delete it and download it again") from None


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array of the header's shape and dtype (native byte order)."""
    if len(data) < 4:
        raise IdxError(f"{name}: truncated: {len(data)} bytes, too short for the 4-byte IDX magic number")
    zero, code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        raise IdxError(
            f"{name}: not an IDX file: magic number 0x{data[:4].hex()} (expected 0x0000 then a type code "
            f"{', '.join(hex(c) for c in IDX_DTYPES)} and the number of dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated inside the header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise IdxError(
            f"{name}: {problem}: the header promises {'x'.join(map(str, dims))} {dtype.name} values "
            f"({expected} bytes) but the file holds {actual} bytes of data; download it again"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a numpy array, validating it completely."""
    return parse_idx(read_bytes(path), name=str(path))


def read_images(path: str | Path, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """An ``(N, H, W)`` uint8 image file; anything else is an :class:`IdxError`."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != shape:
        raise IdxError(
            f"{path}: expected {shape[0]}x{shape[1]} uint8 images (3 dimensions), "
            f"found {images.dtype} with shape {images.shape}; is this a label file?"
        )
    return images


def read_labels(path: str | Path, n_classes: int = 10) -> np.ndarray:
    """An ``(N,)`` uint8 label file with every value in ``[0, n_classes)``."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxError(
            f"{path}: expected a 1-dimensional uint8 label file, found {labels.dtype} with shape {labels.shape}"
        )
    if labels.size and labels.max() >= n_classes:
        raise IdxError(f"{path}: label {int(labels.max())} is outside 0..{n_classes - 1}")
    return labels


def read_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and their labels; their counts must agree."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise IdxError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "the files come from different sets or one is damaged"
        )
    return images, labels


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for ``array`` (the inverse of :func:`parse_idx`); tests use it to make files."""
    codes = {dtype: code for code, dtype in IDX_DTYPES.items()}
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = codes.get(np.dtype(big))
    if code is None:
        raise ValueError(f"IDX has no type code for {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big).tobytes()
