# Two commands for a newcomer: `make run` and `make test`. Everything installs into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS := fixtures/corpus
# The CPU build of torch. Where no local wheel is found, pass the CPU index, e.g.
#   make TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu" run
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=

export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export SCARF_NO_ANALYTICS := true
export UNSTRUCTURED_DISABLE_NOTICE := 1

.PHONY: install corpus ingest run serve test eval bench clean

$(STAMP): pyproject.toml third_party/en_core_web_sm/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet ./third_party/en_core_web_sm
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

corpus: install
	$(BIN)/python -m fixtures.build_corpus $(CORPUS) > /dev/null
	@echo "sample corpus built in $(CORPUS)"

ingest: corpus
	$(BIN)/cdmo ingest $(CORPUS)

# install, build and ingest the sample corpus, then serve the API at http://127.0.0.1:8000 (/docs)
run: ingest
	$(BIN)/cdmo serve

serve: install
	$(BIN)/cdmo serve

# install everything, check the import layers, run the whole suite
test: corpus
	$(BIN)/lint-imports
	$(BIN)/pytest -q

eval: corpus
	$(BIN)/cdmo eval retrieval

bench: corpus
	$(BIN)/cdmo bench

clean:
	rm -rf $(VENV) data $(CORPUS) .pytest_cache
