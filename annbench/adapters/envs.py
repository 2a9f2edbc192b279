"""Virtual environments of their own, for adapters whose library pins clash with the main one.

An adapter's spec names a requirements file (``environment: requirements.txt``, beside the
spec). ``annbench adapters env NAME`` builds a virtual environment from it, and the process
executor runs that adapter's worker with the environment's interpreter (the guard stays in the
main one). The environment sees annbench itself, and nothing else of the main environment,
through a ``.pth`` file naming a folder that holds one link to this annbench package; the
requirements file must hold the worker's own dependencies (numpy, h5py, psutil,
threadpoolctl, pyyaml). Environments are never built during a run: building needs the package
index, and a run must not time pip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from annbench.errors import UserError

ENVS_ENV = "ANNBENCH_ENVS"
PIP_TIMEOUT_S = 1800
BUILT_MARKER = ".annbench-built"


def envs_root() -> Path:
    """Where adapter environments live: ``ANNBENCH_ENVS``, else ~/.cache/annbench/envs."""
    configured = os.environ.get(ENVS_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "annbench" / "envs"


def requirements_file(spec) -> Path:
    return spec.folder / spec.environment


def package_folder() -> Path:
    """The annbench package this process runs (an environment's worker must run the same)."""
    return Path(__file__).resolve().parents[1]


def env_name(spec) -> str:
    """The environment's folder name: a digest of its requirements, the base interpreter and
    the annbench package it links to. Editing the requirements, changing Python or running
    from another checkout names a new one; adapters with the same requirements (diskann and
    diskann-dynamic) share one."""
    requirements = requirements_file(spec)
    try:
        text = requirements.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{spec.folder}/spec.yml: environment file {requirements} cannot be read "
            f"({exc.strerror}); create it or remove 'environment' from the spec"
        ) from None
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    identity = b"\0".join([text, base.encode(), str(package_folder()).encode()])
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"py{version}-{hashlib.sha256(identity).hexdigest()[:12]}"


def env_dir(spec) -> Path:
    return envs_root() / env_name(spec)


def env_python(spec) -> Path:
    return env_dir(spec) / "bin" / "python"


def site_packages(spec, folder: Path | None = None) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return (folder or env_dir(spec)) / "lib" / version / "site-packages"


def is_built(spec) -> bool:
    """Built means complete: a build happens in a side folder renamed into place at the end."""
    return (env_dir(spec) / BUILT_MARKER).exists()


def build_env(spec, *, rebuild: bool = False, echo: Callable[[str], None] = print) -> Path:
    """Create ``spec``'s environment (or keep the one already built); return its interpreter.
    The build happens in a side folder renamed into place when complete, so a failed or
    concurrent build never leaves a half-made environment under the name a worker uses."""
    if not spec.environment:
        raise UserError(f"adapter {spec.name} runs in the main environment (its spec names none)")
    folder = env_dir(spec)
    if is_built(spec) and not rebuild:
        echo(f"{spec.name}: environment ready at {folder}")
        return env_python(spec)
    side = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    try:
        side.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create {side.parent} for adapter environments ({exc.strerror}); "
            f"set {ENVS_ENV} to a writable folder"
        ) from None
    echo(f"{spec.name}: building {folder} from {requirements_file(spec)}")
    try:
        _pip_steps(spec, side)
        code = side / "annbench-code"
        code.mkdir()
        (code / "annbench").symlink_to(package_folder(), target_is_directory=True)
        (site_packages(spec, side) / "annbench-code.pth").write_text(f"{folder / code.name}\n")
        (side / BUILT_MARKER).write_text(f"{requirements_file(spec)}\n")
        old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        side.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise UserError(
            f"{spec.name}: writing its environment in {folder.parent} failed ({exc.strerror})"
        ) from None
    finally:
        shutil.rmtree(side, ignore_errors=True)
    echo(f"{spec.name}: environment ready at {folder}")
    return env_python(spec)


def _pip_steps(spec, folder: Path) -> None:
    python = str(folder / "bin" / "python")
    steps = [
        [sys.executable, "-m", "venv", str(folder)],
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(requirements_file(spec))],
    ]  # fmt: skip
    for command in steps:
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise UserError(
                f"{spec.name}: building its environment took over {PIP_TIMEOUT_S} s"
            ) from None
        if done.returncode != 0:
            lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
            errors = [line for line in lines if line.startswith("ERROR:")]
            raise UserError(
                f"{spec.name}: building its environment failed ({(errors or lines)[-1]}); "
                f"check {requirements_file(spec)} and the package index"
            )
