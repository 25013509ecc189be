# Exteros: one Makefile for a fresh machine.  `make demo` runs the main job on built-in
# defaults, `make test` runs the whole test suite (CI calls exactly that via .ci/run).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DASHBOARD := $(VENV)/.dashboard

.PHONY: setup services models demo test test-fast lint typecheck bench dist clean

setup: $(STAMP) $(DASHBOARD)

# Developers and CI get every role (the `dev` extra; the roles are in pyproject.toml and
# docs/development.md). torch/torchvision are pinned (constraints.txt) so pip never picks
# another build (the only working pair here).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The dashboard's chart library, vendored with npm into central/dashboard/static/vendor/
# (gitignored). Without npm the dashboard shows tables only: `make services` installs
# Node.js, then `make setup` again.
$(DASHBOARD): $(wildcard scripts/build-dashboard.sh central/dashboard/package-lock.json) | $(STAMP)
	@if [ ! -f scripts/build-dashboard.sh ]; then touch $@; \
	elif command -v npm >/dev/null; then bash scripts/build-dashboard.sh && touch $@; \
	else echo "setup: npm is missing: the dashboard charts are not vendored" \
	  "(make services installs Node.js; then make setup)"; fi

# Services and system packages the tests need: Mosquitto, PostgreSQL, Chromium.
services:
	bash scripts/ensure-services.sh

models: setup
	$(BIN)/exteros-edge models fetch yolo11n-pose.pt
	test -f models/yolo11n-pose_openvino_model/metadata.yaml || \
	  $(BIN)/exteros-edge models export yolo11n-pose.pt --format openvino --imgsz 384,640
	# the automatic input sizes of 720p/1080p (736x1280) and 4:3 SD cameras (704x928)
	$(BIN)/python -c "from edge.config import ModelConfig; from edge.modelzoo import \
	  materialize_weights as m; [m(ModelConfig(), s) for s in ((736, 1280), (704, 928))]"

demo: setup models
	$(BIN)/exteros-edge demo

test: setup services models
	$(BIN)/pytest -q -n 3

# everything but the real-model tests (marked `model`), 4 workers: about 2 minutes on 2 cores
test-fast: setup services
	$(BIN)/pytest -q -n 4 -m "not model"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over the packages and with the per-module strictness set in pyproject.toml [tool.mypy]
typecheck: setup
	$(BIN)/mypy

bench: setup models
	$(BIN)/python bench/bench_edge.py
	$(BIN)/python bench/bench_outbox.py
	$(BIN)/python bench/bench_central.py

# The offline install artifact for store devices (docs/deployment.md): the wheels of the
# `edge` role for CPython 3.11 manylinux x86_64, the OpenVINO exports, deploy/, a manifest
# and SHA256SUMS, in dist/exteros-edge-<version>/ and dist/exteros-edge-<version>.tar.
# Install on a device: sudo DIR/deploy/install.sh --from DIR (no network needed).
dist: setup models
	$(BIN)/python scripts/build_dist.py --out dist --tar

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache dist
