"""Model files for the scan tests: hostile ones made here, in the shapes attacks take."""

import io
import os
import struct
import zipfile


def torch_zip(data_pkl: bytes) -> bytes:
    """PyTorch's zip checkpoint layout (``torch.save`` since 1.6) around a given ``data.pkl``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", bytes(16))
        archive.writestr("archive/data/1", bytes(8))
    return buffer.getvalue()


class System:
    """Unpickling this runs ``os.system``."""

    def __reduce__(self):
        return os.system, ("echo pwned",)


GETATTR_CHAIN = (
    b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(Vid\ntR."  # getattr(os, 'system')('id')
)


def gguf_claiming(tensors: int) -> bytes:
    """A GGUF v3 header that claims ``tensors`` tensors and holds none."""
    return b"GGUF" + struct.pack("<IQQ", 3, tensors, 0) + bytes(64)
