# Everything a fresh clone needs: `make train` runs the main job, `make test` runs the tests.
# Both create the virtual environment .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.numnet-installed

.PHONY: train test lint format data bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cli,test]'
	touch $(STAMP)

# The main job: train the default ConvNet on Fashion-MNIST and print test accuracy.
train: $(STAMP) data
	$(VENV)/bin/numnet train

# Fashion-MNIST: Debian's package where apt is usable, else a verified download.
data: $(STAMP)
	bash scripts/get-fashion-mnist.sh $(PY)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
