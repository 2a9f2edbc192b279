"""Whether an adapter can run here, and if not, why: discovery reads spec files only, so a
library that is missing, fails to import (no wheel for this platform, an ABI clash) or lives
in an environment not yet built is found here, never by breaking the others.

The import is tried in a subprocess of the interpreter the worker will use, once per (python,
module, library version); imports that worked are remembered in ``probes.json`` in the
adapter environments' folder, so later calls read a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from annbench.adapters import envs

PROBE_TIMEOUT_S = 120
PROBE_FILE = "probes.json"


def module_name(spec) -> str:
    """The module a spec's library is imported as: ``import:``, else the library's name."""
    return spec.import_name or (spec.library or "").replace("-", "_")


def availability(spec) -> str:
    """Why ``spec``'s adapter cannot run here; "" when it can."""
    return availabilities([spec])[spec.name]


def availabilities(specs) -> dict[str, str]:
    """``availability`` of many adapters: their import probes run side by side."""
    reasons: dict[str, str] = {}
    probes = []
    cache = _read_cache()
    for spec in specs:
        reason = _static_reason(spec)
        if reason or not module_name(spec):
            reasons[spec.name] = reason
            continue
        key = _probe_key(spec)
        if key in cache:
            reasons[spec.name] = cache[key]
        else:
            probes.append((spec, key))
    if probes:
        with ThreadPoolExecutor(max_workers=min(4, len(probes))) as pool:
            found = list(pool.map(lambda item: _probe(item[0]), probes))
        for (spec, key), reason in zip(probes, found):
            reasons[spec.name] = reason
            if not reason:  # only successes are kept: a mended failure shows at once
                cache[key] = reason
        _write_cache(cache)
    return reasons


def _static_reason(spec) -> str:
    if spec.environment:
        try:
            built = envs.is_built(spec)
        except Exception as exc:  # an unreadable requirements file: the reason is the message
            return str(exc)
        if not built:
            return f"its environment is not built (run `annbench adapters env {spec.name}`)"
    if spec.library and spec.library_version() == "not installed":
        where = f"its environment ({envs.env_dir(spec)})" if spec.environment else "this Python"
        return f"{spec.library} is not installed in {where}"
    return ""


def _python(spec) -> str:
    return str(envs.env_python(spec)) if spec.environment else sys.executable


def _probe_key(spec) -> str:
    """What a remembered probe holds for: the interpreter, the module, the library's version
    and when its site-packages last changed (an install or removal beside it, such as
    another numpy, can break an import without changing the library's version)."""
    site = envs.site_packages(spec) if spec.environment else Path(sysconfig.get_paths()["purelib"])
    try:
        changed = site.stat().st_mtime_ns
    except OSError:
        changed = 0
    return f"{_python(spec)}|{module_name(spec)}|{spec.library_version()}|{changed}"


def _probe(spec) -> str:
    module = module_name(spec)
    # an environment's interpreter must also reach annbench's worker (its .pth and closure)
    modules = f"annbench.run.worker, {module}" if spec.environment else module
    try:
        done = subprocess.run(
            [_python(spec), "-c", f"import {modules}"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"importing {module} took over {PROBE_TIMEOUT_S} s"
    except OSError as exc:
        return f"cannot start {_python(spec)} ({exc.strerror})"
    if done.returncode == 0:
        return ""
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else f"exit status {done.returncode}"
    return f"importing {modules} fails: {last}"


def _cache_path() -> Path:
    return envs.envs_root() / PROBE_FILE


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache: dict[str, str]) -> None:
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
            json.dump(cache, handle, indent=1, sort_keys=True)
        os.replace(handle.name, path)
    except OSError:
        pass  # a read-only home: probe again next time
