# Two commands matter: `make test` (the suite, what CI runs) and `make demo` (the main job on the local twin).
# Each creates what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# model_code/smdebug_compat.py's SMDEBUG_REQUIREMENT (tests/template/test_image_stacks.py checks the wheel kept)
SMDEBUG := smdebug==1.0.34
# pytest-xdist workers for make test/quick/twin (much of a twin test is waiting on jobs and polls), each module on
# one worker (tests/conftest.py); WORKERS=0 runs in one process
WORKERS ?= 2
PYTEST := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n $(WORKERS)

.PHONY: test quick twin lint demo up images tools browser bench openapi image-uris template-rules aws-smoke clean

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	# the project itself, editable: puts the `dogbreeds` command in $(VENV)/bin
	$(PY) -m pip install -q --no-deps -e .
	# smdebug pins protobuf<=3.20.3, which sagemaker-training cannot live with: install it without its pins
	# (model_code/debugger.py sets PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python for it).
	$(PY) -m pip install -q --no-deps $(SMDEBUG)
	touch $@

# The SageMaker images' stand-ins (local_twin/sagemaker/images.py): the twin's jobs run on the training image's
# Python and libraries, its endpoints on the inference image's. Built with the images' Python (the `# image python:`
# line of requirements/*-image.txt) where this machine has it, else the nearest it has (the twin says so).
TRAINING_IMAGE := .venv-training-image
INFERENCE_IMAGE := .venv-inference-image
image_python = $(shell m=$$(sed -n 's/^\# image python: 3\.//p' $(1)); \
  for n in $$m $$((m + 1)) $$((m - 1)) $$((m + 2)) $$((m - 2)); do \
    for p in $$(pyenv root 2>/dev/null)/versions/3.$$n*/bin/python3.$$n /usr/local/bin/python3.$$n /usr/bin/python3.$$n; do \
      [ -x "$$p" ] && { echo "$$p"; exit 0; }; done; done; echo $(PYTHON))

$(TRAINING_IMAGE)/.installed: requirements/training-image.txt model_code/requirements.txt
	rm -rf $(TRAINING_IMAGE)
	$(call image_python,requirements/training-image.txt) -m venv $(TRAINING_IMAGE)
	$(TRAINING_IMAGE)/bin/python -m pip install -q -r requirements/training-image.txt
	# What each job installs before its script runs (the toolkit's `pip install -r requirements.txt`), installed
	# once here: a job's own install then finds it, and the twin's parallel jobs never install into one environment
	# at the same time. smdebug is not in the image: the final job installs it into a folder of its own
	# (model_code/smdebug_compat.py), from the wheel kept here (the twin's jobs reach no package index).
	$(TRAINING_IMAGE)/bin/python -m pip install -q -r model_code/requirements.txt
	$(TRAINING_IMAGE)/bin/python -m pip download -q --no-deps --dest $(TRAINING_IMAGE)/wheelhouse $(SMDEBUG)
	touch $@

$(INFERENCE_IMAGE)/.installed: requirements/inference-image.txt
	rm -rf $(INFERENCE_IMAGE)
	$(call image_python,requirements/inference-image.txt) -m venv $(INFERENCE_IMAGE)
	$(INFERENCE_IMAGE)/bin/python -m pip install -q -r requirements/inference-image.txt
	touch $@

# The two share torch 2.6 and its CUDA libraries: identical files become one (util-linux's hardlink), 5 GB saved.
# A job's pip install replaces files rather than writing into them, so neither stand-in changes the other.
IMAGES_LINKED := .venv-images.linked
$(IMAGES_LINKED): $(TRAINING_IMAGE)/.installed $(INFERENCE_IMAGE)/.installed
	if command -v hardlink >/dev/null; then hardlink -q -c $(TRAINING_IMAGE) $(INFERENCE_IMAGE); fi
	touch $@

images: $(IMAGES_LINKED)

# SAM CLI + statelint and checkov pin different boto3 releases: each lives in a virtualenv of its own.
$(SAM_VENV)/.installed: requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q -r requirements/sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements/checkov.txt
	touch $@

tools: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# The try-it page's test drives Debian's chromium through Debian's chromedriver (selenium downloads nothing).
# Installed once; later runs only find both commands.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.installed images tools browser lint
	$(PYTEST)

# The unit tier (a few minutes): everything but the tests marked slow (model training, whole twin runs).
quick: $(VENV)/.installed images tools lint
	$(PYTEST) -m "not slow"

# The twin tier: the tests that start a whole local twin (tests/twin/, marked twin).
twin: $(VENV)/.installed images browser
	$(PYTEST) -m twin

demo: $(VENV)/.installed images
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m local_twin demo

up: $(VENV)/.installed images
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m local_twin up

# The acceptance run on your own AWS account (credentials and region from your AWS configuration): deploys the
# [smoke] profile, runs the digits through it, POSTs an image, prints the cost, and deletes everything it made.
aws-smoke: $(VENV)/.installed $(SAM_VENV)/.installed
	$(PY) scripts/aws_smoke.py --sam $(CURDIR)/$(SAM_VENV)/bin/sam $(if $(AWS_REGION),--region $(AWS_REGION))

bench: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m benchmarks

openapi: $(VENV)/.installed
	cd functions && ../$(PY) -m predict.openapi --write

image-uris: $(VENV)/.installed
	$(PY) scripts/image_uris.py --write

# The Rules that refuse at deploy what could only fail after a paid run (from common/poll_budget.py and the
# parameters' own ranges)
template-rules: $(VENV)/.installed
	$(PY) scripts/template_rules.py --write

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(TRAINING_IMAGE) $(INFERENCE_IMAGE) $(IMAGES_LINKED) .aws-sam .aws-smoke .twin .pytest_cache .ruff_cache
