# pilot-light: everything a fresh machine needs is installed from here.
#   make demo   run the promote-database state machine on the local two-region AWS and print the timeline
#   make test   every test: emulator patches (pytest), unit, mocked-SDK and end-to-end (cargo test)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := tests/emulator/requirements.txt
# Put the venv first: cargo-lambda (and zig, for release builds) come from PyPI into it.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never

NODE_STAMP := node_modules/.installed

.PHONY: all venv build test test-emulator test-rust test-static demo lint fmt clean

all: build

$(VENV_STAMP): $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

venv: $(VENV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Debug build of every crate, binaries included: `cargo lambda watch` then runs them without compiling
# inside a task's timeout.
build: $(VENV_STAMP)
	cargo build --workspace --all-targets

test-emulator: $(VENV_STAMP)
	$(VENV)/bin/python -m pytest tests/emulator -q -p no:cacheprovider

test-rust: build
	cargo test --workspace --no-fail-fast

# Schema checks the Rust suite does not make: the ASL against the States Language schema, the
# template with cfn-lint (SAM transform included).
test-static: $(VENV_STAMP) $(NODE_STAMP)
	@for f in state-machines/*.asl.json; do node_modules/.bin/asl-validator --json-path "$$f" || exit 1; done
	AWS_DEFAULT_REGION=us-west-2 $(VENV)/bin/cfn-lint template.yaml
	@echo "static checks: template.yaml and $$(ls state-machines/*.asl.json | wc -l) state machines valid"

test: test-static test-emulator test-rust

demo: build
	cargo run --quiet -p pilot-light-e2e --bin demo

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	rm -rf $(VENV) target node_modules
