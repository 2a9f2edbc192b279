"""Container images: annbench's base image (Python + the worker) and one image per adapter.

Images are built with the docker SDK from build contexts assembled in a temporary folder:
the base from docker/base.Dockerfile plus annbench's own source, each adapter from its folder
(its Dockerfile starts FROM the base). Builds use the host network; benchmark containers later
run with no network at all.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from annbench.errors import UserError

BASE_TAG = "annbench-base:latest"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
LABEL = "org.annbench.adapter"


def image_tag(adapter: str) -> str:
    return f"annbench-{adapter}:latest"


def client():
    """A docker SDK client, or one clear line when no engine answers."""
    try:
        import docker
    except ImportError:
        raise UserError(
            "the docker executor needs the docker SDK: pip install 'annbench[docker]'"
        ) from None
    try:
        engine = docker.from_env(timeout=30)
        engine.ping()
    except Exception as exc:  # DockerException, connection and permission errors alike
        reason = " ".join(str(exc).split())[:200]
        raise UserError(
            f"no Docker engine is reachable ({reason}); start one (dockerd) or use "
            "--executor process"
        ) from None
    return engine


def _project_root() -> Path:
    return Path(__file__).resolve().parents[3]


def _build(engine, context: Path, tag: str, buildargs: dict[str, str], echo) -> Any:
    import docker

    try:
        image, log = engine.images.build(
            path=str(context),
            tag=tag,
            buildargs=buildargs,
            network_mode="host",
            rm=True,
            forcerm=True,
            labels={LABEL: tag},
        )
    except docker.errors.BuildError as exc:
        step = _failing_step(exc.build_log)
        raise UserError(f"building {tag} failed at {step}: {' '.join(str(exc).split())}") from None
    except docker.errors.APIError as exc:
        raise UserError(f"building {tag} failed: {' '.join(str(exc).split())}") from None
    if echo:
        echo(f"built {tag} ({image.short_id})")
    return image


def _failing_step(build_log) -> str:
    last = "an unknown step"
    for entry in build_log or []:
        text = str(entry.get("stream", "")).strip()
        if text.startswith("Step "):
            last = " ".join(text.split())
    return last


def _context(extra_ca: Path | None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="annbench-build-"))
    target = folder / "extra-ca.crt"
    if extra_ca is None:
        target.write_text("")
    elif not extra_ca.is_file():
        raise UserError(f"CA bundle {extra_ca} does not exist")
    else:
        shutil.copyfile(extra_ca, target)
    return folder


def build_base(
    base_image: str = DEFAULT_BASE_IMAGE, ca_bundle: Path | None = None, echo=None
) -> Any:
    """Build annbench's base image from ``base_image``."""
    engine = client()
    context = _context(ca_bundle)
    try:
        root = _project_root()
        shutil.copyfile(root / "docker" / "base.Dockerfile", context / "Dockerfile")
        source = context / "annbench-src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copyfile(root / name, source / name)
        shutil.copytree(
            root / "annbench", source / "annbench", ignore=shutil.ignore_patterns("__pycache__")
        )
        return _build(engine, context, BASE_TAG, {"BASE_IMAGE": base_image}, echo)
    finally:
        shutil.rmtree(context, ignore_errors=True)


def build_adapter(spec, ca_bundle: Path | None = None, echo=None) -> Any:
    """Build the image of one adapter (its folder must hold a Dockerfile)."""
    dockerfile = spec.folder / "Dockerfile"
    if not dockerfile.exists():
        raise UserError(f"adapter {spec.name!r} has no Dockerfile in {spec.folder}")
    engine = client()
    _require(engine, BASE_TAG, "annbench images build --base-image IMAGE")
    context = _context(ca_bundle)
    try:
        shutil.copytree(
            spec.folder, context, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
        return _build(engine, context, image_tag(spec.name), {"ANNBENCH_BASE": BASE_TAG}, echo)
    finally:
        shutil.rmtree(context, ignore_errors=True)


def _require(engine, tag: str, how: str):
    import docker

    try:
        return engine.images.get(tag)
    except docker.errors.ImageNotFound:
        raise UserError(f"image {tag} is missing; build it with `{how}`") from None


def adapter_image(engine, adapter: str):
    return _require(engine, image_tag(adapter), f"annbench images build {adapter}")


VERSIONS_CODE = (
    "import importlib.metadata as m, json\n"
    "out = {}\n"
    "for d in m.distributions():\n"
    "    name = d.metadata['Name']\n"
    "    if name and name.lower() in {'annbench','numpy','h5py','faiss-cpu','hnswlib'}:\n"
    "        out[name] = d.version\n"
    "print(json.dumps(out))\n"
)


def list_images() -> list[dict[str, Any]]:
    """annbench's images: tag, id, size and the library versions inside."""
    import json

    engine = client()
    rows = []
    for image in engine.images.list(filters={"label": LABEL}):
        tag = image.tags[0] if image.tags else image.short_id
        output = engine.containers.run(
            image.id, ["python", "-c", VERSIONS_CODE], network_mode="none", remove=True
        )
        rows.append(
            {
                "tag": tag,
                "id": image.short_id,
                "size_mb": round(image.attrs["Size"] / 1e6),
                "versions": json.loads(output.decode().strip() or "{}"),
            }
        )
    return sorted(rows, key=lambda row: row["tag"])
