"""The pure parts of storage: range parsing, media types and dispositions, digests, signing,
chunking, and the storage settings."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from starlette.datastructures import Headers

from mainspring.config import load_settings
from mainspring.errors import ValidationError
from mainspring.server.storage_serve import UNSATISFIABLE, _query_params, parse_range
from mainspring.server.storage_upload import expected_sha256
from mainspring.storage.chunks import as_chunks
from mainspring.storage.files import blob_key, storage_id_of_key
from mainspring.storage.local import MAP_FROM, SMALL_READ, LocalBlobStore, map_range
from mainspring.storage.media import (
    check_patterns,
    content_disposition,
    disposition_for,
    parse_media_type,
    type_allowed,
)
from mainspring.storage.signing import InvalidSignature, Signer, window_expiry
from mainspring.storage.uploads import UploadRefused


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 1)),
        ("bytes=2-5", 10, (2, 6)),
        ("bytes=8-", 10, (8, 10)),
        ("bytes=5-100", 10, (5, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("BYTES = 1-2", 10, (1, 3)),
        ("bytes=10-", 10, UNSATISFIABLE),
        ("bytes=-0", 10, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=5-2", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=-", 10, None),
        ("bytes=1-2,4-5", 10, None),
        ("items=1-2", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_media_types_allow_lists_and_dispositions() -> None:
    assert parse_media_type("Image/PNG; charset=x") == "image/png"
    for bad in (None, "", "png", "image/", "a/b\r\nX-Evil: 1", "x/" + "y" * 300):
        assert parse_media_type(bad) is None
    patterns = check_patterns(["Image/*", "application/pdf", "*/*"])
    assert patterns == ["image/*", "application/pdf", "*/*"]
    with pytest.raises(ValueError, match="not a media type"):
        check_patterns(["images"])
    assert type_allowed("image/webp", ["image/*"]) and not type_allowed("text/plain", ["image/*"])
    assert not type_allowed(None, ["*/*"]) and type_allowed("a/b", ["*/*"])
    for risky in (
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "text/javascript",
        "application/xml",
        "text/xsl",
        "application/octet-stream",
        None,
    ):
        assert disposition_for(risky) == "attachment", risky
    for safe in ("image/png", "audio/ogg", "video/webm", "font/woff2", "application/pdf"):
        assert disposition_for(safe) == "inline", safe


def test_content_disposition_is_rfc_5987() -> None:
    assert content_disposition("inline", "a b.png") == (
        "inline; filename=\"a b.png\"; filename*=UTF-8''a%20b.png"
    )
    evil = content_disposition("attachment", '../x"\r\n.html')
    assert evil == "attachment; filename=\".._x___.html\"; filename*=UTF-8''.._x___.html"
    assert "filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt" in content_disposition("inline", "日本.txt")


def test_digest_headers() -> None:
    raw = hashlib.sha256(b"x").digest()
    encoded = base64.b64encode(raw).decode()
    assert expected_sha256(Headers({"digest": f"sha-256={encoded}"})) == raw.hex()
    assert expected_sha256(Headers({"content-digest": f"sha-256=:{encoded}:"})) == raw.hex()
    assert expected_sha256(Headers({"digest": "md5=abc"})) is None
    assert expected_sha256(Headers({})) is None
    with pytest.raises(UploadRefused) as refused:
        expected_sha256(Headers({"digest": "sha-256=not base64!"}))
    assert refused.value.reason == "bad_digest"


def test_signing_tokens_and_windows() -> None:
    signer, other = Signer(b"k" * 32), Signer(b"j" * 32)
    token = signer.upload_token("abc", 1234.9)
    assert signer.parse_upload_token(token) == ("abc", 1234.0)
    for bad in (None, "", "abc.1234", "abc.x.sig", token + "x", other.upload_token("abc", 1234)):
        with pytest.raises(InvalidSignature):
            signer.parse_upload_token(bad)
    sig = signer.url_signature("id", 100, "f.txt")
    assert signer.verify(sig, "get", "id", "100", "f.txt")
    assert not signer.verify(sig, "get", "id", "101", "f.txt")
    assert not signer.verify(sig, "get", "id", "100", "")
    assert sig != signer.url_signature("id", None, "f.txt")
    assert window_expiry(0, 1000) == 2000 and window_expiry(999, 1000) == 2000
    assert window_expiry(1000, 1000) == 3000
    with pytest.raises(ValueError):
        Signer(b"short")


def test_blob_keys_name_storage_ids() -> None:
    from mainspring.ids import new_id
    from mainspring.storage.files import STORAGE_NUMBER, UPLOADS_NUMBER

    storage_id = new_id(STORAGE_NUMBER, 1)
    assert storage_id_of_key(blob_key(storage_id)) == storage_id
    assert storage_id_of_key(new_id(UPLOADS_NUMBER, 1)) is None
    assert storage_id_of_key(".incoming/x.part") is None


async def test_as_chunks_accepts_bytes_files_and_iterators() -> None:
    async def collect(data: object) -> bytes:
        return b"".join([chunk async for chunk in as_chunks(data)])

    assert await collect(b"") == b""
    assert await collect(bytearray(b"ab")) == b"ab"
    assert await collect(io.BytesIO(b"f" * 700_000)) == b"f" * 700_000
    with pytest.raises(ValidationError, match="encode text first"):
        await collect(io.StringIO("text"))
    with pytest.raises(ValidationError, match="not str"):
        await collect("text")


def test_storage_settings(tmp_path: Path) -> None:
    settings = load_settings({"app_dir": str(tmp_path), "port": 4000}, env={})
    assert settings.public_url == "http://127.0.0.1:4000"
    assert settings.storage_dir == tmp_path.resolve() / ".mainspring" / "storage"
    assert settings.max_upload_size == 5 << 30
    store = settings.open_blob_store()
    assert isinstance(store, LocalBlobStore) and store.root == settings.storage_dir
    configured = load_settings(
        {"app_dir": str(tmp_path)},
        env={
            "MAINSPRING_SITE_URL": "https://files.example.com/",
            "MAINSPRING_MAX_UPLOAD_SIZE": "10MiB",
            "MAINSPRING_STORAGE_DIR": "blobs",
        },
    )
    assert configured.public_url == "https://files.example.com"
    assert configured.max_upload_size == 10 << 20
    assert configured.storage_dir == tmp_path.resolve() / "blobs"
    s3 = load_settings(
        {"app_dir": str(tmp_path)},
        env={
            "MAINSPRING_S3_BUCKET": "media",
            "MAINSPRING_S3_ENDPOINT": "http://127.0.0.1:9/",
            "MAINSPRING_S3_REGION": "auto",
        },
    ).open_blob_store()
    assert (s3.kind, s3.bucket, s3.endpoint) == ("s3", "media", "http://127.0.0.1:9")  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="http:// or https:// URL"):
        load_settings({"app_dir": str(tmp_path), "site_url": "files.example.com"}, env={})


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 10), (0, MAP_FROM), (1, MAP_FROM + 1), (5000, 5000 + SMALL_READ), (70_000, 300_000)],
)
def test_map_range_gives_the_bytes_of_a_read(tmp_path: Path, start: int, end: int) -> None:
    data = os.urandom(3 * 1024 * 1024)
    path = tmp_path / "blob"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    body = map_range(fd, start, end)
    os.close(fd)  # the mapping outlives the descriptor
    path.unlink()  # and the name (blobs are deleted by unlink while being sent)
    assert isinstance(body, memoryview) == (end - start >= MAP_FROM)
    assert bytes(body) == data[start:end]
    with pytest.raises(ValueError, match="small reads"):
        map_range(0, 0, SMALL_READ + 1)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "exp=1795503600000&sig=9QQ9v22sD902zy3R_-",
        "filename=r%C3%A9sum%C3%A9+final.pdf&sig=a&sig=b",
        "a=&b&=c&&d=%2B1+2",
        "x%3Dy=1%262",
    ],
)
def test_serving_query_params_parse_as_starlette_does(query: str) -> None:
    assert _query_params(query) == dict(parse_qsl(query, keep_blank_values=True))
