# The README's two commands: `make demo` and `make test`. Both set up what a
# fresh Debian machine lacks (.venv with the pinned stack, Debian's
# Fashion-MNIST package), then run.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
DEMO_FLAGS ?=

.PHONY: demo test setup data clean-venv

demo: setup
	$(PY) -m csam_tf.train --flagfile=configs/demo.cfg $(DEMO_FLAGS)

test: setup
	$(PY) -m pytest -q -n 2 tests

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
