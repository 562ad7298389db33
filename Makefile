# pilot-light: everything a fresh machine needs is installed from here.
#   make demo   the local demo: a full failover and failback on the local two-region AWS, with the report
#               (each timeline's work steps, poll loops folded; make demo VERBOSE=1 for every state)
#   make test   every test: lint (fmt, clippy -D warnings), static checks, emulator patches (pytest),
#               unit, mocked-SDK and end-to-end
#   make lint   cargo fmt --check and cargo clippy -D warnings (part of make test)
#   make state-machines  regenerate state-machines/*.asl.json from their builder (xtask)
#   make check  static checks only: ASL schema, cfn-lint, sam validate --lint, cross-references, IAM audit
#   make package  release build of every function for Lambda (sam build, arm64); not part of make test
#   make bench  handler init, failover RTO, SSM sync, package size against baselines → bench/results.json; not part of make test

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := tests/emulator/requirements.txt
# Put the venv first: cargo-lambda (and zig, for release builds) come from PyPI into it.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never

NODE_STAMP := node_modules/.installed

# AWS SAM CLI in a venv of its own: it pins boto3/botocore ranges that differ from the emulator's.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_REQUIREMENTS := tools/sam-requirements.txt
SAM := $(CURDIR)/$(SAM_VENV)/bin/sam
# `sam validate --lint` and `sam build` call no AWS API, but the SDK wants a region and credentials.
SAM_ENV := AWS_REGION=us-west-2 AWS_DEFAULT_REGION=us-west-2 AWS_ACCESS_KEY_ID=none \
	AWS_SECRET_ACCESS_KEY=none SAM_CLI_TELEMETRY=0 SAM_CLI_CONTACT_TELEMETRY=0

.PHONY: state-machines all venv sam-venv build test test-emulator test-rust check test-static package demo bench lint fmt clean

all: build

$(VENV_STAMP): $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

venv: $(VENV_STAMP)

$(SAM_STAMP): $(SAM_REQUIREMENTS)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(SAM_REQUIREMENTS)
	touch $@

sam-venv: $(SAM_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Debug build of every crate, binaries included: `cargo lambda watch` then runs them without compiling
# inside a task's timeout.
build: $(VENV_STAMP)
	cargo build --workspace --all-targets

test-emulator: $(VENV_STAMP)
	$(VENV)/bin/python -m pytest tests/emulator -q -p no:cacheprovider

# Every test binary's stack audits its handlers' log when it shuts down (all JSON, no SecureString
# value or KMS plaintext); audit_logs.py then checks the audits of this run. Every scenario runs with
# the harness's application writing; data_report.py prints the table of their data checks (writes
# acknowledged, lost, split brain, RPO, write-unavailability) and fails on any violation.
test-rust: build
	@mkdir -p target && touch target/.test-run-began
	$(VENV)/bin/python tests/run_tests.py
	$(VENV)/bin/python tests/emulator/audit_logs.py --logs target/pilot-light-logs --since target/.test-run-began
	$(VENV)/bin/python tests/emulator/data_report.py --logs target/pilot-light-logs --since target/.test-run-began --markdown target/data-checks.md

# Static checks, no emulator: every state machine against the States Language schema (as written, and
# after substitution in static_checks), the templates with cfn-lint and `sam validate --lint`, the
# cross-references between ASL, template and crates (static_checks), the IAM audit (template_iam) and
# that the committed state machines are what their builder generates (xtask).
check: $(VENV_STAMP) $(NODE_STAMP) $(SAM_STAMP)
	@for f in state-machines/*.asl.json; do node_modules/.bin/asl-validator --json-path "$$f" || exit 1; done
	AWS_DEFAULT_REGION=us-west-2 $(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/cfn-lint forwarder.yaml
	$(SAM_ENV) $(SAM) validate --lint --template-file template.yaml
	cargo test --quiet --workspace --test static_checks --test template_iam
	cargo run --quiet -p xtask -- state-machines --check
	@echo "check: template.yaml, forwarder.yaml and $$(ls state-machines/*.asl.json | wc -l) state machines clean"

# The old name of `check`.
test-static: check

# Lint first: a formatting slip or a clippy warning fails in a minute, not after the end-to-end runs.
test: lint check test-emulator test-rust

# Release build of every function for Lambda: `sam build` (cargo lambda build --release --arm64, zig
# from the venv) into .aws-sam/build, in a target directory of its own (release artifacts never mix
# with the debug cache). Reports the build time, each bootstrap's architecture and each zip's size.
# Not part of `make test`: a cold release build takes about 24 minutes on 2 cores.
PACKAGE_TARGET_DIR ?= $(CURDIR)/target/lambda-release
package: $(VENV_STAMP) $(SAM_STAMP)
	@start=$$(date +%s); \
	CARGO_TARGET_DIR=$(PACKAGE_TARGET_DIR) $(SAM_ENV) $(SAM) build --template-file template.yaml || exit 1; \
	echo "package: sam build took $$(( $$(date +%s) - start )) s"
	@mkdir -p .aws-sam/zips; \
	for dir in .aws-sam/build/*/; do \
	  [ -f "$$dir/bootstrap" ] || continue; \
	  name=$$(basename "$$dir"); \
	  rm -f ".aws-sam/zips/$$name.zip"; \
	  (cd "$$dir" && zip -q -9 "$(CURDIR)/.aws-sam/zips/$$name.zip" bootstrap); \
	  printf '%-32s %s\n' "$$name" "$$(file -b "$$dir/bootstrap" | cut -d, -f1-2)"; \
	  printf '%-32s zip %s bytes\n' "" "$$(stat -c %s ".aws-sam/zips/$$name.zip")"; \
	done

demo: build
	cargo run --quiet -p pilot-light-e2e --bin demo -- $(if $(VERBOSE),--verbose)

# Benchmarks against baselines measured in the same run (docs/benchmarks.md): handler init and peak
# RSS vs Python/boto3 (release build into BENCH_TARGET_DIR, default ~/.cache/pilot-light/bench-target),
# failover RTO vs a sequential state machine and SSM sync vs a naive copy on the emulator, zip sizes
# from `make package`. Writes bench/results.json (not in git) and prints a table; never asserts timings.
# Not part of `make test`. Options: BENCH_RUNS=10, BENCH_SKIP_RELEASE=1 (debug binaries, quick),
# BENCH_CLEAN_BUILD=1 (also time a clean debug build).
bench: build
	$(VENV)/bin/python bench/run.py

# The state machines are generated from Rust (xtask/src/machines); the JSON files are committed for
# readers and for SAM. Edit the builder, then run this; `make check` fails when they differ.
state-machines:
	cargo run --quiet -p xtask -- state-machines

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	rm -rf $(VENV) $(SAM_VENV) target node_modules .aws-sam
