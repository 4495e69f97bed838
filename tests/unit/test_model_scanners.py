"""The model scanners against a corpus the tests generate: hostile files are unsafe, real ones safe.

Benign files come from the real writers (safetensors + numpy, gguf, onnx, pickle of numpy
arrays) and from torch-shaped checkpoints built without torch: stand-in modules named
``torch._utils`` and ``torch`` make ``pickle`` write exactly the globals and persistent ids
that ``torch.save`` writes, in the same zip layout."""

import io
import json
import pickle
import struct
import sys
import types
from collections import OrderedDict

import gguf
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from safetensors.numpy import save as save_safetensors

from service.domain.scans import Verdict
from service.workers.scanners import SCANNERS, format_of, scan_file
from service.workers.scanners import gguf as gguf_scanner
from tests.model_corpus import GETATTR_CHAIN, System, torch_zip


def verdict(path: str, data: bytes):
    return scan_file(path, io.BytesIO(data), len(data))


def assert_unsafe(path: str, data: bytes, *words: str) -> None:
    report = verdict(path, data)
    assert report.verdict is Verdict.UNSAFE, report
    text = " ".join(report.findings).lower()
    for word in words:
        assert word.lower() in text, report.findings


# ---- torch-shaped checkpoints without torch -------------------------------------------------


@pytest.fixture(scope="module")
def fake_torch():
    """Modules named like torch's, so pickle writes torch's global references."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        return args

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2

    class FloatStorage:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    torch.FloatStorage, torch._utils = FloatStorage, utils
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    yield torch
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


class Tensor:
    """Pickles as torch.Tensor does: _rebuild_tensor_v2(storage ref, offset, size, stride, ...)."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        storage = StorageRef(self.key, self.numel)
        return rebuild, (storage, 0, (self.numel,), (1,), False, OrderedDict())


class StorageRef:
    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", sys.modules["torch"].FloatStorage, obj.key, "cpu", obj.numel)
        return None


def state_dict_pickle(**extra) -> bytes:
    buffer = io.BytesIO()
    state = OrderedDict([("layer.weight", Tensor("0", 4)), ("layer.bias", Tensor("1", 2)), *extra.items()])
    TorchPickler(buffer, protocol=2).dump(state)
    return buffer.getvalue()


class Nested:
    def __reduce__(self):
        return pickle.loads, (pickle.dumps(System()),)


def test_benign_torch_checkpoints_are_safe(fake_torch):
    assert verdict("pytorch_model.bin", torch_zip(state_dict_pickle())).verdict is Verdict.SAFE
    legacy = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {"le": True}))
    legacy += state_dict_pickle() + pickle.dumps(["0", "1"], protocol=2) + b"\x00" * 24  # raw storages
    assert verdict("model.pt", legacy).verdict is Verdict.SAFE


def test_numpy_and_plain_pickles_are_safe():
    data = pickle.dumps({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "ids": {1, 2}}, protocol=2)
    assert verdict("weights.pkl", data).verdict is Verdict.SAFE
    assert verdict("weights.pkl", pickle.dumps(np.ones(3), protocol=5)).verdict is Verdict.SAFE


def test_reduce_to_os_system_is_unsafe(fake_torch):
    for protocol in (0, 2, 4, 5):
        assert_unsafe("model.pkl", pickle.dumps(System(), protocol=protocol), "system", "allow-list")
    assert_unsafe("pytorch_model.bin", torch_zip(state_dict_pickle(evil=System())), "archive/data.pkl", "system")


def test_getattr_chains_and_nested_pickles_are_unsafe():
    assert_unsafe("model.ckpt", GETATTR_CHAIN, "builtins.getattr")
    assert_unsafe("model.pth", pickle.dumps(Nested(), protocol=2), "pickle", "loads")
    builtins_eval = b"cbuiltins\neval\n(Vprint(1)\ntR."
    assert_unsafe("model.joblib", builtins_eval, "builtins.eval")


def test_tricks_on_the_walker_are_unsafe():
    computed = b"\x80\x04\x8c\x02os\x8c\x06system\x86\x8c\x01x\x93."  # STACK_GLOBAL on a tuple and a name
    assert_unsafe("m.pkl", computed, "computed")
    assert_unsafe("m.pkl", b"\x80\x02\x82\x01.", "extension")  # EXT1
    assert_unsafe("m.pkl", b"\x80\x02\xff.", "unknown opcode")
    assert_unsafe("m.pkl", pickle.dumps({"a": 1})[:-1], "truncated")
    huge = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"x."  # BINBYTES8 claiming 4 EiB
    assert_unsafe("m.pkl", huge, "more than the file holds")
    memo = b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93."  # names through the memo
    assert_unsafe("m.pkl", memo, "posix.system")


# ---- safetensors ---------------------------------------------------------------------------


def real_safetensors() -> bytes:
    return save_safetensors(
        {"a": np.zeros((2, 3), np.float32), "b": np.arange(5, dtype=np.int64)}, metadata={"format": "np"}
    )


def safetensors_with(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def test_real_safetensors_are_safe():
    assert verdict("model.safetensors", real_safetensors()).verdict is Verdict.SAFE
    assert verdict("model-00001-of-00002.bin", real_safetensors()).format == "safetensors"


def test_hostile_safetensors_are_unsafe():
    good = real_safetensors()
    assert_unsafe("m.safetensors", struct.pack("<Q", 2**63) + good[8:], "cap")
    assert_unsafe("m.safetensors", struct.pack("<Q", 200 * 1000 * 1000) + b"{}", "cap")
    assert_unsafe("m.safetensors", good[:-4], "cover")
    assert_unsafe("m.safetensors", struct.pack("<Q", 5) + b"nope!" + b"\0" * 8, "not json")
    overlap = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    assert_unsafe("m.safetensors", safetensors_with(overlap, b"\0" * 12), "overlaps")
    wrong_size = {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
    assert_unsafe("m.safetensors", safetensors_with(wrong_size, b"\0" * 8), "span 8")
    metadata = {"__metadata__": {"x": 1}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    assert_unsafe("m.safetensors", safetensors_with(metadata, b"\0"), "strings")
    raw = (
        b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
        b'"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'
    )
    assert_unsafe("m.safetensors", struct.pack("<Q", len(raw)) + raw + b"\0", "twice")


# ---- GGUF and ONNX -------------------------------------------------------------------------


def real_gguf(tmp_path) -> bytes:
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_string("general.name", "tiny")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    writer.add_tensor("w", np.ones((4, 8), dtype=np.float32))
    writer.add_tensor("h", np.ones(32, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def test_real_gguf_is_safe_and_the_type_table_matches_ggml(tmp_path):
    assert verdict("model.gguf", real_gguf(tmp_path)).verdict is Verdict.SAFE
    for kind, (block, size) in gguf_scanner.GGML_TYPES.items():
        assert gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)] == (block, size)


def test_hostile_gguf_is_unsafe(tmp_path):
    assert_unsafe("m.gguf", b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0) + b"\0" * 64, f"claims {2**40} tensors")
    good = real_gguf(tmp_path)
    assert_unsafe("m.gguf", good[:-64], "outside the data section")
    assert_unsafe("m.gguf", b"GGUF" + struct.pack("<IQQ", 9, 0, 0), "version")


def real_onnx(location: str | None = None) -> bytes:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    if location is not None:
        weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2])
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", location
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [weight],
    )
    return helper.make_model(graph).SerializeToString()


def test_onnx_models():
    assert verdict("model.onnx", real_onnx()).verdict is Verdict.SAFE
    assert verdict("model.onnx", real_onnx("weights.bin")).verdict is Verdict.SAFE
    assert_unsafe("model.onnx", real_onnx("../../etc/passwd"), "outside the model")
    assert_unsafe("model.onnx", real_onnx()[:-3], "end of")
    assert_unsafe("model.onnx", b"not a model at all", "")
    onnx.checker.check_model(onnx.load_from_string(real_onnx()))  # the benign sample is a real model


def test_dispatch_by_name():
    assert format_of("config.json") is None and format_of("README") is None
    assert verdict("tokenizer.json", b"{}").verdict is Verdict.NOT_SCANNED
    assert set(SCANNERS) == {"safetensors", "gguf", "onnx", "pickle"}
