"""A library that is missing or fails to import skips its adapter, with the reason in
`annbench adapters list`, and never breaks the others: discovery, the smoke suite, the `all`
suite and studies leave it out; an experiment that names it is refused in one line."""

from __future__ import annotations

import json
import os

import pytest

from annbench.adapters.availability import availabilities, availability
from annbench.adapters.registry import discover
from annbench.run.plan import all_experiment, smoke_experiment

from .conftest import EXACT_ADAPTER as ADAPTER
from .test_cli import assert_one_line_error


def adapter_folder(root, name: str, **keys: str):
    folder = root / name
    folder.mkdir(parents=True)
    lines = [f"name: {name}", "module: adapter.py", "class: Exact", "metrics: [euclidean]"]
    lines += [f"{key}: {value}" for key, value in keys.items()]
    (folder / "spec.yml").write_text("\n".join(lines) + "\nexact: true\nquery: {}\n")
    (folder / "adapter.py").write_text(ADAPTER)
    return folder


@pytest.fixture
def algorithms(tmp_path, monkeypatch):
    """Four adapters on the search path: one whose library (numpy) imports, one whose library
    is not installed, one whose library is installed but whose module fails to import (as a
    wheel built for another ABI does), and one with no library at all. The probe cache lives
    in the test's folder."""
    root = tmp_path / "algos"
    adapter_folder(root, "fine", library="numpy")
    adapter_folder(root, "missing", library="annbench-no-such-library")
    adapter_folder(root, "clashing", library="numpy", **{"import": "annbench_clash_probe"})
    adapter_folder(root, "bare")
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "annbench_clash_probe.py").write_text(
        'raise ImportError("undefined symbol: _ZN5clash6vectorE")\n'
    )
    monkeypatch.setenv("PYTHONPATH", str(modules))
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(root))
    monkeypatch.setenv("ANNBENCH_ENVS", str(tmp_path / "cache" / "envs"))
    return root


def test_each_adapter_says_whether_it_can_run_here_and_why_not(algorithms):
    specs = discover([algorithms])
    reasons = availabilities(specs.values())
    assert reasons["fine"] == "" and reasons["bare"] == ""
    assert reasons["missing"] == "annbench-no-such-library is not installed in this Python"
    assert reasons["clashing"].startswith("importing annbench_clash_probe fails: ImportError")
    assert "undefined symbol" in reasons["clashing"]


def test_successful_probes_are_remembered_and_failures_probed_again(
    algorithms, tmp_path, monkeypatch
):
    specs = discover([algorithms])
    assert availability(specs["fine"]) == ""
    assert availability(specs["clashing"]) != ""
    cache = json.loads((tmp_path / "cache" / "envs" / "probes.json").read_text())
    modules = sorted(key.split("|")[1] for key in cache)
    assert modules == ["numpy"]  # the failure is not kept: mending it shows at once
    (tmp_path / "modules" / "annbench_clash_probe.py").write_text("VALUE = 1\n")
    assert availability(specs["clashing"]) == ""
    # what is remembered is read back: no probe runs for either now
    monkeypatch.setattr("annbench.adapters.availability._probe", lambda spec: "probed again")
    assert availability(specs["fine"]) == availability(specs["clashing"]) == ""


def test_adapters_list_shows_the_reason_and_lists_the_others(algorithms, cli):
    status, out, _ = cli("adapters", "list")
    assert status == 0
    lines = {line.split()[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert lines["fine"].rstrip().endswith(" ok")
    assert "skipped: annbench-no-such-library is not installed" in lines["missing"]
    assert "skipped: importing annbench_clash_probe fails" in lines["clashing"]
    assert "hnswlib" in lines  # the built-in adapters are listed as before
    status, out, _ = cli("adapters", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["fine"]["available"] is True and rows["fine"]["reason"] == ""
    assert rows["missing"]["available"] is False
    assert "not installed" in rows["missing"]["reason"]


def test_an_experiment_naming_an_adapter_that_cannot_run_is_refused_in_one_line(
    algorithms, cli, make_dataset, tmp_path
):
    dataset = make_dataset()
    spec = tmp_path / "exp.yml"
    spec.write_text(f"datasets: [{dataset}]\nk: 10\nadapters: [fine, clashing]\n")
    results = tmp_path / "results"
    result = cli("--data-dir", dataset.parent, "--results-dir", results, "run", spec)
    assert_one_line_error(result, "adapter clashing cannot run here", "annbench adapters list")
    assert not results.exists() or not any(results.rglob("*.json"))


def test_the_smoke_and_all_suites_leave_out_what_cannot_run(algorithms, make_dataset):
    registry = discover([algorithms])
    assert [a["name"] for a in smoke_experiment(registry).adapters] == ["bare", "fine"]
    dataset = make_dataset()
    everything = all_experiment(dataset.parent, ["tiny"], registry)
    assert [a["name"] for a in everything.adapters] == ["bare", "fine"]
    assert everything.datasets == ["tiny"]
    assert all(a["build"] == {} and a["query"] == {} for a in everything.adapters)


def test_the_all_suite_keeps_only_adapters_with_the_datasets_metric(algorithms, make_dataset):
    registry = discover([algorithms])
    dataset = make_dataset(metric="ip")
    assert all_experiment(dataset.parent, ["tiny"], registry).adapters == []


def test_a_spec_naming_a_missing_requirements_file_skips_that_adapter_alone(algorithms, cli):
    adapter_folder(algorithms, "unbuilt", library="diskannpy", environment="absent.txt")
    status, out, _ = cli("adapters", "list")
    assert status == 0
    lines = {line.split()[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert "skipped:" in lines["unbuilt"] and "absent.txt cannot be read" in lines["unbuilt"]
    assert lines["fine"].rstrip().endswith(" ok")


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("import", "'os; import sys'", "'import' must be a module name"),
        ("environment", "/etc/requirements.txt", "a requirements file beside the spec"),
    ],
)
def test_malformed_import_and_environment_keys_are_one_line(algorithms, cli, key, value, fragment):
    adapter_folder(algorithms, "malformed", **{key: value})
    assert_one_line_error(cli("adapters", "list"), "malformed", fragment)


def test_every_builtin_adapter_can_run_here_in_ci():
    """In CI every built-in adapter's library is present (skipped here otherwise)."""
    reasons = {name: r for name, r in availabilities(discover().values()).items() if r}
    if reasons and not os.environ.get("CI"):
        pytest.skip(f"not every library is here: {reasons}")
    assert reasons == {}
