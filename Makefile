# Two commands matter: `make test` (the suite, what CI runs) and `make demo` (the main job on the local twin).
# Each creates what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS_VENV := .venv-tools
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: test lint demo up tools bench openapi image-uris clean

$(VENV)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	# smdebug pins protobuf<=3.20.3, which sagemaker-training cannot live with: install it without its pins
	# (model_code/debugger.py sets PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python for it).
	$(PY) -m pip install -q --no-deps smdebug==1.0.34
	touch $@

# SAM CLI, checkov and statelint resolve their own pins: they live in a virtualenv of their own.
$(TOOLS_VENV)/.installed: requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install -q -r requirements/tools.txt
	touch $@

tools: $(TOOLS_VENV)/.installed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.installed $(TOOLS_VENV)/.installed lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest

demo: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m local_twin demo

up: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m local_twin up

bench: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m benchmarks

openapi: $(VENV)/.installed
	cd functions && ../$(PY) -m predict.openapi --write

image-uris: $(VENV)/.installed
	$(PY) scripts/image_uris.py --write

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .twin .pytest_cache .ruff_cache
