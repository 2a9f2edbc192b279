"""Finding adapters: one folder per adapter, holding ``spec.yml`` and a small module.

Discovery reads spec files only; an adapter's module (and so its library) is imported when a
worker loads it to run a job, never before. Folders are searched in ``algorithms/`` beside the
package, then in every directory named by ``ANNBENCH_ALGORITHMS_PATH`` (os.pathsep-separated),
then in installed plugins: packages that declare an entry point in the ``annbench.adapters``
group naming their module, whose folder holds the spec file and the adapter module.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from annbench.adapters.params import ParamRule, checked_grid, inferred_rule, parse_rules
from annbench.errors import UserError, refuse_unknown_keys
from annbench.errors.files import read_yaml
from annbench.errors.names import check_name

SPEC_FILE = "spec.yml"
SPEC_KEYS = {
    "name",
    "description",
    "module",
    "class",
    "library",
    "metrics",
    "exact",
    "repeatable",
    "build",
    "query",
    "params",
    "filters",
    "supports",
    "clients",
    "import",
    "environment",
}
PATH_ENV = "ANNBENCH_ALGORITHMS_PATH"
ENTRY_POINT_GROUP = "annbench.adapters"
# what ``supports`` may list: Adapter.insert, Adapter.delete, and "ingest": insert may run
# while concurrent clients search the same index (each client through its own ``client()``)
OPERATIONS = ("insert", "delete", "ingest")
# how concurrent clients reach the built index: forked processes sharing it copy-on-write (or
# each with its own connection to one server), or threads of the worker (a library that
# releases the GIL while it searches)
CLIENT_MODES = ("process", "thread")


@dataclass(frozen=True)
class AdapterSpec:
    """An adapter as its spec file declares it."""

    name: str
    folder: Path
    module: str
    class_name: str
    metrics: tuple[str, ...]
    exact: bool = False
    # False: two single-threaded builds with the same seed can still differ (the library makes
    # choices no seed reaches), so one build's recall is a sample, not the configuration's value
    repeatable: bool = True
    library: str | None = None
    description: str = ""
    build_grid: dict[str, list[Any]] = field(default_factory=dict)
    query_grid: dict[str, list[Any]] = field(default_factory=dict)
    source: str = "builtin"  # builtin | path DIR | plugin DIST
    param_rules: dict[str, ParamRule] = field(default_factory=dict)
    # filter kinds the library answers natively (adapter.filtered_search)
    filters: tuple[str, ...] = ()
    # streaming operations the adapter implements (Adapter.insert, Adapter.delete)
    supports: tuple[str, ...] = ()
    # how concurrent clients run (CLIENT_MODES); "" = the adapter cannot serve clients
    clients: str = ""
    # the module the library is imported as, where it differs from ``library`` (ngt: ngtpy)
    import_name: str = ""
    # a requirements file beside the spec: the adapter runs in a virtual environment of its
    # own built from it (``annbench adapters env NAME``), for libraries whose pins clash
    environment: str = ""

    def rule(self, name: str, section: str) -> ParamRule:
        """What parameter ``name`` of ``section`` (build | query) accepts: the spec's
        declaration, else the type of its default grid values."""
        if name in self.param_rules:
            return self.param_rules[name]
        grid = self.build_grid if section == "build" else self.query_grid
        return inferred_rule(grid.get(name, []))

    @property
    def module_path(self) -> Path:
        return self.folder / self.module

    def library_version(self) -> str:
        """Version of the wrapped package, read from its metadata (the package is not imported)."""
        if not self.library:
            return "unknown"
        if self.environment:  # read from the adapter's own environment
            from annbench.adapters.envs import site_packages

            try:
                site = str(site_packages(self))
            except UserError:  # its requirements file is missing: availability says so
                return "not installed"
            found = list(metadata.distributions(name=self.library, path=[site]))
            return found[0].version if found else "not installed"
        try:
            return metadata.version(self.library)
        except metadata.PackageNotFoundError:
            return "not installed"

    @property
    def python(self) -> str:
        """The interpreter the adapter's worker runs under ("" = annbench's own)."""
        if not self.environment:
            return ""
        from annbench.adapters.envs import env_python

        return str(env_python(self))


def default_search_path() -> list[Path]:
    builtin = Path(__file__).resolve().parents[2] / "algorithms"
    extra = [Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    return [builtin, *extra]


def plugin_folders() -> list[tuple[Path, str]]:
    """Adapter folders of installed plugins: each entry point of the ``annbench.adapters``
    group names a module (a package) whose folder holds a spec file. The module is located,
    not imported, so discovery stays free of the plugin's library."""
    import importlib.util

    folders = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        module = entry.value.split(":")[0]
        found = importlib.util.find_spec(module)
        if found is None or not found.origin:
            raise UserError(
                f"adapter plugin {entry.name!r} names module {module!r}, which "
                "cannot be found; reinstall the plugin"
            )
        dist = entry.dist.name if entry.dist else "unknown"
        folders.append((Path(found.origin).parent, f"plugin {dist}"))
    return folders


def discover(search_path: list[Path] | None = None) -> dict[str, AdapterSpec]:
    """All adapters: folders under each search-path directory (default: algorithms/ and
    ANNBENCH_ALGORITHMS_PATH) and installed plugins. Two adapters may not share a name."""
    folders: list[tuple[Path, str]] = []
    directories = search_path or default_search_path()
    for index, directory in enumerate(directories):
        source = "builtin" if search_path is None and index == 0 else f"path {directory}"
        if directory.is_dir():
            folders += [(spec.parent, source) for spec in sorted(directory.glob(f"*/{SPEC_FILE}"))]
    if search_path is None:
        folders += plugin_folders()
    found: dict[str, AdapterSpec] = {}
    for folder, source in folders:
        spec = read_spec(folder / SPEC_FILE, source)
        if spec.name in found:
            raise UserError(
                f"two adapters are named {spec.name!r}: {found[spec.name].folder} and "
                f"{spec.folder}; rename one in its {SPEC_FILE}"
            )
        found[spec.name] = spec
    return found


def get_adapter(name: str, search_path: list[Path] | None = None) -> AdapterSpec:
    adapters = discover(search_path)
    if name not in adapters:
        known = ", ".join(sorted(adapters)) or "none"
        raise UserError(f"unknown adapter {name!r}; known adapters: {known}")
    return adapters[name]


def read_spec(spec_file: Path, source: str = "path") -> AdapterSpec:
    """Parse and check one spec file."""
    raw = read_yaml(spec_file, "adapter spec") or {}
    if not isinstance(raw, dict):
        raise UserError(f"{spec_file}: expected a mapping of spec keys")
    refuse_unknown_keys(raw, SPEC_KEYS, str(spec_file))
    for key in ("module", "class", "metrics"):
        if key not in raw:
            raise UserError(f"{spec_file}: missing required key {key!r}")
    name = check_name(str(raw.get("name", spec_file.parent.name)), f"{spec_file}: adapter name")
    rules = parse_rules(raw.get("params"), str(spec_file))
    build_grid = _grid(raw.get("build"), spec_file, "build")
    query_grid = _grid(raw.get("query"), spec_file, "query")
    optional = {name for name, rule in rules.items() if rule.optional}
    unknown = sorted(set(rules) - set(build_grid) - set(query_grid) - optional)
    if unknown:
        raise UserError(
            f"{spec_file}: params declares {', '.join(unknown)}, which no build or query grid "
            "has (mark an optional build parameter with optional: true)"
        )
    for section, grid in (("build", build_grid), ("query", query_grid)):
        for key, values in grid.items():
            rule = rules.get(key) or inferred_rule(values)
            grid[key] = checked_grid(values, rule, f"{spec_file}: {section}.{key}")
    return AdapterSpec(
        name=name,
        source=source,
        folder=spec_file.parent.resolve(),
        module=str(raw["module"]),
        class_name=str(raw["class"]),
        metrics=tuple(raw["metrics"]),
        exact=_flag(raw, "exact", False, spec_file),
        repeatable=_flag(raw, "repeatable", True, spec_file),
        library=raw.get("library"),
        description=str(raw.get("description", "")),
        build_grid=build_grid,
        query_grid=query_grid,
        param_rules=rules,
        filters=_filters(raw.get("filters"), spec_file),
        supports=_supports(raw.get("supports"), spec_file),
        clients=_client_mode(raw.get("clients"), spec_file),
        import_name=_module_name(raw.get("import"), spec_file),
        environment=_relative_file(raw.get("environment"), spec_file),
    )


def _module_name(raw: Any, where: Path) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or not all(part.isidentifier() for part in raw.split(".")):
        raise UserError(f"{where}: 'import' must be a module name such as ngtpy, got {raw!r}")
    return raw


def _relative_file(raw: Any, where: Path) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or not raw or Path(raw).is_absolute() or "\n" in raw:
        raise UserError(
            f"{where}: 'environment' must name a requirements file beside the spec, got {raw!r}"
        )
    return raw


def _client_mode(raw: Any, where: Path) -> str:
    if raw is None:
        return ""
    if raw not in CLIENT_MODES:
        raise UserError(f"{where}: 'clients' must be one of {', '.join(CLIENT_MODES)}, got {raw!r}")
    return raw


def _filters(raw: Any, where: Path) -> tuple[str, ...]:
    from annbench.datasets.filters import KINDS

    values = [] if raw is None else raw if isinstance(raw, list) else [raw]
    unknown = [value for value in values if value not in KINDS]
    if unknown:
        raise UserError(
            f"{where}: 'filters' lists {', '.join(map(repr, unknown))}; kinds: {', '.join(KINDS)}"
        )
    return tuple(values)


def _supports(raw: Any, where: Path) -> tuple[str, ...]:
    values = [] if raw is None else raw if isinstance(raw, list) else [raw]
    unknown = [value for value in values if value not in OPERATIONS]
    if unknown:
        raise UserError(
            f"{where}: 'supports' lists {', '.join(map(repr, unknown))}; "
            f"operations: {', '.join(OPERATIONS)}"
        )
    return tuple(dict.fromkeys(values))


def _flag(raw: dict, key: str, default: bool, where: Path) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise UserError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _grid(raw: Any, where: Path, section: str) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: '{section}' must map parameter names to lists of values")
    return {str(k): list(v) if isinstance(v, list) else [v] for k, v in raw.items()}


def load_adapter_class(module_path: str | Path, class_name: str) -> type:
    """Import an adapter module from its file and return the adapter class."""
    module_path = Path(module_path)
    module_name = f"annbench_adapter_{module_path.parent.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, module_path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot load adapter module {module_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise UserError(f"{module_path} defines no class {class_name!r}") from None
