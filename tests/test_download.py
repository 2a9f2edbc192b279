"""Downloads over a real HTTP server on 127.0.0.1: checksums, resume, and dataset checks."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from annbench.cli import main
from annbench.datasets.catalog import fetch_dataset
from annbench.datasets.download import CHUNK_BYTES, ResumingDownloader, fetch, sha256_of
from annbench.datasets.store import load_dataset
from annbench.errors import UserError

RANGE_RE = re.compile(r"^bytes=(\d+)-$")


class FileServer(ThreadingHTTPServer):
    """Serves in-memory files; records every request; can cut the next response short."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files: dict[str, bytes] = {}
        self.cuts: dict[str, list[int]] = {}
        self.honor_range = True
        self.log: list[dict] = []
        self.lock = threading.Lock()

    def url(self, name: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def add(self, name: str, data: bytes) -> str:
        self.files["/" + name] = data
        return self.url(name)

    def cut_next(self, name: str, n_bytes: int) -> None:
        """The next GET of ``name`` sends only ``n_bytes`` of its body, then hangs up."""
        self.cuts.setdefault("/" + name, []).append(n_bytes)

    def gets(self, name: str) -> list[dict]:
        return [
            entry for entry in self.log if entry["path"] == "/" + name and entry["method"] == "GET"
        ]


class RangeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence
        pass

    def _answer(self, send_body: bool) -> None:
        server = self.server
        range_header = self.headers.get("Range")
        entry = {"method": self.command, "path": self.path, "range": range_header}
        with server.lock:
            server.log.append(entry)
            data = server.files.get(self.path)
            cuts = server.cuts.get(self.path)
            cut = cuts.pop(0) if (cuts and send_body) else None
        if data is None:
            entry["status"] = 404
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        match = RANGE_RE.match(range_header) if range_header else None
        if match and server.honor_range:
            start = int(match.group(1))
            if start >= len(data):
                entry["status"] = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            entry["status"] = 206
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            entry["status"] = 200
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if cut is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if not send_body:
            return
        if cut is None:
            self.wfile.write(body)
        else:
            entry["cut_after"] = cut
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self._answer(send_body=False)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep requests from routing 127.0.0.1 through a proxy from the environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server():
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size=n, dtype=np.uint8).tobytes()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def brute_force(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    dists = np.sqrt(((queries[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1))
    ids = np.argsort(dists, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(dists, ids, axis=1)


def ann_benchmarks_bytes(tmp_path: Path, *, with_ground_truth: bool, seed: int = 0):
    """An HDF5 file in the ann-benchmarks layout, written with plain h5py; returns bytes, arrays."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((200, 8)).astype(np.float32)
    queries = rng.standard_normal((15, 8)).astype(np.float32)
    ids, dists = brute_force(base, queries, 10)
    path = tmp_path / f"source-{seed}-{with_ground_truth}.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = "euclidean"
        f.attrs["point_type"] = "float"
        f.attrs["dimension"] = base.shape[1]
        f.create_dataset("train", data=base)
        f.create_dataset("test", data=queries)
        if with_ground_truth:
            f.create_dataset("neighbors", data=ids.astype(np.int32))
            f.create_dataset("distances", data=dists.astype(np.float32))
    return path.read_bytes(), base, queries, ids, dists


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    data = random_bytes(5000, seed=1)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_of(path) == sha(data)
    assert sha256_of(str(path)) == sha(data)


def test_fetch_dataset_good_file_lands_and_loads(server: FileServer, tmp_path: Path) -> None:
    data, base, queries, ids, dists = ann_benchmarks_bytes(tmp_path, with_ground_truth=True)
    url = server.add("good.hdf5", data)
    data_dir = tmp_path / "data"

    path = fetch_dataset(url, "good", data_dir, sha256=sha(data), progress=False)

    assert path == data_dir / "good.hdf5"
    assert path.read_bytes() == data  # ground truth was present, so the file is untouched
    assert sorted(p.name for p in data_dir.iterdir()) == ["good.hdf5"]
    dataset = load_dataset(path)
    assert dataset.metric == "euclidean"
    np.testing.assert_array_equal(dataset.base, base)
    np.testing.assert_array_equal(dataset.queries, queries)
    np.testing.assert_array_equal(dataset.neighbors, ids)
    np.testing.assert_allclose(dataset.distances, dists, rtol=1e-6)
    assert len(server.gets("good.hdf5")) == 1


def test_fetch_dataset_computes_missing_ground_truth(server: FileServer, tmp_path: Path) -> None:
    data, base, queries, ids, dists = ann_benchmarks_bytes(tmp_path, with_ground_truth=False)
    url = server.add("nogt.hdf5", data)

    path = fetch_dataset(url, "nogt", tmp_path / "data", sha256=sha(data), progress=False)

    dataset = load_dataset(path)
    np.testing.assert_array_equal(dataset.base, base)
    assert dataset.ground_truth_k == min(100, len(base))
    expected_ids, expected_dists = brute_force(base, queries, dataset.ground_truth_k)
    for row, expected in zip(dataset.neighbors[:, :10], expected_ids[:, :10]):
        assert set(row) == set(expected)
    np.testing.assert_allclose(dataset.distances, expected_dists, rtol=1e-5, atol=1e-5)


def test_fetch_good_file_with_uppercase_checksum(server: FileServer, tmp_path: Path) -> None:
    data = random_bytes(10_000, seed=2)
    url = server.add("blob.bin", data)
    dest = tmp_path / "out" / "blob.bin"

    result = fetch(url, dest, sha(data).upper(), progress=False)

    assert result == dest
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]


def test_fetch_skips_download_when_file_with_right_hash_exists(
    server: FileServer, tmp_path: Path
) -> None:
    data = random_bytes(3000, seed=3)
    url = server.add("blob.bin", data)
    dest = tmp_path / "blob.bin"
    fetch(url, dest, sha(data), progress=False)
    assert len(server.gets("blob.bin")) == 1

    fetch(url, dest, sha(data), progress=False)

    assert len(server.gets("blob.bin")) == 1
    assert dest.read_bytes() == data


def test_checksum_mismatch_raises_one_line_and_leaves_nothing(
    server: FileServer, tmp_path: Path
) -> None:
    data = random_bytes(20_000, seed=4)
    url = server.add("blob.bin", data)
    dest_dir = tmp_path / "dl"
    dest = dest_dir / "blob.bin"

    with pytest.raises(UserError) as info:
        fetch(url, dest, sha(b"something else"), progress=False)

    message = str(info.value)
    assert "checksum" in message
    assert "\n" not in message
    assert len(server.gets("blob.bin")) == 1
    assert list(dest_dir.iterdir()) == []


def test_fetch_dataset_checksum_mismatch_leaves_nothing(server: FileServer, tmp_path: Path) -> None:
    data, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=True)
    url = server.add("good.hdf5", data)
    data_dir = tmp_path / "data"

    with pytest.raises(UserError, match="checksum"):
        fetch_dataset(url, "good", data_dir, sha256="0" * 64, progress=False)

    assert list(data_dir.iterdir()) == []


def test_interrupted_download_resumes_with_range_request(
    server: FileServer, tmp_path: Path
) -> None:
    # Bigger than one read chunk, cut past the first chunk, so some bytes are surely kept.
    data = random_bytes(2 * CHUNK_BYTES + 5000, seed=5)
    cut = CHUNK_BYTES + 12_345
    url = server.add("big.bin", data)
    server.cut_next("big.bin", cut)
    dest = tmp_path / "dl" / "big.bin"
    part = dest.with_name("big.bin.part")

    with pytest.raises(UserError) as info:
        fetch(url, dest, sha(data), progress=False)

    assert "\n" not in str(info.value)
    assert str(part) in str(info.value)
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == ["big.bin.part"]
    kept = part.read_bytes()
    assert 0 < len(kept) <= cut
    assert kept == data[: len(kept)]

    fetch(url, dest, sha(data), progress=False)

    gets = server.gets("big.bin")
    assert len(gets) == 2
    assert gets[0]["range"] is None
    assert gets[1]["range"] == f"bytes={len(kept)}-"
    assert gets[1]["status"] == 206
    assert dest.read_bytes() == data
    assert sha256_of(dest) == sha(data)
    assert not part.exists()
    assert [p.name for p in dest.parent.iterdir()] == ["big.bin"]


def test_interrupted_download_keeps_every_received_byte(server: FileServer, tmp_path: Path) -> None:
    """The .part must hold all bytes the server sent before hanging up, not whole chunks only."""
    data = random_bytes(50_000, seed=11)
    url = server.add("blob.bin", data)
    server.cut_next("blob.bin", 12_345)
    dest = tmp_path / "blob.bin"
    part = tmp_path / "blob.bin.part"

    with pytest.raises(UserError):
        fetch(url, dest, sha(data), progress=False)

    assert part.read_bytes() == data[:12_345]
    fetch(url, dest, sha(data), progress=False)
    assert server.gets("blob.bin")[1]["range"] == "bytes=12345-"
    assert dest.read_bytes() == data


def test_resume_after_two_interruptions(server: FileServer, tmp_path: Path) -> None:
    data = random_bytes(3 * CHUNK_BYTES + 999, seed=6)
    url = server.add("big.bin", data)
    server.cut_next("big.bin", CHUNK_BYTES + 1000)
    server.cut_next("big.bin", CHUNK_BYTES + 2000)
    dest = tmp_path / "big.bin"
    part = tmp_path / "big.bin.part"

    with pytest.raises(UserError):
        fetch(url, dest, sha(data), progress=False)
    first = part.stat().st_size
    with pytest.raises(UserError):
        fetch(url, dest, sha(data), progress=False)
    second = part.stat().st_size
    assert 0 < first < second <= 2 * CHUNK_BYTES + 3000
    assert part.read_bytes() == data[:second]

    fetch(url, dest, sha(data), progress=False)

    ranges = [g["range"] for g in server.gets("big.bin")]
    assert ranges == [None, f"bytes={first}-", f"bytes={second}-"]
    assert dest.read_bytes() == data
    assert not part.exists()


def test_resume_when_server_ignores_range_restarts_from_scratch(
    server: FileServer, tmp_path: Path
) -> None:
    data = random_bytes(20_000, seed=7)
    url = server.add("blob.bin", data)
    dest = tmp_path / "blob.bin"
    part = tmp_path / "blob.bin.part"
    part.write_bytes(data[:5000])
    server.honor_range = False

    fetch(url, dest, sha(data), progress=False)

    gets = server.gets("blob.bin")
    assert gets[0]["range"] == "bytes=5000-"
    assert gets[0]["status"] == 200
    assert dest.read_bytes() == data
    assert not part.exists()


def test_complete_part_file_answered_416_is_used(server: FileServer, tmp_path: Path) -> None:
    data = random_bytes(8000, seed=8)
    url = server.add("blob.bin", data)
    dest = tmp_path / "blob.bin"
    part = tmp_path / "blob.bin.part"
    part.write_bytes(data)

    fetch(url, dest, sha(data), progress=False)

    gets = server.gets("blob.bin")
    assert [(g["range"], g["status"]) for g in gets] == [("bytes=8000-", 416)]
    assert dest.read_bytes() == data
    assert not part.exists()


def test_stale_part_file_with_wrong_bytes_is_discarded(server: FileServer, tmp_path: Path) -> None:
    data = random_bytes(8000, seed=9)
    url = server.add("blob.bin", data)
    dest = tmp_path / "blob.bin"
    part = tmp_path / "blob.bin.part"
    part.write_bytes(random_bytes(3000, seed=99))  # not a prefix of data

    with pytest.raises(UserError, match="checksum"):
        fetch(url, dest, sha(data), progress=False)
    assert list(tmp_path.iterdir()) == []

    fetch(url, dest, sha(data), progress=False)  # a clean retry starts over and succeeds
    assert server.gets("blob.bin")[-1]["range"] is None
    assert dest.read_bytes() == data


def test_resuming_downloader_appends_to_part(server: FileServer, tmp_path: Path) -> None:
    data = random_bytes(10_000, seed=10)
    url = server.add("blob.bin", data)
    part = tmp_path / "x.part"
    part.write_bytes(data[:4321])
    output = tmp_path / "out.bin"

    ResumingDownloader(part, progress=False)(url, str(output), None)

    assert server.gets("blob.bin")[0]["range"] == "bytes=4321-"
    assert output.read_bytes() == data
    assert not part.exists()


def test_resuming_downloader_check_only(server: FileServer, tmp_path: Path) -> None:
    url = server.add("blob.bin", b"hello")
    downloader = ResumingDownloader(tmp_path / "x.part", progress=False)

    assert downloader(url, str(tmp_path / "out"), None, check_only=True) is True
    assert (
        downloader(server.url("missing.bin"), str(tmp_path / "out"), None, check_only=True) is False
    )
    assert not (tmp_path / "out").exists()


def test_fetch_dataset_not_hdf5_is_removed(server: FileServer, tmp_path: Path) -> None:
    data = b"<html>this is not an HDF5 file</html>\n" * 50
    url = server.add("page.hdf5", data)
    data_dir = tmp_path / "data"

    with pytest.raises(UserError) as info:
        fetch_dataset(url, "page", data_dir, sha256=sha(data), progress=False)

    assert "\n" not in str(info.value)
    assert "not a usable dataset" in str(info.value)
    assert list(data_dir.iterdir()) == []


def test_fetch_dataset_hdf5_without_layout_is_removed(server: FileServer, tmp_path: Path) -> None:
    path = tmp_path / "odd.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("something", data=np.zeros(3))
    data = path.read_bytes()
    url = server.add("odd.hdf5", data)
    data_dir = tmp_path / "data"

    with pytest.raises(UserError, match="not a usable dataset"):
        fetch_dataset(url, "odd", data_dir, sha256=None, progress=False)

    assert list(data_dir.iterdir()) == []


def test_unreachable_url_raises_user_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/nothing.hdf5"

    with pytest.raises(UserError) as info:
        fetch(url, tmp_path / "nothing.hdf5", None, progress=False)

    assert "cannot download" in str(info.value)
    assert url in str(info.value)
    assert not (tmp_path / "nothing.hdf5").exists()
    assert not (tmp_path / "nothing.hdf5.part").exists()


def test_unreachable_url_via_fetch_dataset(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/nothing.hdf5"
    with pytest.raises(UserError):
        fetch_dataset(url, "nothing", tmp_path, sha256="0" * 64, progress=False)
    assert not (tmp_path / "nothing.hdf5").exists()


def test_http_404_raises_user_error(server: FileServer, tmp_path: Path) -> None:
    url = server.url("absent.bin")

    with pytest.raises(UserError) as info:
        fetch(url, tmp_path / "absent.bin", None, progress=False)

    assert "404" in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_fetch_dataset_again_does_not_download_again(server: FileServer, tmp_path: Path) -> None:
    data, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=True)
    url = server.add("good.hdf5", data)
    data_dir = tmp_path / "data"
    fetch_dataset(url, "good", data_dir, sha256=sha(data), progress=False)

    fetch_dataset(url, "good", data_dir, sha256=sha(data), progress=False)

    assert len(server.gets("good.hdf5")) == 1


def test_fetch_dataset_again_after_computing_ground_truth_does_not_download_again(
    server: FileServer, tmp_path: Path
) -> None:
    """A file fetched without ground truth is rewritten with it; a second fetch must not
    mistake the rewritten file for a bad one and download it all over again."""
    data, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=False)
    url = server.add("nogt.hdf5", data)
    data_dir = tmp_path / "data"
    fetch_dataset(url, "nogt", data_dir, sha256=sha(data), progress=False)

    fetch_dataset(url, "nogt", data_dir, sha256=sha(data), progress=False)

    assert len(server.gets("nogt.hdf5")) == 1


@pytest.mark.parametrize("with_ground_truth", [True, False])
def test_cli_fetch_prints_a_hash_that_can_be_pinned(
    server: FileServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    with_ground_truth: bool,
) -> None:
    """`datasets fetch URL` prints a sha256 for the catalog; fetching with it must succeed."""
    data, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=with_ground_truth)
    url = server.add("remote.hdf5", data)
    assert main(["--data-dir", str(tmp_path / "a"), "datasets", "fetch", url]) == 0
    printed = re.search(r"sha256 ([0-9a-f]{64})", capsys.readouterr().out)
    assert printed is not None

    code = main(
        ["--data-dir", str(tmp_path / "b"), "datasets", "fetch", url, "--sha256", printed[1]]
    )

    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "b" / "remote.hdf5").exists()


def test_fetch_refuses_an_existing_name_and_with_force_really_downloads(
    server: FileServer, tmp_path: Path
) -> None:
    """`fetch URL --name EXISTING` once printed that it wrote the file while it kept the old
    one and downloaded nothing. Now: refused without --force; with it, a real download."""
    from annbench.datasets.store import load_dataset

    old, old_base, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=True, seed=1)
    new, new_base, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=True, seed=2)
    data_dir = tmp_path / "data"
    first, second = server.add("old.hdf5", old), server.add("new.hdf5", new)
    assert main(["--data-dir", str(data_dir), "datasets", "fetch", first, "--name", "mine"]) == 0
    kept = (data_dir / "mine.hdf5").read_bytes()

    assert main(["--data-dir", str(data_dir), "datasets", "fetch", second, "--name", "mine"]) == 2
    assert (data_dir / "mine.hdf5").read_bytes() == kept and not server.gets("new.hdf5")

    command = ["--data-dir", str(data_dir), "datasets", "fetch", second, "--name", "mine"]
    assert main([*command, "--force"]) == 0
    assert len(server.gets("new.hdf5")) == 1
    assert np.array_equal(load_dataset(data_dir / "mine.hdf5").base, new_base)
    assert sorted(p.name for p in data_dir.iterdir()) == ["mine.hdf5"]  # nothing left beside


def test_a_forced_fetch_that_fails_keeps_the_dataset_there(server: FileServer, tmp_path: Path):
    good, *_ = ann_benchmarks_bytes(tmp_path, with_ground_truth=True)
    data_dir = tmp_path / "data"
    url = server.add("good.hdf5", good)
    assert main(["--data-dir", str(data_dir), "datasets", "fetch", url, "--name", "mine"]) == 0
    kept = (data_dir / "mine.hdf5").read_bytes()
    broken = server.add("broken.hdf5", b"not an hdf5 file at all")
    command = ["--data-dir", str(data_dir), "datasets", "fetch", broken, "--name", "mine"]
    assert main([*command, "--force"]) == 2
    assert (data_dir / "mine.hdf5").read_bytes() == kept
    assert sorted(p.name for p in data_dir.iterdir()) == ["mine.hdf5"]
