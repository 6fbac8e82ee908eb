# Everything a fresh clone needs: `make train` runs the main job, `make test` runs the tests.
# Both create the virtual environment .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The main job needs only numnet and its command's extras; tests and benchmarks add PyTorch.
CLI_STAMP := $(VENV)/.numnet-cli
TEST_STAMP := $(VENV)/.numnet-test

.PHONY: train test lint format data bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(CLI_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[cli]'
	touch $(CLI_STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[cli,test]'
	touch $(TEST_STAMP) $(CLI_STAMP)

# The main job: train the default ConvNet on Fashion-MNIST and print test accuracy.
train: $(CLI_STAMP) data
	$(VENV)/bin/numnet train

# Fashion-MNIST: Debian's package where apt is usable, else a verified download.
data: $(CLI_STAMP)
	bash scripts/get-fashion-mnist.sh $(PY)

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(TEST_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(TEST_STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
