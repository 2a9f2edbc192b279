"""Bad input to any registered adapter is one line with exit status 2 before any job starts:
a value below (or above) a parameter's declared range, a value outside its choices, and a
dataset metric the adapter does not support."""

from __future__ import annotations

import pytest
import yaml

from annbench.adapters.registry import discover

from .test_cli import assert_one_line_error


def out_of_range(spec) -> tuple[str, str, object] | None:
    """(section, parameter, a value its rule refuses) for the first parameter with a bound or
    choices in the spec's grids; None if no parameter declares one."""
    for section, grid in (("build", spec.build_grid), ("query", spec.query_grid)):
        for name in grid:
            rule = spec.rule(name, section)
            if rule.min is not None:
                below = rule.min - 1 if rule.type == "int" else rule.min - 0.5
                return section, name, below
            if rule.max is not None:
                return section, name, rule.max + 1
            if rule.choices is not None:
                return section, name, "annbench-no-such-choice"
    return None


BOUNDED = sorted(name for name, spec in discover().items() if out_of_range(spec))
PARTIAL = sorted(
    name for name, spec in discover().items() if {"euclidean", "ip"} - set(spec.metrics)
)


def write(tmp_path, dataset, entry) -> str:
    spec = tmp_path / "exp.yml"
    spec.write_text(yaml.safe_dump({"datasets": [str(dataset)], "k": 10, "adapters": [entry]}))
    return str(spec)


def test_every_adapter_with_parameters_declares_their_range():
    """Every adapter whose grids have a numeric or named parameter bounds one of them."""
    unbounded = [
        name
        for name, spec in discover().items()
        if (spec.build_grid or spec.query_grid) and not out_of_range(spec)
    ]
    assert unbounded == []


@pytest.mark.parametrize("name", BOUNDED)
def test_a_parameter_outside_its_range_is_one_line(name, tmp_path, make_dataset, cli):
    section, parameter, value = out_of_range(discover()[name])
    dataset = make_dataset()
    entry = {"name": name, section: {parameter: [value]}}
    results = tmp_path / "results"
    result = cli("--results-dir", results, "run", write(tmp_path, dataset, entry))
    assert_one_line_error(result, f"adapter {name!r}", f"parameter {parameter!r}")
    assert not results.exists() or not any(results.rglob("*.h5"))


@pytest.mark.parametrize("name", PARTIAL)
def test_a_metric_the_adapter_lacks_is_one_line(name, tmp_path, make_dataset, cli):
    spec = discover()[name]
    metric = sorted({"euclidean", "ip", "angular"} - set(spec.metrics))[0]
    dataset = make_dataset(metric=metric)
    result = cli("run", write(tmp_path, dataset, {"name": name}))
    assert_one_line_error(result, name, f"does not support metric {metric!r}")
