# The README's two commands: `make demo` and `make test`. Both set up what a
# fresh Debian machine lacks (.venv with the pinned stack, Debian's
# Fashion-MNIST package), then run.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
DEMO_FLAGS ?=

# The quick tier: unit tests and one tiny end-to-end run (a check before
# the full suite; .ci/run runs the full `make test`).
FAST_TESTS := tests/masking/test_losses.py tests/masking/test_binarize.py \
	tests/masking/test_mask_init.py tests/trainers/test_mask_objective.py \
	tests/masking/test_recalibrate.py tests/transforms/test_transform_ranges.py \
	tests/certify/test_certify_bounds.py tests/certify/test_certify_sampler.py \
	tests/certify/test_certify_resume.py tests/certify/test_certify_config.py \
	tests/certify/test_certify_run.py tests/experiments/test_experiment_suites.py \
	tests/experiments/test_experiment_rows.py \
	tests/experiments/test_experiment_tables.py \
	tests/experiments/test_seed_statistics.py tests/core/test_machine.py \
	tests/core/test_cli.py::test_a_broken_pipe_sends_stdout_to_devnull \
	tests/core/test_cli.py::test_a_program_whose_reader_left_finishes_quietly \
	tests/test_bazel_targets.py \
	tests/pipeline/test_train_cli.py::test_all_stages_end_to_end

.PHONY: demo test test-fast docs setup data clean-venv

demo: setup
	$(PY) -m csam_tf.train --flagfile=configs/demo.cfg $(DEMO_FLAGS)

# One pytest-xdist process per core.
test: setup
	$(PY) -m pytest -q -n auto --dist loadgroup --no-loadscope-reorder --durations=15 tests

test-fast: setup
	$(PY) -m pytest -q -n auto --dist loadgroup --no-loadscope-reorder $(FAST_TESTS)

# The docs site, offline, into site/ (not committed).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

setup: $(VENV)/.installed data

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Debian's dataset-fashion-mnist; when it cannot be installed, say how to
# get the files instead of failing here (a config may point --data_dir
# elsewhere).
data:
	@test -f $(FASHION_MNIST) || sh tools/install_fashion_mnist.sh

clean-venv:
	rm -rf $(VENV)
