"""The environment a measurement was taken in, recorded with every result."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "annbench",
    "numpy",
    "scipy",
    "faiss-cpu",
    "hnswlib",
    "h5py",
    "pandas",
    "scikit-learn",
    "threadpoolctl",
)
IMAGE_ENV = "ANNBENCH_IMAGE_ID"  # set inside annbench's containers


def _cpuinfo() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in fields:
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or "unknown"


def os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """annbench's own commit when running from a checkout, else ''."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def thread_pools() -> list[dict[str, Any]]:
    """BLAS and OpenMP libraries loaded in this process, as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "version", "num_threads", "architecture", "filepath")
    pools = []
    for pool in threadpool_info():
        entry = {key: pool.get(key) for key in keep if pool.get(key) is not None}
        entry["filepath"] = Path(str(entry.get("filepath", ""))).name
        pools.append(entry)
    return pools


def environment() -> dict[str, Any]:
    """A manifest of the machine and software as this process sees them."""
    import psutil

    cpu = _cpuinfo()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {
        "hostname": platform.node(),
        "cpu_model": cpu.get("model name") or platform.processor() or "unknown",
        "cpu_flags": cpu.get("flags", "").split(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "memory_bytes": psutil.virtual_memory().total,
        "os": os_release(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_executable": sys.executable,  # an adapter's own environment shows here
        "packages": package_versions(),
        "thread_pools": thread_pools(),
        "thread_env": {
            key: os.environ[key]
            for key in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "OPENBLAS_CORETYPE",
            )
            if key in os.environ
        },
        "annbench_commit": git_commit(),
        "container_image": os.environ.get(IMAGE_ENV, ""),
        "dask_worker": os.environ.get("ANNBENCH_DASK_WORKER", ""),
    }
