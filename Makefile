# sparsegen: `make demo` runs the main job, `make test` runs the test suite. Both bootstrap .venv.
# Override the torch requirement for GPUs, e.g. `make test TORCH="torch==2.13.0 --index-url ..."`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export WANDB_SILENT ?= true

.PHONY: venv demo test test-fast bench bench-fpnd studies lint gpu-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sparsegen.demo

test: $(STAMP)
	WANDB_MODE=disabled MPLBACKEND=Agg $(BIN)/python -m pytest -q -n 2 tests $(wildcard notebooks/*.ipynb) --nbmake

# the suite without the tests marked slow (Pythia generation, Lightning fits, studies, demo) and the notebooks
test-fast: $(STAMP)
	WANDB_MODE=disabled MPLBACKEND=Agg $(BIN)/python -m pytest -q -n 2 -m "not slow" tests

# every bench/*.py but the FPND exactness check, which needs the JetNet library in its own venv (bench-fpnd),
# and vae_mass_spread.py, a diagnostic of a generative-study run; sampling_speed.py times the demo's
# checkpoints: run make demo first
bench: $(STAMP)
	for f in $(filter-out bench/fpnd_vs_jetnet.py bench/vae_mass_spread.py,$(wildcard bench/*.py)); do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# FPND: sparsegen vs the JetNet library on the same jets (makes .venv-jetnet once; FILES=... to score your own)
bench-fpnd: $(STAMP)
	test -x .venv-jetnet/bin/python || bash bench/jetnet_env.sh
	$(BIN)/python bench/fpnd_vs_jetnet.py $(if $(FILES),--files $(FILES),)

# the comparison studies behind docs/results.md (≈ 8 h on a 2-core CPU; each resumes/reruns independently)
studies: $(STAMP)
	$(BIN)/sparsegen study generative --minutes 10 --jobs 2
	$(BIN)/sparsegen study generative --family images --minutes 10 --jobs 2 --npix 64
	$(BIN)/sparsegen study generative --family images --minutes 10 --jobs 2 --npix 128
	$(BIN)/sparsegen study generative --family images --minutes 10 --jobs 2 --jet-types w q z
	$(BIN)/sparsegen study resolution
	$(BIN)/sparsegen study sparse-input
	$(BIN)/sparsegen study sparse-coding

# every config a few hundred steps on CUDA (mixed precision where safe), 100k jets sampled per model, sparse convs on
# the GPU; on a machine without CUDA it says so in one line (install a CUDA torch first: see TORCH above)
gpu-check: $(STAMP)
	$(BIN)/python bench/gpu_check.py

lint: $(STAMP)
	$(BIN)/ruff check sparsegen tests bench

clean:
	rm -rf $(VENV) .pytest_cache runs wandb lightning_logs
