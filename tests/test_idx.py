"""IDX reading: round trips, and a clear IdxError (naming the file) for every kind of damage."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_digits
from mnistflow.data.idx import (
    IdxError,
    encode_idx,
    parse_idx,
    read_bytes,
    read_idx,
    read_images,
    read_labels,
    read_pair,
)


@pytest.fixture()
def digits() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_digits(50, seed=3)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


# --- encoding and round trips --------------------------------------------------------------


def test_encode_idx_header_layout(digits):
    images, labels = digits
    data = encode_idx(images)
    # 0x0000, type code 0x08 (uint8), 3 dimensions, then big-endian 50, 28, 28.
    assert data[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", data[4:16]) == (50, 28, 28)
    assert len(data) == 16 + 50 * 28 * 28
    assert data[16:] == images.tobytes()

    label_data = encode_idx(labels)
    assert label_data[:4] == b"\x00\x00\x08\x01"
    assert struct.unpack(">I", label_data[4:8]) == (50,)
    assert len(label_data) == 8 + 50
    assert label_data[8:] == labels.tobytes()


def test_round_trip_uint8_images(digits):
    images, _ = digits
    parsed = parse_idx(encode_idx(images))
    assert parsed.dtype == np.uint8
    assert parsed.shape == (50, 28, 28)
    np.testing.assert_array_equal(parsed, images)


def test_round_trip_uint8_labels(digits):
    _, labels = digits
    parsed = parse_idx(encode_idx(labels))
    assert parsed.dtype == np.uint8
    assert parsed.shape == (50,)
    np.testing.assert_array_equal(parsed, labels)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_wider_dtypes_in_native_order(dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    data = encode_idx(array)
    # Multi-byte values are stored big-endian in the file...
    assert data[16:] == array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    parsed = parse_idx(data)
    # ...and come back in native byte order with the same values.
    assert parsed.dtype == np.dtype(dtype)
    assert parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)


def test_encode_idx_rejects_dtype_without_code():
    with pytest.raises(ValueError, match="no type code"):
        encode_idx(np.zeros(3, dtype=np.uint16))


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_gz_and_raw(tmp_path, digits, suffix):
    images, labels = digits
    img_path = _write(tmp_path / f"images{suffix}", encode_idx(images))
    lbl_path = _write(tmp_path / f"labels{suffix}", encode_idx(labels))
    if suffix == ".gz":
        assert img_path.read_bytes()[:2] == b"\x1f\x8b"  # really compressed on disk
    np.testing.assert_array_equal(read_idx(img_path), images)
    np.testing.assert_array_equal(read_idx(str(lbl_path)), labels)
    x, y = read_pair(img_path, lbl_path)
    assert x.shape == (50, 28, 28) and y.shape == (50,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_read_bytes_decompresses_only_gz(tmp_path, digits):
    data = encode_idx(digits[1])
    gz = _write(tmp_path / "l.gz", data)
    assert read_bytes(gz) == data
    # A name not ending in .gz is read as is, even when the bytes are gzip data.
    raw = tmp_path / "l.raw"
    raw.write_bytes(gz.read_bytes())
    assert read_bytes(raw) == gz.read_bytes()


def test_tiny_mnist_fixture_reads(tiny_mnist):
    folder, _ = tiny_mnist
    x, y = read_pair(folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    assert x.shape == (600, 28, 28) and y.shape == (600,)
    assert np.bincount(y, minlength=10).tolist() == [60] * 10
    tx, ty = read_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    assert tx.shape == (200, 28, 28) and ty.shape == (200,)


def test_empty_label_file_is_valid(tmp_path):
    path = _write(tmp_path / "empty.gz", encode_idx(np.zeros(0, dtype=np.uint8)))
    labels = read_labels(path)
    assert labels.shape == (0,)


# --- damaged or foreign files --------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_data(tmp_path, digits, suffix):
    images, _ = digits
    data = encode_idx(images)
    path = _write(tmp_path / f"cut{suffix}", data[:-100])
    with pytest.raises(IdxError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "truncated" in message
    assert "50x28x28" in message
    assert f"{50 * 28 * 28} bytes" in message
    assert f"holds {50 * 28 * 28 - 100} bytes" in message


def test_truncated_inside_header(tmp_path, digits):
    data = encode_idx(digits[0])
    path = _write(tmp_path / "header.gz", data[:10])
    with pytest.raises(IdxError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "truncated inside the header" in message
    assert "10 of 16 bytes" in message


@pytest.mark.parametrize("n_bytes", [0, 3])
def test_truncated_before_magic(tmp_path, n_bytes):
    path = _write(tmp_path / "tiny", b"\x00" * n_bytes)
    with pytest.raises(IdxError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert f"truncated: {n_bytes} bytes" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(100),  # a PNG
        bytes(np.random.default_rng(7).integers(1, 256, size=500, dtype=np.uint8)),  # random bytes
        b"\x00\x00\x07\x01" + bytes(8),  # unknown type code
        b"\x00\x00\x08\x00" + bytes(8),  # zero dimensions
    ],
    ids=["png", "random", "bad-type-code", "zero-dims"],
)
def test_wrong_magic_number(tmp_path, data):
    path = _write(tmp_path / "foreign.gz", data)
    with pytest.raises(IdxError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "not an IDX file" in message
    assert f"0x{data[:4].hex()}" in message


def test_trailing_bytes(tmp_path, digits):
    data = encode_idx(digits[1]) + b"\x00\x01\x02"
    path = _write(tmp_path / "labels.gz", data)
    with pytest.raises(IdxError) as info:
        read_labels(path)
    message = str(info.value)
    assert str(path) in message
    assert "trailing bytes" in message
    assert "(50 bytes)" in message and "holds 53 bytes" in message


def test_parse_idx_names_the_source():
    with pytest.raises(IdxError, match=r"^some-name: truncated"):
        parse_idx(b"\x00\x00", name="some-name")
    with pytest.raises(IdxError, match=r"^<bytes>: not an IDX file"):
        parse_idx(b"GIF89a")


def test_read_pair_count_mismatch(tmp_path, digits):
    images, labels = digits
    img = _write(tmp_path / "img.gz", encode_idx(images))
    lbl = _write(tmp_path / "lbl.gz", encode_idx(labels[:40]))
    with pytest.raises(IdxError) as info:
        read_pair(img, lbl)
    message = str(info.value)
    assert str(img) in message and str(lbl) in message
    assert "50 images" in message and "40 labels" in message


def test_label_file_passed_as_images(tmp_path, digits):
    lbl = _write(tmp_path / "train-labels-idx1-ubyte.gz", encode_idx(digits[1]))
    with pytest.raises(IdxError) as info:
        read_images(lbl)
    message = str(info.value)
    assert str(lbl) in message
    assert "label file" in message
    assert "(50,)" in message


def test_images_passed_as_labels(tmp_path, digits):
    img = _write(tmp_path / "img.gz", encode_idx(digits[0]))
    with pytest.raises(IdxError) as info:
        read_labels(img)
    assert str(img) in str(info.value)
    assert "1-dimensional" in str(info.value)
    assert "(50, 28, 28)" in str(info.value)


def test_read_pair_with_swapped_files(tmp_path, digits):
    images, labels = digits
    img = _write(tmp_path / "img.gz", encode_idx(images))
    lbl = _write(tmp_path / "lbl.gz", encode_idx(labels))
    with pytest.raises(IdxError, match="label file"):
        read_pair(lbl, img)


def test_images_of_wrong_size_or_dtype(tmp_path):
    small = _write(tmp_path / "small.gz", encode_idx(np.zeros((4, 14, 14), dtype=np.uint8)))
    with pytest.raises(IdxError, match=r"28x28 uint8.*\(4, 14, 14\)"):
        read_images(small)
    assert read_images(small, shape=(14, 14)).shape == (4, 14, 14)
    floats = _write(tmp_path / "floats.gz", encode_idx(np.zeros((4, 28, 28), dtype=np.float32)))
    with pytest.raises(IdxError, match="float32"):
        read_images(floats)


def test_label_out_of_range(tmp_path, digits):
    labels = digits[1].copy()
    labels[17] = 12
    path = _write(tmp_path / "labels.gz", encode_idx(labels))
    with pytest.raises(IdxError) as info:
        read_labels(path)
    message = str(info.value)
    assert str(path) in message
    assert "label 12 is outside 0..9" in message
    # The same labels are fine with more classes.
    assert read_labels(path, n_classes=13)[17] == 12
    # 10 is the first value out of range for MNIST.
    labels[17] = 10
    _write(path, encode_idx(labels))
    with pytest.raises(IdxError, match="label 10 is outside 0..9"):
        read_labels(path)


def test_corrupt_gzip_garbage(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"this is not gzip data at all" * 10)
    with pytest.raises(IdxError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "not a readable gzip file" in message


def test_corrupt_gzip_truncated_stream(tmp_path, digits):
    path = tmp_path / "cut.gz"
    compressed = gzip.compress(encode_idx(digits[0]), mtime=0)
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(IdxError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "not a readable gzip file" in str(info.value)


def test_corrupt_gzip_flipped_bytes(tmp_path, digits):
    compressed = bytearray(gzip.compress(encode_idx(digits[0]), mtime=0))
    # Overwrite part of the deflate stream (after the 10-byte gzip header) with garbage.
    middle = len(compressed) // 2
    compressed[middle : middle + 64] = bytes(range(64))
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(IdxError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "not a readable gzip file" in str(info.value)


@pytest.mark.parametrize("name", ["missing.gz", "missing"])
def test_missing_file(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(IdxError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "file not found" in message
    assert "download" in message


def test_idx_error_is_a_value_error():
    assert issubclass(IdxError, ValueError)
