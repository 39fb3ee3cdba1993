"""Reading TensorFlow 1 checkpoints (tensor bundles) without TensorFlow.

A checkpoint with prefix P is two files:

* ``P.index``: an SSTable (LevelDB table format) mapping each variable name to a serialized
  ``BundleEntryProto`` (dtype, shape, shard, offset, size, masked crc32c); the empty key holds a
  ``BundleHeaderProto`` (number of shards, endianness).
* ``P.data-0000S-of-0000N``: the raw tensor bytes, concatenated.

Only what musicnn's checkpoints need is implemented: uncompressed tables, single- or
multi-shard data, little-endian numeric dtypes, whole (unsliced) tensors. Every table block and,
unless told otherwise, every tensor read is checked against its crc32c.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two block handles padded to 40 bytes + 8-byte magic
_BLOCK_TRAILER_LEN = 5  # compression type (1 byte) + masked crc32c (4 bytes)

# tensorflow/core/framework/types.proto -> numpy (little-endian)
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


class CheckpointError(Exception):
    """The checkpoint is missing, malformed, corrupt or uses a feature not supported here."""


# --- crc32c (Castagnoli), as used by LevelDB tables and tensor bundles ---------------------------

def _make_crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C of `data` (pure Python, table driven: ~10 MB/s, fine for a few MB of weights)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB/TensorFlow 'masked' crc: rotate right by 15 bits and add a constant."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# --- protobuf wire format, the minimum ----------------------------------------------------------

def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos`; returns (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("varint too long")


def _proto_fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of a serialized message.

    Varints come back as ints, fixed32/fixed64 as unsigned ints, length-delimited as bytes.
    """
    buf = memoryview(buf)
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = bytes(buf[pos:pos + length])
            pos += length
        elif wire == 5:
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise CheckpointError("truncated protobuf message")
        yield field, wire, value


def _as_int64(value: int) -> int:
    """Varint-encoded int64/int32 fields carry negatives as 64-bit two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class TensorEntry:
    """One variable's ``BundleEntryProto``."""

    name: str
    dtype: int  # TensorFlow DataType enum
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None  # masked, as stored
    sliced: bool


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for field, _, value in _proto_fields(buf):
        if field == 2:  # repeated Dim dim
            size = 0
            for dfield, _, dvalue in _proto_fields(value):  # type: ignore[arg-type]
                if dfield == 1:
                    size = _as_int64(dvalue)  # type: ignore[arg-type]
            dims.append(size)
        elif field == 3 and value:
            raise CheckpointError("tensor of unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    dtype = shard_id = offset = size = 0
    shape: tuple[int, ...] = ()
    crc: int | None = None
    sliced = False
    for field, _, value in _proto_fields(buf):
        if field == 1:
            dtype = int(value)  # type: ignore[arg-type]
        elif field == 2:
            shape = _parse_shape(value)  # type: ignore[arg-type]
        elif field == 3:
            shard_id = _as_int64(value)  # type: ignore[arg-type]
        elif field == 4:
            offset = _as_int64(value)  # type: ignore[arg-type]
        elif field == 5:
            size = _as_int64(value)  # type: ignore[arg-type]
        elif field == 6:
            crc = int(value)  # type: ignore[arg-type]
        elif field == 7:
            sliced = True
    return TensorEntry(name, dtype, shape, shard_id, offset, size, crc, sliced)


# --- LevelDB table (SSTable) --------------------------------------------------------------------

def _read_block(table: bytes, offset: int, size: int) -> memoryview:
    """Contents of the block at (offset, size), trailer checked."""
    end = offset + size
    if end + _BLOCK_TRAILER_LEN > len(table):
        raise CheckpointError("block handle points past the end of the index file")
    compression = table[end]
    if compression != 0:
        raise CheckpointError(f"compressed table blocks (type {compression}) are not supported")
    stored = struct.unpack_from("<I", table, end + 1)[0]
    if mask_crc(crc32c(table[offset:end + 1])) != stored:  # crc covers contents + type byte
        raise CheckpointError(f"crc mismatch in index block at offset {offset}")
    return memoryview(table)[offset:end]


def _block_entries(block: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """(key, value) pairs of a block: prefix-compressed keys, restart array at the end."""
    if len(block) < 4:
        raise CheckpointError("block too short")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 * (num_restarts + 1)
    if limit < 0:
        raise CheckpointError("bad restart count in block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise CheckpointError("corrupt block entry")
        key = key[:shared] + bytes(block[pos:pos + non_shared])
        pos += non_shared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _block_handle(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _table_entries(table: bytes) -> Iterator[tuple[bytes, memoryview]]:
    if len(table) < _FOOTER_LEN:
        raise CheckpointError("index file too short for an SSTable footer")
    footer = table[-_FOOTER_LEN:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise CheckpointError("not an SSTable (bad magic number)")
    _, _, pos = _block_handle(footer)  # metaindex handle: unused by tensor bundles
    index_offset, index_size, _ = _block_handle(footer, pos)
    for _, handle in _block_entries(_read_block(table, index_offset, index_size)):
        offset, size, _ = _block_handle(handle)
        yield from _block_entries(_read_block(table, offset, size))


# --- public API ---------------------------------------------------------------------------------

def _data_path(prefix: str, shard: int, num_shards: int) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")


def read_index(prefix: str | Path) -> tuple[int, dict[str, TensorEntry]]:
    """(number of shards, {variable name: entry}) from ``<prefix>.index``.

    `prefix` is the checkpoint prefix as TensorFlow names it; musicnn's checkpoints have the
    directory itself as prefix ("MSD_musicnn/"), so their files are "MSD_musicnn/.index" etc.
    """
    index_path = Path(f"{prefix}.index")
    if not index_path.is_file():
        raise CheckpointError(f"checkpoint index not found: {index_path}")
    table = index_path.read_bytes()
    num_shards, entries = 1, {}
    for key, value in _table_entries(table):
        if key == b"":  # BundleHeaderProto
            for field, _, val in _proto_fields(value):
                if field == 1:
                    num_shards = int(val)  # type: ignore[arg-type]
                elif field == 2 and val != 0:
                    raise CheckpointError("big-endian checkpoints are not supported")
            continue
        name = key.decode("utf-8")
        entries[name] = _parse_entry(name, bytes(value))
    return num_shards, entries


def read_checkpoint(prefix: str | Path, names: Iterable[str] | None = None,
                    verify_crc: bool = True) -> dict[str, np.ndarray]:
    """{variable name: array} for the variables of a TF1 checkpoint (all, or only `names`).

    Sizes are always checked against dtype × shape; with `verify_crc` each tensor's bytes are
    checked against the stored crc32c (pure Python, ~1 s per 10 MB: restrict `names` to the
    variables you need, e.g. skip the optimizer's Adam slots).
    """
    prefix = str(prefix)
    num_shards, entries = read_index(prefix)
    wanted = list(entries) if names is None else list(names)
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise CheckpointError(f"variables not in checkpoint {prefix!r}: {missing}")
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        entry = entries[name]
        if entry.sliced:
            raise CheckpointError(f"{name}: partitioned (sliced) variables are not supported")
        if entry.dtype not in _DTYPES:
            raise CheckpointError(f"{name}: unsupported dtype enum {entry.dtype}")
        dtype = _DTYPES[entry.dtype]
        expected = dtype.itemsize * int(np.prod(entry.shape, dtype=np.int64))
        if entry.size != expected:
            raise CheckpointError(f"{name}: stored size {entry.size} != {expected} for "
                                  f"{dtype} {entry.shape}")
        if entry.shard_id not in shards:
            path = _data_path(prefix, entry.shard_id, num_shards)
            if not path.is_file():
                raise CheckpointError(f"checkpoint data shard not found: {path}")
            shards[entry.shard_id] = path.read_bytes()
        data = shards[entry.shard_id]
        if entry.offset + entry.size > len(data):
            raise CheckpointError(f"{name}: data runs past the end of shard {entry.shard_id}")
        raw = data[entry.offset:entry.offset + entry.size]
        if verify_crc and entry.crc32c is not None and mask_crc(crc32c(raw)) != entry.crc32c:
            raise CheckpointError(f"{name}: crc32c mismatch (corrupt checkpoint data)")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()
    return out
