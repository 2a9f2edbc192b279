"""The command line: the happy path once, and bad input as one clear line with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import pytest
import yaml


def spec_file(tmp_path, **content):
    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(content))
    return path


def assert_one_line_error(result, *fragments):
    status, _, err = result
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("annbench: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_make_info_run_results_plot(tmp_path, cli):
    data, results = tmp_path / "data", tmp_path / "results"
    base = ["--data-dir", data, "--results-dir", results]
    status, out, _ = cli(
        *base,
        "datasets",
        "make",
        "mini",
        "-g",
        "blobs",
        "-p",
        "n=1500",
        "-p",
        "n_queries=40",
        "-p",
        "dim=8",
        "--seed",
        "3",
    )
    assert status == 0 and (data / "mini.hdf5").exists()
    status, out, _ = cli(*base, "datasets", "info", "mini", "--json")
    info = json.loads(out)
    assert (info["n_base"], info["n_queries"], info["ground_truth_k"]) == (1500, 40, 100)
    assert info["source"]["seed"] == 3 and info["has_labels"]
    spec = spec_file(
        tmp_path,
        datasets=["mini"],
        k=10,
        repeats=1,
        adapters=["faiss-flat", {"name": "hnswlib", "query": {"ef": [10, 40]}}],
    )
    status, out, err = cli(*base, "run", spec)
    assert status == 0, err
    assert "faiss-flat" in out and "1.000" in out
    status, out, _ = cli(*base, "results", "--format", "json")
    rows = json.loads(out)
    assert len(rows) == 3 and {row["status"] for row in rows} == {"ok"}
    status, out, _ = cli(*base, "plot")
    assert status == 0
    png, svg = results / "plots" / "mini-recall-qps.png", results / "plots" / "mini-recall-qps.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and svg.stat().st_size > 1000
    status, out, _ = cli(*base, "datasets", "list")
    assert any(line.startswith("* mini") for line in out.splitlines())


def test_unknown_dataset(tmp_path, cli):
    spec = spec_file(tmp_path, datasets=["no-such-data"], adapters=["faiss-flat"])
    assert_one_line_error(
        cli("--data-dir", tmp_path, "run", spec), "no-such-data", "annbench datasets list"
    )


def test_unknown_adapter(tmp_path, cli, make_dataset):
    spec = spec_file(tmp_path, datasets=[str(make_dataset())], adapters=["no-such-index"])
    assert_one_line_error(cli("run", spec), "no-such-index", "faiss-flat")


def test_missing_spec_file(tmp_path, cli):
    assert_one_line_error(cli("run", tmp_path / "absent.yml"), "absent.yml", "does not exist")


def test_missing_dataset_file(tmp_path, cli):
    spec = spec_file(tmp_path, datasets=[str(tmp_path / "gone.hdf5")], adapters=["faiss-flat"])
    assert_one_line_error(cli("run", spec), "gone.hdf5", "does not exist")


def test_file_that_is_not_hdf5(tmp_path, cli):
    bogus = tmp_path / "bogus.hdf5"
    bogus.write_text("these are not vectors")
    spec = spec_file(tmp_path, datasets=[str(bogus)], adapters=["faiss-flat"])
    assert_one_line_error(cli("run", spec), "bogus.hdf5", "not a readable HDF5")
    assert bogus.read_text() == "these are not vectors"


def test_spec_with_unknown_key(tmp_path, cli, make_dataset):
    spec = spec_file(tmp_path, datasets=[str(make_dataset())], adapters=["faiss-flat"], repeat=3)
    assert_one_line_error(cli("run", spec), "'repeat'", "repeats")


def test_spec_with_unknown_grid_parameter(tmp_path, cli, make_dataset):
    spec = spec_file(
        tmp_path,
        datasets=[str(make_dataset())],
        adapters=[{"name": "hnswlib", "query": {"efSearch": [10]}}],
    )
    assert_one_line_error(cli("run", spec), "efSearch", "ef")


def test_k_larger_than_stored_ground_truth(tmp_path, cli, make_dataset):
    spec = spec_file(tmp_path, datasets=[str(make_dataset())], adapters=["faiss-flat"], k=500)
    assert_one_line_error(cli("run", spec), "k=500", "100")


def test_invalid_yaml(tmp_path, cli):
    spec = tmp_path / "broken.yml"
    spec.write_text("datasets: [unclosed\n")
    assert_one_line_error(cli("run", spec), "not valid YAML")


def test_unknown_option_is_one_line(cli):
    assert_one_line_error(cli("run", "--no-such-option"), "--no-such-option")


def test_make_refuses_to_overwrite_and_keeps_the_file(tmp_path, cli):
    args = [
        "--data-dir",
        tmp_path,
        "datasets",
        "make",
        "keep",
        "-g",
        "gauss",
        "-p",
        "n=300",
        "-p",
        "n_queries=5",
    ]
    assert cli(*args)[0] == 0
    before = (tmp_path / "keep.hdf5").read_bytes()
    assert_one_line_error(cli(*args, "--seed", "9"), "already exists", "--force")
    assert (tmp_path / "keep.hdf5").read_bytes() == before


def test_make_with_bad_generator_parameter(tmp_path, cli):
    result = cli("--data-dir", tmp_path, "datasets", "make", "x", "-g", "blobs", "-p", "size=3")
    assert_one_line_error(result, "size", "n_clusters")
    assert not list(tmp_path.iterdir())


def test_results_without_any(tmp_path, cli):
    assert_one_line_error(cli("--results-dir", tmp_path, "results"), "no results")


def test_fetch_of_a_synthetic_name_points_to_make(tmp_path, cli):
    assert_one_line_error(
        cli("--data-dir", tmp_path, "datasets", "fetch", "blobs-10k-32"),
        "datasets make blobs-10k-32",
    )


def test_future_result_schema_is_refused(tmp_path, cli, make_dataset):
    spec = spec_file(tmp_path, datasets=[str(make_dataset())], adapters=["faiss-flat"], repeats=1)
    results = tmp_path / "results"
    assert cli("--results-dir", results, "run", spec, "--executor", "inline")[0] == 0
    (path,) = results.rglob("*.h5")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 99
    assert_one_line_error(
        cli("--results-dir", results, "results"), "schema version 99", "upgrade annbench"
    )


@pytest.mark.parametrize(
    "module", ["annbench.cli", "annbench.adapters.registry", "annbench.run.plan"]
)
def test_importing_does_no_heavy_work(module):
    code = (
        f"import sys, {module}; heavy = {{'faiss', 'hnswlib', 'h5py', 'pandas', "
        "'matplotlib'}; print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


LIBRARIES = (
    "faiss",
    "hnswlib",
    "annoy",
    "usearch",
    "voyager",
    "pynndescent",
    "psycopg",
    "pgserver",
    "sklearn",
)


def test_discovering_adapters_imports_no_library():
    code = (
        "import sys, json; from annbench.adapters.registry import discover; names = discover(); "
        f"print(json.dumps([sorted(names), sorted(set({LIBRARIES!r}) & set(sys.modules))]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, imported = json.loads(out.stdout)
    assert {"faiss-flat", "faiss-ivf", "faiss-hnsw", "hnswlib", "sklearn", "pgvector"} <= set(names)
    assert imported == []


def test_spec_file_with_a_flag_that_is_not_true_or_false(tmp_path, cli, monkeypatch):
    folder = tmp_path / "algorithms" / "odd"
    folder.mkdir(parents=True)
    (folder / "spec.yml").write_text(
        "name: odd\nmodule: adapter.py\nclass: Odd\nmetrics: [euclidean]\nrepeatable: sometimes\n"
    )
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(tmp_path / "algorithms"))
    assert_one_line_error(cli("adapters", "list"), "spec.yml", "'repeatable'", "true or false")


@pytest.mark.parametrize("cpus", ["nan", "inf", "0", "-1.5"])
def test_a_cpu_quota_that_is_not_a_positive_number_is_one_line(cli, tmp_path, make_dataset, cpus):
    spec = tmp_path / "spec.yml"
    spec.write_text(f"datasets: [{make_dataset()}]\nadapters: [faiss-flat]\n")
    result = cli(
        "--results-dir", tmp_path / "r", "run", spec, "--executor", "docker", "--cpus", cpus
    )
    assert_one_line_error(result, "--cpus must be a positive number of CPUs")
    assert not (tmp_path / "r").exists()
