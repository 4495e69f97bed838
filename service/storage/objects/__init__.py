"""The S3 adapter, and the only aioboto3 user: streaming multipart writes, ranged reads,
tags, manifests. botocore failures are translated here into ``service.errors`` so that
callers never see a botocore type."""

from service.storage.objects._common import COPY_LIMIT, MAX_PARTS, ObjectInfo, ObjectStream, translate_errors
from service.storage.objects._multipart import MultipartUploads
from service.storage.objects._presign import Presigner
from service.storage.objects._store import ObjectStore
from service.storage.objects._writer import ObjectWriter

__all__ = [
    "COPY_LIMIT", "MAX_PARTS", "MultipartUploads", "ObjectInfo", "ObjectStore", "ObjectStream",
    "ObjectWriter", "Presigner", "translate_errors",
]
