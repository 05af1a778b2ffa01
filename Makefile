# lnn_control: `make demo` runs the main job, `make test` the whole suite. Both set up .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lnn_control-installed
EXTRAS := train,sim,ros,export,bags,security,distributed,dev
# Debian packages the tests and demos use (installed when missing and apt-get is usable).
# libtinyxml2-9: the sros2 overlay's Fast DDS (secure DDS tests, test/test_ros_security.py).
DEB_PACKAGES := chromium libegl-mesa0 libosmesa6 qemu-user-static debootstrap libtinyxml2-9
DEB_STAMP := $(VENV)/.deb-installed

.PHONY: install demo test lint bench clean

install: $(STAMP) $(DEB_STAMP)

$(DEB_STAMP): Makefile
	mkdir -p $(VENV)
	missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $$missing; \
		else echo "missing Debian packages (tests that need them skip): $$missing"; fi; \
	fi
	touch $(DEB_STAMP)

# torch is installed first and pinned: an unpinned resolve would fetch a multi-GB CUDA build.
$(STAMP): setup.py setup.cfg package.xml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: install
	$(PY) -m lnn_control.cli demo

test: install
	$(PY) -m pytest test -q -ra

lint: install
	$(PY) -m pytest test -q -m linter

bench: install
	$(PY) bench/inference_latency.py
	$(PY) bench/training_throughput.py

clean:
	rm -rf $(VENV) build install log *.egg-info
