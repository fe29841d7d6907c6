# The two commands of README.md: `make run` and `make test`. Run them as root on Debian 12.
PYTHON ?= python3
VENV := .venv
GUEST := build/guest/vmlinuz build/guest/initrd.img
GUEST_SOURCES := scripts/build-guest $(wildcard scripts/guest/*)
REMOTE_GUEST := build/remote-guest/vmlinuz build/remote-guest/initrd.img
REMOTE_GUEST_SOURCES := scripts/build-remote-guest $(wildcard scripts/remote-guest/*)

.PHONY: run test guest remote-guest lint clean deps test-deps

run: deps $(VENV)/.installed
	scripts/start-libvirtd
	$(VENV)/bin/plugboard serve

test: test-deps $(VENV)/.installed-test $(GUEST) $(REMOTE_GUEST)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

guest: $(GUEST)

remote-guest: $(REMOTE_GUEST)

deps:
	scripts/install-deps

test-deps:
	scripts/install-deps --test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

$(GUEST) &: $(GUEST_SOURCES)
	scripts/build-guest

$(REMOTE_GUEST) &: $(REMOTE_GUEST_SOURCES)
	scripts/build-remote-guest

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf build $(VENV)
