"""Pickle-based checkpoints: an opcode walk that allows only the globals checkpoints use.

Unpickling runs whatever callables the stream names, so the only safe question is "does
it name anything beyond what a checkpoint needs?" (an allow-list), never "does it name
something known to be bad?" (a deny-list: picklescan, modelscan and fickling all had
bypasses of that kind). The walk simulates the stack just enough to know the module and
name behind every ``GLOBAL``, ``INST`` and ``STACK_GLOBAL`` (through the memo too); a name
built at run time, an extension code, an unknown opcode or a truncated stream is a
finding. Nothing is unpickled, and large byte strings are skipped, not read."""

import io
import pickletools
import zipfile
from typing import Any, BinaryIO

from service.workers.scanners._binary import Finding

OPCODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
MAX_LINE = 64 * 1024  # a text argument (GLOBAL's names, INT) longer than this is not a checkpoint
MAX_NAME = 1024  # longer strings are never module or attribute names: skipped, not kept
MAX_STACK = 1_000_000
MAX_PICKLES = 8  # legacy torch.save writes 5 pickles back to back, then raw storage bytes

_TORCH_STORAGES = {
    f"{kind}Storage"
    for kind in (
        "Float",
        "Double",
        "Half",
        "BFloat16",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
        "ComplexFloat",
        "ComplexDouble",
        "QInt8",
        "QUInt8",
        "QInt32",
        "QUInt4x2",
        "QUInt2x4",
        "Untyped",
    )
}
_TORCH_DTYPES = {
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "int64",
    "long",
    "int32",
    "int",
    "int16",
    "short",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
    "float8_e4m3fn",
    "float8_e5m2",
    "uint16",
    "uint32",
    "uint64",
}
_NUMPY_MULTIARRAY = {"_reconstruct", "scalar"}
_NUMPY_NUMERIC = {"_frombuffer"}  # protocol-5 pickles of arrays
SAFE_GLOBALS: dict[str, set[str]] = {
    "collections": {"OrderedDict"},
    "torch._utils": {
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_sparse_tensor",
        "_rebuild_qtensor",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_nested_tensor",
    },
    "torch._tensor": {"_rebuild_from_type_v2"},
    "torch": _TORCH_STORAGES
    | _TORCH_DTYPES
    | {"Size", "Tensor", "device", "strided", "sparse_coo", "per_tensor_affine", "per_channel_affine"},
    "torch.nn.parameter": {"Parameter"},
    "numpy": {"ndarray", "dtype"},
    "numpy.core.multiarray": _NUMPY_MULTIARRAY,
    "numpy._core.multiarray": _NUMPY_MULTIARRAY,
    "numpy.core.numeric": _NUMPY_NUMERIC,
    "numpy._core.numeric": _NUMPY_NUMERIC,
    "numpy.dtypes": {
        f"{kind}DType"
        for kind in (
            "Float16",
            "Float32",
            "Float64",
            "Int8",
            "Int16",
            "Int32",
            "Int64",
            "UInt8",
            "UInt16",
            "UInt32",
            "UInt64",
            "Bool",
            "Complex64",
            "Complex128",
        )
    },
    "_codecs": {"encode"},  # how protocol-2 pickles spell bytes (numpy arrays use it)
    "builtins": {"set", "frozenset", "slice", "bytearray", "complex", "tuple", "list", "dict"},
    "__builtin__": {"set", "frozenset", "slice", "bytearray", "complex"},
    "copyreg": {"_reconstructor"},  # instantiates a class that must itself pass this list
    "copy_reg": {"_reconstructor"},
}

_MARK = object()
_OPAQUE = object()


def scan(f: BinaryIO, size: int) -> dict[str, Any]:
    """Walk the pickle(s) of a plain file or of a PyTorch zip checkpoint; raises ``Finding``."""
    f.seek(0)
    if f.read(4) == b"PK\x03\x04":
        return _scan_zip(f)
    f.seek(0)
    return {"pickles": _walk_stream(f, size, "the file"), "globals": []}


def _scan_zip(f: BinaryIO) -> dict[str, Any]:
    try:
        archive = zipfile.ZipFile(f)
        members = [i for i in archive.infolist() if i.filename.endswith(".pkl")]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise Finding(f"not a readable zip checkpoint ({exc})") from None
    if not members:
        raise Finding("a zip checkpoint without a .pkl member (data.pkl)")
    for info in members:
        try:
            with archive.open(info) as member:
                _walk_stream(io.BufferedReader(member, 64 * 1024), info.file_size, info.filename)
        except Finding as finding:
            raise Finding(f"{info.filename}: {finding}") from None
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise Finding(f"{info.filename}: unreadable ({exc})") from None
    return {"pickles": len(members), "members": [i.filename for i in members][:20]}


def _walk_stream(f: BinaryIO, size: int, where: str) -> int:
    """Every pickle in the stream, back to back; what follows the last one is raw data."""
    count = 0
    while count < MAX_PICKLES:
        start = f.tell()
        head = f.read(1)
        if not head:
            break
        if count and head != b"\x80":  # not another PROTO: the raw storage bytes of legacy torch.save
            break
        f.seek(start)
        _walk_one(f, size)
        count += 1
    if count == 0:
        raise Finding(f"{where} holds no pickle")
    return count


def _walk_one(f: BinaryIO, size: int) -> None:
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    while True:
        offset = f.tell()
        code = f.read(1)
        if not code:
            raise Finding("the pickle ends without STOP (truncated)")
        op = OPCODES.get(code)
        if op is None:
            raise Finding(f"unknown opcode 0x{code[0]:02x} at offset {offset}")
        arg = _argument(f, op, size)
        if op.name == "STOP":
            return
        _step(op, arg, stack, memo, offset)
        if len(stack) > MAX_STACK or len(memo) > MAX_STACK:
            raise Finding("the pickle's stack or memo grows beyond any checkpoint's")


def _argument(f: BinaryIO, op: pickletools.OpcodeInfo, size: int) -> Any:
    spec = op.arg
    if spec is None:
        return None
    if spec.n == pickletools.UP_TO_NEWLINE:
        line = f.readline(MAX_LINE)
        if not line.endswith(b"\n"):
            raise Finding(f"{op.name} has an unterminated or over-long text argument")
        if spec.name == "stringnl_noescape_pair":
            line += f.readline(MAX_LINE)
            if not line.endswith(b"\n") or line.count(b"\n") != 2:
                raise Finding(f"{op.name} has an unterminated or over-long name")
        return spec.reader(io.BytesIO(line))
    if spec.n > 0:  # fixed width
        data = f.read(spec.n)
        if len(data) != spec.n:
            raise Finding("the pickle is truncated")
        return spec.reader(io.BytesIO(data))
    width = {
        pickletools.TAKEN_FROM_ARGUMENT1: 1,
        pickletools.TAKEN_FROM_ARGUMENT4: 4,
        pickletools.TAKEN_FROM_ARGUMENT4U: 4,
        pickletools.TAKEN_FROM_ARGUMENT8U: 8,
    }[spec.n]
    raw = f.read(width)
    if len(raw) != width:
        raise Finding("the pickle is truncated")
    length = int.from_bytes(raw, "little", signed=spec.n == pickletools.TAKEN_FROM_ARGUMENT4)
    if length < 0 or length > size - f.tell():
        raise Finding(f"{op.name} claims {length} bytes, more than the file holds")
    if length > MAX_NAME or op.name in ("LONG1", "LONG4"):
        f.seek(length, io.SEEK_CUR)
        return _OPAQUE
    data = f.read(length)
    if len(data) != length:
        raise Finding("the pickle is truncated")
    return data.decode("utf-8", "replace") if "UNICODE" in op.name else _OPAQUE


def _check_global(module: Any, name: Any, offset: int) -> None:
    if not isinstance(module, str) or not isinstance(name, str):
        raise Finding(f"a global whose name is computed at run time (offset {offset})")
    if name not in SAFE_GLOBALS.get(module, ()):
        raise Finding(f"calls {module}.{name}, which is not on the checkpoint allow-list")


def _step(op: pickletools.OpcodeInfo, arg: Any, stack: list[Any], memo: dict[int, Any], offset: int) -> None:
    name = op.name
    if name in ("EXT1", "EXT2", "EXT4"):
        raise Finding(f"{name} names a global through the copyreg extension registry (offset {offset})")
    if name in ("GLOBAL", "INST"):
        module, _, attribute = arg.partition(" ")
        _check_global(module, attribute, offset)
    if name == "STACK_GLOBAL":
        if len(stack) < 2:
            raise Finding(f"STACK_GLOBAL on an empty stack (offset {offset})")
        _check_global(stack[-2], stack[-1], offset)
    if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
        if not stack or stack[-1] is _MARK:
            raise Finding(f"{name} with nothing to store (offset {offset})")
        memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        return
    if name in ("GET", "BINGET", "LONG_BINGET"):
        if arg not in memo:
            raise Finding(f"{name} of an unknown memo entry (offset {offset})")
        stack.append(memo[arg])
        return
    _pop(op, stack, offset)
    if name == "MARK":
        stack.append(_MARK)
    elif name == "DUP":
        stack.append(stack[-1])
    else:
        value = arg if isinstance(arg, str) and "UNICODE" in name else _OPAQUE
        stack.extend([value] * len(op.stack_after))


def _pop(op: pickletools.OpcodeInfo, stack: list[Any], offset: int) -> None:
    before = op.stack_before
    if op.name == "DUP":
        if not stack:
            raise Finding(f"DUP on an empty stack (offset {offset})")
        return
    if pickletools.markobject in before:
        below = before.index(pickletools.markobject)
        while stack and stack[-1] is not _MARK:
            stack.pop()
        if not stack:
            raise Finding(f"{op.name} without a MARK (offset {offset})")
        stack.pop()
        count = below
    else:
        count = len(before)
    if count > len(stack) or _MARK in stack[len(stack) - count :]:
        raise Finding(f"{op.name} on a stack too short for it (offset {offset})")
    del stack[len(stack) - count :]
