# dockyard — one-command setup, demo, tests, checks and benchmarks.
# Everything runs as root on Debian 12; `make setup` is idempotent.

SHELL := /bin/bash
# Debian's own interpreter when there is one: its libpython is linked in (no shared-library
# relocation at every start), so `python -IS` starts ~3 ms sooner than a shared-library build,
# and every CLI call pays that (docs/decisions/0002-fast-launchers.md).
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV := .venv
PY := $(VENV)/bin/python
DOCKYARD := $(VENV)/bin/dockyard
CACHE := .cache
IMAGES := $(CACHE)/images

# Debian packages the code, the tests and the benchmarks need.
APT_PACKAGES := busybox-static debootstrap iproute2 nftables libseccomp2 \
	skopeo umoci runc crun podman uidmap docker-registry openssl buildah docker.io wrk haproxy python3-venv ca-certificates \
	gzip tar procps util-linux slirp4netns tini bind9-dnsutils docker-compose dnsmasq-base dnsperf \
	golang-go chromium

.PHONY: setup deps venv images demo test check bench clean
.DEFAULT_GOAL := setup

setup: deps venv images

deps: $(CACHE)/apt.stamp

$(CACHE)/apt.stamp: Makefile
	@mkdir -p $(CACHE)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

venv: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml $(CACHE)/apt.stamp
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[test]'
	@$(PY) tools/write-launchers.py $(VENV) >/dev/null
	@touch $@

# Base images, built offline from the host's Debian sources, kept as OCI
# archives under .cache/images (tests load them into their own roots) and
# loaded into the default store.
images: $(VENV)/.stamp
	@mkdir -p $(IMAGES)
	@$(DOCKYARD) image bootstrap --cache $(IMAGES) busybox:latest debian:bookworm-slim python:3.11-slim

demo: setup
	@bash demo/run.sh

test: setup
	@$(PY) -m pytest -q -p no:cacheprovider tests

check: venv
	@$(VENV)/bin/ruff check src tests bench
	@$(VENV)/bin/ruff format --check src tests bench
	@$(VENV)/bin/mypy

bench: setup
	@$(PY) -m bench

clean:
	rm -rf $(VENV) $(CACHE)

# A cgroup v2 host for the tests (docs/decisions/0007-cgroup2-guest.md): a Debian 12 guest
# with systemd as PID 1, under qemu (TCG), built into .cache/cgroup2-guest/ and running
# commands in this checkout (shared over 9p at the same path). Its packages are installed
# only when one of these targets runs, so `make test` never pays for qemu.
GUEST := $(PYTHON) tools/cgroup2-guest
GUEST_APT_PACKAGES := qemu-system-x86 debootstrap e2fsprogs
# The root integration tests that touch cgroups (placement, limits, OOM, stats, pause,
# update, the escape suite, HPA CPU metrics, rootless with a delegated user scope, user
# namespaces and pods' securityContext).
CGROUP2_TESTS := tests/integration/test_cgroups_contract_host.py \
	tests/integration/test_cgroups_oom.py tests/integration/test_run.py \
	tests/integration/test_daemon_lifecycle.py tests/integration/test_daemon_commands.py \
	tests/integration/test_escape_suite.py tests/integration/test_escape_devices.py \
	tests/integration/test_update.py tests/integration/test_systemd_host.py \
	tests/integration/test_kube_deployments.py::test_hpa_scales_up_under_load_and_down_after_the_window \
	tests/integration/test_rootless.py tests/integration/test_userns.py \
	tests/integration/test_pod_security_context.py
# The suite runs as a login shell's user would run a service: in a transient scope that
# systemd delegates (the session scope of a login shell is not delegated: no controller could
# be enabled beneath it); its deadlines stretched for the emulated CPU.
GUEST_PYTEST := systemd-run --scope --quiet --collect -p Delegate=yes -- \
	env DOCKYARD_SYSTEMD_TESTS=1 DOCKYARD_TEST_TIME_SCALE=8 DOCKYARD_START_TIMEOUT=240 \
	$(PY) -m pytest -q -p no:cacheprovider -m "not anchors"

.PHONY: cgroup2-guest-deps cgroup2-guest test-cgroup2 cgroup2-smoke

cgroup2-guest-deps:
	@if ! dpkg -s $(GUEST_APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GUEST_APT_PACKAGES) >/dev/null; \
	fi

cgroup2-guest: cgroup2-guest-deps
	@$(GUEST) build

test-cgroup2: setup cgroup2-guest
	@$(GUEST) run --timings -- $(GUEST_PYTEST) $(CGROUP2_TESTS)

cgroup2-smoke: setup cgroup2-guest
	@$(GUEST) run --timings --timeout 600 -- $(PY) tools/cgroup2_guest/smoke.py
