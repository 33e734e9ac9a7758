# k400frames: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SPLIT_CONFIG = $(or $(CONFIG),configs/tiny_k400_$(1).yaml)
DEMO_DIR ?= k400frames-demo

.PHONY: install demo test extract-train extract-val verify-train verify-val clean

# The venv is (re)built whenever it is missing or the package metadata changed.
$(STAMP): setup.cfg setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/k400frames demo $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest

extract-train: $(STAMP)
	$(BIN)/k400frames extract --config $(call SPLIT_CONFIG,train)

extract-val: $(STAMP)
	$(BIN)/k400frames extract --config $(call SPLIT_CONFIG,val)

verify-train: $(STAMP)
	$(BIN)/k400frames verify --config $(call SPLIT_CONFIG,train)

verify-val: $(STAMP)
	$(BIN)/k400frames verify --config $(call SPLIT_CONFIG,val)

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
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP) setup.cfg setup.py
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	@touch $(BENCH_STAMP)

.PHONY: bench
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) k400frames-demo .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
