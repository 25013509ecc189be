# Exteros: one Makefile for a fresh machine.  `make demo` runs the main job on built-in
# defaults, `make test` runs the whole test suite (CI calls exactly that via .ci/run).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup services models demo test test-fast lint typecheck bench clean

setup: $(STAMP)

# torch/torchvision are pinned (constraints.txt) so pip never picks another build (the only working pair here).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,fast]'
	touch $(STAMP)

# Services and system packages the tests need: Mosquitto, PostgreSQL, Chromium.
services:
	bash scripts/ensure-services.sh

models: setup
	$(BIN)/exteros-edge models fetch yolo11n-pose.pt
	test -f models/yolo11n-pose_openvino_model/metadata.yaml || \
	  $(BIN)/exteros-edge models export yolo11n-pose.pt --format openvino --imgsz 384,640
	# the automatic input sizes of 720p/1080p (736x1280) and 4:3 SD cameras (704x928)
	$(BIN)/python -c "from edge.config import ModelConfig; from edge.detector import \
	  materialize_weights as m; [m(ModelConfig(), s) for s in ((736, 1280), (704, 928))]"

demo: setup models
	$(BIN)/exteros-edge demo

test: setup services models
	$(BIN)/pytest -q

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
