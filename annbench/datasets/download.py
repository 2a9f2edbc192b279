"""Fetch a file by URL with sha256 verification and resume.

pooch does the bookkeeping: it verifies the hash and only then moves the file into place, so
a file that fails verification never lands. Our downloader keeps the bytes received so far in
``NAME.part`` beside the target and asks the server for the rest (an HTTP range request) when a
download is retried after an interruption.
"""

from __future__ import annotations

import os
from pathlib import Path

from annbench.errors import UserError, one_line
from annbench.errors.files import ensure_folder, os_error

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60


class ResumingDownloader:
    """A pooch downloader that appends to ``part_path`` and resumes with a Range header."""

    def __init__(self, part_path: Path, progress: bool | None = None) -> None:
        self.part_path = part_path
        self.progress = progress

    def __call__(self, url: str, output_file: str, pooch_obj: object, check_only: bool = False):
        import requests
        from tqdm.auto import tqdm

        if check_only:
            return requests.head(url, timeout=TIMEOUT_S, allow_redirects=True).ok
        offset = self.part_path.stat().st_size if self.part_path.exists() else 0
        # identity encoding: the bytes on disk are the file's bytes, so a range resumes them
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with requests.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
            if response.status_code == 416:  # the part file already holds everything
                os.replace(self.part_path, output_file)
                return None
            response.raise_for_status()
            resumed = response.status_code == 206
            remaining = int(response.headers.get("content-length", 0)) or None
            total = remaining + offset if (remaining and resumed) else remaining
            with (
                open(self.part_path, "ab" if resumed else "wb") as out,
                tqdm(
                    total=total,
                    initial=offset if resumed else 0,
                    unit="B",
                    unit_scale=True,
                    desc=Path(url).name,
                    disable=self.progress is False,
                ) as bar,
            ):
                for chunk in _received(response):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(self.part_path, output_file)
        return None


def _received(response):
    """Chunks as they arrive, so an interrupted transfer keeps every byte it received
    (``iter_content`` drops a partly filled chunk when the connection breaks)."""
    import requests
    import urllib3

    try:
        yield from response.raw.stream(CHUNK_BYTES, decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc


def fetch(
    url: str, dest: str | os.PathLike, sha256: str | None, *, progress: bool | None = None
) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right hash is already there.

    With ``sha256`` given, a mismatching download is deleted and refused. An interrupted
    download leaves ``dest.part`` behind, and the next call resumes from it.
    """
    import pooch
    import requests

    dest = Path(dest)
    ensure_folder(dest.parent)
    part = dest.with_name(dest.name + ".part")
    known_hash = f"sha256:{sha256.lower()}" if sha256 else None
    try:
        pooch.retrieve(
            url,
            known_hash=known_hash,
            fname=dest.name,
            path=dest.parent,
            downloader=ResumingDownloader(part, progress),
            progressbar=False,
        )
    except requests.RequestException as exc:
        kept = f"; {part.stat().st_size} bytes kept in {part} to resume" if part.exists() else ""
        raise UserError(f"cannot download {url}: {one_line(exc)}{kept}") from None
    except ValueError as exc:
        if "hash" not in str(exc).lower():
            raise UserError(f"cannot download {url}: {one_line(exc)}") from None
        raise UserError(
            f"checksum mismatch for {url}: expected sha256 {sha256}; the download was discarded "
            "(check the URL and the checksum)"
        ) from None
    except OSError as exc:
        raise os_error(exc, dest, "download into") from None
    return dest


SCHEMES = ("http", "https")


def check_url(url: str) -> str:
    """``url`` when annbench can download it (http or https, with a host); one line if not."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UserError(f"{url!r} is not a URL ({exc})") from None
    if parts.scheme.lower() not in SCHEMES:
        raise UserError(
            f"URL {url!r}: scheme {parts.scheme!r} is not supported; annbench downloads over "
            f"{' and '.join(SCHEMES)} (for a local file use `annbench datasets import` or a path)"
        )
    if not parts.netloc:
        raise UserError(f"URL {url!r} names no host")
    return url


def sha256_of(path: str | os.PathLike) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")
