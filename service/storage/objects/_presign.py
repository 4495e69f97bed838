"""Presigned URLs for direct transfers: signed locally (no request is sent) with a client
configured for the S3 address clients reach (``DEPOT_S3_PUBLIC_ENDPOINT_URL``), which behind
an ingress differs from the cluster-internal one the API itself talks to."""

from typing import Any

import botocore.session
from botocore.config import Config

from service.settings import Settings


class Presigner:
    """Signs GetObject and UploadPart URLs; holds no connection."""

    def __init__(self, settings: Settings) -> None:
        session = botocore.session.get_session()
        secret = settings.s3_secret_access_key
        self.expiry = settings.presign_expiry_seconds
        self.client: Any = session.create_client(
            "s3",
            endpoint_url=settings.s3_public_endpoint_url or settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def download(self, bucket: str, key: str, disposition: str, content_type: str) -> str:
        """A GET of the object whose answer carries ``disposition`` and ``content_type``."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=self.expiry,
        )

    def part(self, bucket: str, key: str, upload_id: str, number: int, size: int) -> str:
        """A PUT of part ``number`` of a multipart upload; its Content-Length is signed, so S3
        refuses a body of any other size."""
        return self.client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number, "ContentLength": size},
            ExpiresIn=self.expiry,
        )
