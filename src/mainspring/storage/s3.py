"""The S3-compatible blob store: AWS S3, Cloudflare R2, MinIO (``pip install mainspring[s3]``).

boto3 is synchronous, so every request runs in a worker thread (``asyncio.to_thread``) and the
event loop never waits on the network. ``put`` streams: an object up to ``multipart_threshold``
is buffered and sent with one PutObject; a larger one goes up as a multipart upload, one part in
flight while the next is read, so memory stays at about two parts whatever the object's size.
S3 makes an object visible only when PutObject or CompleteMultipartUpload succeeds, which gives
the contract's atomicity; a failed ``put`` aborts its multipart upload, and ``list`` reports
uploads that were never finished (a killed process) as ``incomplete`` for garbage collection.

Settings not passed as arguments come from the standard AWS environment: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (and boto3's other credential sources). The region
defaults to ``us-east-1``, which R2 takes as an alias of its ``auto`` region and MinIO expects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from ..errors import ConfigurationError, MainspringError, ValidationError
from .base import (
    CHUNK,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    ListedBlob,
    PresignedUrl,
    check_key,
)

__all__ = ["DEFAULT_PRESIGN_EXPIRY_S", "MAX_PRESIGN_EXPIRY_S", "S3BlobStore"]

log = logging.getLogger("mainspring.storage")

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3 refuses smaller parts (except the last one)
DEFAULT_PRESIGN_EXPIRY_S = 15 * 60
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live

_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_GONE = _NOT_FOUND | {"NoSuchUpload"}
_BAD_RANGE = frozenset({"InvalidRange", "416"})
_UNSUPPORTED = frozenset({"NotImplemented", "MethodNotAllowed", "501", "405"})
_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "403"}
    | {"ExpiredToken", "AuthorizationHeaderMalformed"}
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _md5(data: bytes | bytearray) -> str:
    # Content-MD5 makes the server check each body: S3-compatible servers all honour it, while
    # botocore's newer default checksums are refused by several of them (switched off below).
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class S3BlobStore(BlobStore):
    """Objects in ``bucket`` (under ``prefix``) of an S3-compatible service."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        prefix: str = "",
        multipart_threshold: int = 8 * MiB,
        part_size: int = 8 * MiB,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigurationError(f"S3 part_size must be at least 5 MiB, got {part_size}")
        if not bucket:
            raise ConfigurationError("the S3 blob store needs a bucket name")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = check_key(prefix) + "/" if prefix else ""
        self.multipart_threshold = max(0, multipart_threshold)
        self.part_size = part_size
        env = os.environ.get
        endpoint_url = endpoint_url or env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL")
        region = region or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1"
        self._key_id = access_key_id or env("AWS_ACCESS_KEY_ID")
        config = Config(
            signature_version="s3v4",
            # MinIO and most self-hosted servers only route path-style requests.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard"},
            max_pool_connections=32,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A Session per store: boto3's default session is shared and not thread-safe.
        #: The boto3 S3 client, for what this class does not wrap (thread-safe; blocking).
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=config,
        )
        self.endpoint: str = self.client.meta.endpoint_url

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, endpoint_url={self.endpoint!r})"

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, exc: Exception, op: str, key: str | None = None) -> MainspringError:
        """Translate a botocore error into one that names the bucket and endpoint."""
        where = f"bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ConfigurationError(
                f"no S3 credentials for {where}: pass access_key_id and secret_access_key, "
                "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if not isinstance(exc, ClientError):
            return BlobStoreError(f"S3 {op} on {where} failed: {exc}")
        code, message = _code(exc), exc.response.get("Error", {}).get("Message", "")
        if code in _NOT_FOUND and key is not None:
            return BlobNotFound(f"no object {key!r}")
        if code == "NoSuchBucket" or code in _NOT_FOUND:
            return ConfigurationError(
                f"the S3 bucket {self.bucket!r} does not exist at {self.endpoint}"
            )
        if code in _DENIED:
            return ConfigurationError(
                f"S3 refused {op} on {where} with access key {self._key_id!r} ({code}: "
                f"{message or 'forbidden'}); check the credentials and their access to the bucket"
            )
        return BlobStoreError(f"S3 {op} on {where} failed: {code} {message}".rstrip())

    async def _call(
        self,
        op: str,
        key: str | None = None,
        *,
        tolerate: frozenset[str] = frozenset(),
        **params: Any,
    ) -> Any:
        """Run boto3's ``op`` in a thread; None for an error code in ``tolerate``."""
        if key is not None:
            params["Key"] = self._name(key)

        def run() -> Any:
            if isinstance(params.get("Body"), bytes | bytearray):  # hashed off the event loop
                params["ContentMD5"] = _md5(params["Body"])
            return getattr(self.client, op)(Bucket=self.bucket, **params)

        try:
            return await asyncio.to_thread(run)
        except ClientError as exc:
            if _code(exc) in tolerate:
                return None
            raise self._error(exc, op, key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, op, key) from exc

    async def open(self) -> None:
        # Fail at start-up, with a message naming bucket and endpoint, not at the first upload.
        await self._call("head_bucket")

    async def close(self) -> None:
        self.client.close()

    async def put(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None
    ) -> BlobInfo:
        check_key(key)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        digest, size, buffer = hashlib.sha256(), 0, bytearray()
        upload: _Multipart | None = None
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if upload is None and len(buffer) > self.multipart_threshold:
                    created = await self._call("create_multipart_upload", key, **extra)
                    upload = _Multipart(self, key, created["UploadId"])
                while upload is not None and len(buffer) >= (cut := upload.next_size):
                    # The buffer itself becomes the part, trimmed in place: only the few bytes
                    # past the cut are copied, so a part in flight plus one filling is the peak.
                    part, buffer = buffer, buffer[cut:]
                    del part[cut:]
                    await upload.send(part)
            if upload is None:
                await self._call("put_object", key, Body=buffer, **extra)
            else:
                await upload.finish(buffer)
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return BlobInfo(size, digest.hexdigest())

    async def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            if await self.stat(key) is None:  # an empty range of a missing object is still missing
                raise BlobNotFound(f"no object {key!r}")
            return
        params: dict[str, Any] = {}
        if start > 0 or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        # InvalidRange: the object exists and the range starts past its end, so: no bytes.
        response = await self._call("get_object", key, tolerate=_BAD_RANGE, **params)
        if response is None:
            return
        body = response["Body"]
        # Counted, not trusted: some servers answer "bytes=0-0" with the whole object (s3rver).
        left = None if end is None else end - start
        try:
            while left != 0 and (chunk := await asyncio.to_thread(body.read, CHUNK)):
                if left is not None:
                    chunk, left = chunk[:left], max(0, left - len(chunk))
                yield chunk
        except BotoCoreError as exc:
            raise self._error(exc, "get_object", key) from exc
        finally:
            body.close()

    async def stat(self, key: str) -> tuple[int, float] | None:
        try:
            head = await self._call("head_object", key)
        except BlobNotFound:
            return None
        return int(head["ContentLength"]), head["LastModified"].timestamp() * 1000.0

    async def delete(self, key: str) -> None:
        await self._call("delete_object", key)  # S3 answers 204 for a missing key too

    async def discard(self, blob: ListedBlob) -> None:
        if blob.incomplete and blob.upload_id is not None:
            await self._abort(blob.key, blob.upload_id)
        else:
            await self.delete(blob.key)

    async def _abort(self, key: str, upload_id: str) -> None:
        await self._call("abort_multipart_upload", key, tolerate=_GONE, UploadId=upload_id)

    async def list(self, prefix: str = "") -> AsyncIterator[ListedBlob]:
        skip = len(self.prefix)
        params: dict[str, Any] = {"Prefix": self.prefix + prefix}
        while True:
            page = await self._call("list_objects_v2", **params)
            for item in page.get("Contents", []):
                modified = item["LastModified"].timestamp() * 1000.0
                yield ListedBlob(item["Key"][skip:], int(item["Size"]), modified)
            if not page.get("IsTruncated"):
                break
            params["ContinuationToken"] = page["NextContinuationToken"]
        params = {"Prefix": self.prefix + prefix}
        while True:
            page = await self._call("list_multipart_uploads", tolerate=_UNSUPPORTED, **params)
            if page is None:  # some servers (s3rver) lack it: their leftovers stay invisible
                log.warning("%r cannot list multipart uploads; GC will not see them", self)
                return
            for item in page.get("Uploads", []):
                modified = item["Initiated"].timestamp() * 1000.0
                yield ListedBlob(item["Key"][skip:], 0, modified, True, item["UploadId"])
            if not page.get("IsTruncated"):
                break
            params["KeyMarker"] = page["NextKeyMarker"]
            params["UploadIdMarker"] = page["NextUploadIdMarker"]

    async def presign_put(
        self,
        key: str,
        *,
        content_type: str,
        content_length: int | None = None,
        expires_s: int = DEFAULT_PRESIGN_EXPIRY_S,
    ) -> PresignedUrl:
        # Signed headers are part of the signature: a client that sends another Content-Type
        # (or, when given, another Content-Length) gets 403 SignatureDoesNotMatch.
        params: dict[str, Any] = {"ContentType": content_type}
        headers = {"Content-Type": content_type}
        if content_length is not None:
            params["ContentLength"] = content_length
            headers["Content-Length"] = str(content_length)
        return await self._presign("put_object", "PUT", key, params, headers, expires_s)

    async def presign_get(
        self, key: str, *, expires_s: int = DEFAULT_PRESIGN_EXPIRY_S
    ) -> PresignedUrl:
        return await self._presign("get_object", "GET", key, {}, {}, expires_s)

    async def _presign(
        self,
        op: str,
        method: str,
        key: str,
        params: dict[str, Any],
        headers: dict[str, str],
        expires_s: int,
    ) -> PresignedUrl:
        if not 1 <= expires_s <= MAX_PRESIGN_EXPIRY_S:
            raise ValidationError(
                f"a presigned URL must expire within 1 s to 7 days ({MAX_PRESIGN_EXPIRY_S} s), "
                f"got {expires_s} s"
            )
        params.update(Bucket=self.bucket, Key=self._name(key))
        now = time.time()
        try:
            # In a thread: resolving credentials the first time may ask a metadata service.
            url = await asyncio.to_thread(
                self.client.generate_presigned_url, op, Params=params, ExpiresIn=expires_s
            )
        except BotoCoreError as exc:
            raise self._error(exc, f"presign {op}", key) from exc
        return PresignedUrl(url, method, headers, (now + expires_s) * 1000.0)


class _Multipart:
    """One multipart upload in progress, with at most one part in flight."""

    def __init__(self, store: S3BlobStore, key: str, upload_id: str) -> None:
        self.store, self.key, self.upload_id = store, key, upload_id
        self.parts: list[dict[str, Any]] = []
        self.count = 0
        self.pending: asyncio.Task[None] | None = None

    @property
    def next_size(self) -> int:
        # S3 allows 10,000 parts: doubling the part size every 1,000 parts lifts the limit of
        # 10,000 x part_size (80 GB at 8 MiB) to far beyond any file, and keeps small files small.
        return self.store.part_size << (self.count // 1000)

    async def send(self, data: bytearray) -> None:
        if self.pending is not None:
            # Shielded: cancelling put must not orphan a part upload that abort then races.
            await asyncio.shield(self.pending)
        self.count += 1
        self.pending = asyncio.create_task(self._upload(self.count, data))

    async def _upload(self, number: int, data: bytearray) -> None:
        response = await self.store._call(
            "upload_part",
            self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def finish(self, tail: bytearray) -> None:
        if tail or self.count == 0:
            await self.send(tail)
        assert self.pending is not None
        await asyncio.shield(self.pending)
        await self.store._call(
            "complete_multipart_upload",
            self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": sorted(self.parts, key=lambda part: part["PartNumber"])},
        )

    async def abort(self) -> None:
        """Abort the upload so no part lingers; the caller re-raises the original error."""
        if self.pending is not None:
            await asyncio.wait([self.pending])  # a part still being sent would survive the abort
            if not self.pending.cancelled():
                self.pending.exception()  # retrieved: the original error is what matters
        try:
            await self.store._abort(self.key, self.upload_id)
        except MainspringError as exc:
            # Some servers (s3rver) cannot abort; list() shows the upload to GC where it can.
            log.warning("could not abort the multipart upload of %r: %s", self.key, exc)
