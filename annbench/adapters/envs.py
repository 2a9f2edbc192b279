"""Virtual environments of their own, for adapters whose library pins clash with the main one.

An adapter's spec names a requirements file (``environment: requirements.txt``, beside the
spec). ``annbench adapters env NAME`` builds a virtual environment from it, and the process
executor runs that adapter's worker with the environment's interpreter (the guard stays in the
main one). The environment sees annbench itself through a ``.pth`` file naming this checkout,
so its worker runs exactly the parent's code; the requirements file must hold the worker's own
dependencies (numpy, h5py, psutil, threadpoolctl, pyyaml). Environments are never built during
a run: building needs the package index, and a run must not time pip.
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


def envs_root() -> Path:
    """Where adapter environments live: ``ANNBENCH_ENVS``, else ~/.cache/annbench/envs."""
    configured = os.environ.get(ENVS_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "annbench" / "envs"


def requirements_file(spec) -> Path:
    return spec.folder / spec.environment


def env_dir(spec) -> Path:
    """The environment's folder, named by a digest of its requirements and this Python's
    version: editing the requirements (or changing Python) names a new one, and adapters with
    the same requirements (diskann and diskann-dynamic) share one."""
    requirements = requirements_file(spec)
    try:
        text = requirements.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{spec.folder}/spec.yml: environment file {requirements} cannot be read "
            f"({exc.strerror}); create it or remove 'environment' from the spec"
        ) from None
    version = f"{sys.version_info.major}.{sys.version_info.minor}".encode()
    digest = hashlib.sha256(text + b"\0" + version).hexdigest()[:12]
    return envs_root() / f"py{version.decode()}-{digest}"


def env_python(spec) -> Path:
    return env_dir(spec) / "bin" / "python"


def site_packages(spec) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return env_dir(spec) / "lib" / version / "site-packages"


def is_built(spec) -> bool:
    """Built means complete: the marker is written last, so a build that failed midway is not."""
    return (env_dir(spec) / ".annbench-built").exists()


def build_env(spec, *, rebuild: bool = False, echo: Callable[[str], None] = print) -> Path:
    """Create ``spec``'s environment (or keep the one already built); return its interpreter."""
    if not spec.environment:
        raise UserError(f"adapter {spec.name} runs in the main environment (its spec names none)")
    folder = env_dir(spec)
    if is_built(spec) and not rebuild:
        echo(f"{spec.name}: environment ready at {folder}")
        return env_python(spec)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    echo(f"{spec.name}: building {folder} from {requirements_file(spec)}")
    steps = [
        [sys.executable, "-m", "venv", str(folder)],
        [
            str(folder / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            str(requirements_file(spec)),
        ],
    ]
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
            shutil.rmtree(folder, ignore_errors=True)
            raise UserError(
                f"{spec.name}: building its environment took over {PIP_TIMEOUT_S} s"
            ) from None
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise UserError(
                f"{spec.name}: building its environment failed ({last}); check "
                f"{requirements_file(spec)} and the package index"
            )
    checkout = Path(__file__).resolve().parents[2]
    (site_packages(spec) / "annbench-checkout.pth").write_text(f"{checkout}\n")
    (folder / ".annbench-built").write_text(f"{requirements_file(spec)}\n")
    echo(f"{spec.name}: environment ready at {folder}")
    return env_python(spec)
