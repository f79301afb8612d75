# Two entry points for a fresh machine: `make demo` and `make test`. Both bootstrap .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vidcolor-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Fast suite in CI; `make test-full` adds the long (slow-marked) tests.
PYTEST_ARGS ?=

.PHONY: demo test test-full lint format venv ffmpeg chromium clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pins come from local disk (see DEVELOPERS.md); install them first so nothing pulls another build.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP)

ffmpeg:
	@command -v ffprobe >/dev/null 2>&1 || { \
	  echo "installing Debian ffmpeg (ffprobe judges every file we write)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium (the HTML report tests look at the page in headless Chromium)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

lint: $(STAMP)
	$(BIN)/ruff check vidcolor jobs tests benchmarks
	$(BIN)/ruff format --check vidcolor jobs tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format vidcolor jobs tests benchmarks
	$(BIN)/ruff check --fix vidcolor jobs tests benchmarks

test: $(STAMP) ffmpeg chromium lint
	$(BIN)/python -m pytest -q --durations=15 $(PYTEST_ARGS)

test-full: $(STAMP) ffmpeg chromium lint
	$(BIN)/python -m pytest -q --durations=15 -m '' $(PYTEST_ARGS)

demo: $(STAMP) ffmpeg
	$(BIN)/python -m vidcolor.demo

clean:
	rm -rf demo-out .pytest_cache .ruff_cache
