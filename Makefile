# k400frames: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SPLIT_CONFIG = $(or $(CONFIG),configs/tiny_k400_$(1).yaml)
DEMO_DIR ?= k400frames-demo
# Extra k400frames options for any target that runs it: make extract-train ARGS="--dry-run --set workers=4"
ARGS ?=

.PHONY: install demo test extract-train extract-val verify-train verify-val clean

# Stamps of the venv's extras; defined before any rule names them (make
# expands a prerequisite when it reads the rule).
BENCH_STAMP := $(VENV)/.bench-stamp
LINT_STAMP  := $(VENV)/.lint-stamp

# The venv is (re)built whenever it is missing or the package metadata changed.
$(STAMP): setup.cfg setup.py pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/k400frames demo $(DEMO_DIR) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

extract-train: $(STAMP)
	$(BIN)/k400frames extract --config $(call SPLIT_CONFIG,train) $(ARGS)

extract-val: $(STAMP)
	$(BIN)/k400frames extract --config $(call SPLIT_CONFIG,val) $(ARGS)

verify-train: $(STAMP)
	$(BIN)/k400frames verify --config $(call SPLIT_CONFIG,train) $(ARGS)

verify-val: $(STAMP)
	$(BIN)/k400frames verify --config $(call SPLIT_CONFIG,val) $(ARGS)

# A real Dask cluster (dask scheduler + 2 workers) against the local executor
# on make bench's corpus: the ratio, start-up apart from per clip.  Options: ARGS="--rounds 9".
.PHONY: bench-dask
bench-dask: $(BENCH_STAMP)
	$(BIN)/python bench/dask_scaling.py $(ARGS)

# examples/slurm_array.sh as a 3-task job array on a one-node Slurm cluster
# started here (installs slurm-wlm and munge with apt-get when missing).
.PHONY: test-slurm
test-slurm: $(STAMP)
	bash tests/slurm/run.sh

# k400frames against the bare bound, the OpenCV path and the seed (bench/README.md).
$(BENCH_STAMP): $(STAMP) setup.cfg setup.py pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	@touch $(BENCH_STAMP)

.PHONY: bench bench-segments bench-doctor bench-loaded
bench: $(BENCH_STAMP) bench-segments bench-doctor
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	@echo "Read speed of packed stores (folders, LMDB, squashfuse) and pack's s/GB: make bench-read (loaders venv)"
	@echo "Training feed against decoding the videos (decord), every store, 0 and 2 workers: make bench-feed (loaders venv)"

# The K400-like corpus quiet, then beside 2 busy processes (a shared node's
# neighbours), writeback timed; bench/README.md.  Options: BENCH_LOADED_ARGS="--rounds 5".
BENCH_LOADED_ARGS ?= --rounds 3
bench-loaded: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --corpus k400 --load 0,2 --split-clips 0 --skip-memory $(BENCH_LOADED_ARGS)

# Format (ruff format), style and bug checks (ruff) and types (mypy);
# configured in pyproject.toml.  `make format` rewrites what --check refuses.
$(LINT_STAMP): $(STAMP) setup.cfg setup.py pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[lint]'
	@touch $(LINT_STAMP)

.PHONY: lint format
lint: $(LINT_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(LINT_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# k400frames doctor's files/s on a flat download of hard links to the k400 corpus (bench/doctor.py).
bench-doctor: $(BENCH_STAMP)
	$(BIN)/python bench/doctor.py $(BENCH_DOCTOR_ARGS)

# Costs that grow with the number of clips, on a faked finished split of
# 240,000 clips (hard links; bench/scale.py), and the per-clip work over bare
# ffmpeg.  A few minutes; the fake tree is built under .bench-cache/scale/.
.PHONY: bench-scale
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py $(BENCH_SCALE_ARGS)

# Optical flow per frame pair: k400frames against a bare OpenCV loop and mmaction2's route (bench/flow.py).
# Options: BENCH_FLOW_ARGS="--rounds 5 --algorithms dis,farneback".
.PHONY: bench-flow
bench-flow: $(BENCH_STAMP)
	$(BIN)/python bench/flow.py $(BENCH_FLOW_ARGS)

# Spans of long videos: segments (one step) against cut-then-extract (bench/segments.py).
bench-segments: $(BENCH_STAMP)
	$(BIN)/python bench/segments.py $(BENCH_SEGMENTS_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Each framework's own loader on our lists (loaders/test_loaders.py). Not part
# of `make test`: its venv is about 7 GB (torch from PyPI brings 3 GB of CUDA
# libraries) and is kept between runs.
LOADERS_VENV  ?= .venv-loaders
LOADERS_STAMP := $(LOADERS_VENV)/.installed-stamp
$(LOADERS_STAMP): loaders/requirements.txt setup.cfg setup.py
	@test -x $(LOADERS_VENV)/bin/python || $(PYTHON) -m venv $(LOADERS_VENV)
	$(LOADERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r loaders/requirements.txt -e .
	# ppvideo pins opencv, decord and av of 2020; PaddleVideo's dataset code runs with today's.
	$(LOADERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps ppvideo==2.3.1
	# One OpenCV: the frameworks pull opencv-python(-headless), flow needs the contrib build; both install cv2
	# and break each other, so the contrib one (a superset) replaces them.
	-$(LOADERS_VENV)/bin/python -m pip uninstall --quiet --yes opencv-python opencv-python-headless
	$(LOADERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps opencv-contrib-python-headless
	@touch $@

.PHONY: test-loaders
test-loaders: $(LOADERS_STAMP)
	$(LOADERS_VENV)/bin/python -m pytest -p no:cacheprovider loaders

# Frames/s through mmaction2's own RawFrameDecode from folders, an LMDB store
# and squashfuse mounts of SquashFS images, and what `pack` costs in s/GB
# (bench/read_speed.py; needs squashfs-tools and squashfuse).  Options:
# BENCH_READ_ARGS="--rounds 9 --workers 0,2,4".
.PHONY: bench-read
bench-read: $(LOADERS_STAMP)
	$(LOADERS_VENV)/bin/python bench/read_speed.py $(BENCH_READ_ARGS)

# Samples/s into mmaction2's own transforms (TSN 8x1 and dense 16x4, then
# Resize + CenterCrop) from the source videos with decord and from folders,
# LMDB, a squashfuse mount and webdataset shards on disk and over HTTP, in one
# process and with 2 DataLoader workers (bench/feed_speed.py; a few minutes).
# Options: BENCH_FEED_ARGS="--rounds 5 --no-gate".  bench-read stays: the
# stores against each other and pack's s/GB.
.PHONY: bench-feed
bench-feed: $(LOADERS_STAMP)
	$(LOADERS_VENV)/bin/python bench/feed_speed.py $(BENCH_FEED_ARGS)

# The reference pages (docs/reference/) are made from the code: config keys
# from the schema, the CLI from its parser.  A test fails when they are stale.
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m k400frames.tools.reference docs/reference
