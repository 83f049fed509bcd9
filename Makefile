# Build, lint and test the mailguard.postfix collection. `make help` lists the
# targets; `make test` is what CI runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NAMESPACE := mailguard
NAME := postfix
PYTHON ?= python3
PYTHON_VERSION := 3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
REQUIREMENTS := requirements-dev.txt
VENV_STAMP := $(VENV)/.installed-$(REQUIREMENTS)
BUILD := $(CURDIR)/.build
# A tree where Python and Ansible find this checkout as
# ansible_collections.mailguard.postfix without installing it.
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/$(NAMESPACE)/$(NAME)

# Lab images: SUITE:RELEASE pairs, built from Debian packages. The scenarios'
# molecule.yml read the same MAILGUARD_IMAGE_PREFIX.
export MAILGUARD_IMAGE_PREFIX ?= localhost/mailguard-debian
IMAGES := bookworm:12 trixie:13
# Image used to find out whether plain `podman run` works on this machine.
PROBE_IMAGE := $(MAILGUARD_IMAGE_PREFIX):12

# `make molecule SCENARIO=name` runs one scenario; by default every folder
# under molecule/ that has a molecule.yml, the longest first (SCENARIO_ORDER)
# so that the lanes end close together, then the others by name.
SCENARIO ?=
SCENARIO_ORDER := backscatter default faults fleet ratelimit badinput dnsbl audit
ALL_SCENARIOS = $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))
SCENARIOS = $(if $(SCENARIO),$(SCENARIO),$(filter $(ALL_SCENARIOS),$(SCENARIO_ORDER)) $(filter-out $(SCENARIO_ORDER),$(ALL_SCENARIOS)))
# Scenarios that run side by side (tools/run-scenarios.sh); 1 runs them one
# after another with their output on the terminal as it comes.
export MOLECULE_JOBS ?= 2

# Make the venv's tools win over anything else on PATH, ansible-test's
# `--python 3.11` lookup included.
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Shell prelude for targets that start containers and run playbooks:
# - podman settings through CONTAINERS_CONF, only where this machine needs them;
# - collections: this checkout first, then the venv's site-packages, where the
#   `ansible` package ships containers.podman (Molecule's podman driver).
LAB_ENV = eval "$$(tools/podman-env.sh $(PROBE_IMAGE))"; \
	if [ -n "$${CONTAINERS_CONF:-}" ]; then echo "podman settings: CONTAINERS_CONF=$$CONTAINERS_CONF"; fi; \
	export ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS):$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')";

# Targets run one after another, in the order given (`make test` relies on it).
.NOTPARALLEL:

.PHONY: help host venv lint changelog-lint sanity unit images molecule test demo bench bench-run build clean host-lab host-sanity host-browser collection-link

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- Environment ----------------------------------------------------------

venv: $(VENV_STAMP) ## Create .venv with the pinned tools (re-run only when the requirements change)

$(VENV_STAMP): $(REQUIREMENTS)
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then tools/host-packages.sh --force python3-venv; fi
	@if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); tools/host-packages.sh --force python3-venv; $(PYTHON) -m venv $(VENV); }; \
	fi
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	@touch $@

# Every Debian package the targets below need, in one apt run, so that
# `make test` can build the images in the background while the static checks
# run (two apt runs at once would fight over dpkg's lock).
host: ## Install the Debian packages the lab and the checks need (podman, runc, mmdebstrap, shellcheck, chromium)
	@tools/host-packages.sh podman:podman runc:runc mmdebstrap:mmdebstrap shellcheck:shellcheck chromium:chromium

# Debian's lab packages, installed by apt-get when missing (see the script).
host-lab:
	@tools/host-packages.sh podman:podman runc:runc mmdebstrap:mmdebstrap

# Without shellcheck, ansible-test skips its shellcheck test with a mere warning.
host-sanity:
	@tools/host-packages.sh shellcheck:shellcheck

# The unit tests open the audit report's HTML page in headless Chromium.
host-browser:
	@tools/host-packages.sh chromium:chromium

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

# --- Static checks ----------------------------------------------------------

# ansible-lint's syntax check resolves this collection's modules by FQCN, so it
# gets the same collection path as the playbooks do.
lint: venv collection-link ## ansible-lint (production profile) and yamllint
	yamllint --strict .
	ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS):$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	  ansible-lint --profile production

changelog-lint: venv ## Check the changelog fragments
	antsibull-changelog lint

# ansible-test bootstraps pip in each venv it makes with get-pip.py, which it
# downloads from a host this lab cannot reach, unless a copy is cached at
# ~/.ansible/test/cache/get_pip_<pip version>.py. tools/get-pip-standin.py does
# the same job with ensurepip and the configured package index. It is written
# only when the file is missing, so a real cached get-pip.py is left alone.
sanity: venv host-sanity ## ansible-test sanity on a copy of the tree, as installed collections are laid out
	@pip_version=$$($(BIN)/python -c 'import importlib.util, pathlib, re; \
	  spec = importlib.util.find_spec("ansible_test._internal.python_requirements"); \
	  print(re.search(r"pip=.([0-9.]+).", pathlib.Path(spec.origin).read_text()).group(1))'); \
	cache=$$HOME/.ansible/test/cache/get_pip_$${pip_version//./_}.py; \
	if [ ! -e "$$cache" ]; then \
	  mkdir -p "$$(dirname "$$cache")"; cp tools/get-pip-standin.py "$$cache"; \
	  echo "wrote pip $$pip_version bootstrap stand-in: $$cache"; \
	fi
	@work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	tree=$$(tools/collection-tree.sh "$$work" $(NAMESPACE) $(NAME)); \
	cd "$$tree" && ansible-test sanity --python $(PYTHON_VERSION) --local --color no

unit: venv host-browser collection-link ## pytest on tests/unit, the collection importable from .build/collections
	@rc=0; PYTHONPATH=$(COLLECTIONS)$${PYTHONPATH:+:$$PYTHONPATH} HYPOTHESIS_STORAGE_DIRECTORY=$(BUILD)/hypothesis \
	  pytest -o cache_dir=$(BUILD)/pytest_cache tests/unit || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make unit: pytest collected no tests under tests/unit" >&2; fi; \
	exit $$rc

# --- Lab ------------------------------------------------------------------------

# Building needs no container start, so no podman settings either.
# Both images at once, each line marked with its release; fails when either fails.
images: host-lab ## Build the Debian 12 and 13 lab images (cached by recipe hash)
	@pids=(); for pair in $(IMAGES); do \
	  { IMAGE_PREFIX=$(MAILGUARD_IMAGE_PREFIX) tools/build-image.sh $${pair%%:*} $${pair#*:} 2>&1 \
	    | sed -u "s/^/[$${pair#*:}] /"; } & pids+=($$!); \
	done; \
	rc=0; for pid in "$${pids[@]}"; do wait "$$pid" || rc=1; done; exit $$rc

molecule: venv images collection-link ## Run every Molecule scenario, two at a time, or one: make molecule SCENARIO=name
	@scenarios="$(strip $(SCENARIOS))"; \
	if [ -z "$$scenarios" ]; then echo "make molecule: no scenario (molecule/*/molecule.yml)" >&2; exit 1; fi; \
	$(LAB_ENV) \
	MOLECULE_LOG_DIR=$(BUILD)/molecule-logs tools/run-scenarios.sh $$scenarios

# --- Aggregates -------------------------------------------------------------

# The steps run in this order, except the two in the background ("bg:"): the
# images, built beside the venv, lint and unit, and sanity, which runs beside
# the Molecule scenarios (much of its time goes to building ansible-test's
# environments). The time of each step and of each scenario is printed at the end.
TEST_STEPS := host bg:images venv lint unit wait:images bg:sanity molecule wait

test: ## Everything CI runs: host packages, images (in the background), venv, lint, unit, sanity (in the background), molecule, then the time of each
	@MAKE="$(MAKE)" tools/timed-steps.sh $(TEST_STEPS)

demo: venv images collection-link ## Run tools/demo.sh
	@if [ ! -x tools/demo.sh ]; then echo "make demo: tools/demo.sh is missing or not executable" >&2; exit 1; fi
	@$(LAB_ENV) tools/demo.sh

# The benchmarks of bench/, in this order; each writes bench/results/NAME.json,
# and bench/summary.py then writes bench/results/summary.md. One that fails
# does not stop the others; the target fails at the end. Not part of `make test`.
BENCHMARKS := reject_path postscreen order policy_overhead ansible_runs facts_host facts_scale
# As in `make test`: the host packages first, then the images built beside the venv.
BENCH_STEPS := host-lab bg:images venv wait:images bench-run

bench: ## Run the benchmarks (bench/) in lab containers; results in bench/results/
	@MAKE="$(MAKE)" tools/timed-steps.sh $(BENCH_STEPS)

bench-run: venv images collection-link
	@$(LAB_ENV) \
	mkdir -p bench/results; rm -f bench/results/*.json bench/results/summary.md; \
	times=bench/results/times.txt; : >"$$times"; started=$$SECONDS; rc=0; \
	for name in $(BENCHMARKS); do \
	  echo "=== bench/$$name.py"; start=$$SECONDS; \
	  if PYTHONPATH=$(COLLECTIONS)$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python bench/$$name.py >bench/results/$$name.out; \
	  then status=passed; else status=FAILED; rc=1; fi; \
	  echo "$$name $$((SECONDS - start)) $$status" | tee -a "$$times"; \
	done; \
	echo "all $$((SECONDS - started)) $$([ $$rc -eq 0 ] && echo passed || echo FAILED)" >>"$$times"; \
	$(BIN)/python bench/summary.py --expect "$$(echo $(BENCHMARKS) | tr ' ' ,)" --times "$$times"; \
	exit $$rc

build: venv ## Build the collection artifact into .build/dist
	ansible-galaxy collection build --force --output-path $(BUILD)/dist

clean: ## Remove build output and caches (keeps .venv and images)
	rm -rf $(BUILD) tests/output .hypothesis tests/unit/.hypothesis tests/unit/.pytest_cache
