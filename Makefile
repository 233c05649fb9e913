# nnunet-explorer: `make demo` runs the main job end to end, `make test` runs the whole test suite.
# Both create ./.venv and install everything on first use (Python 3.11, pip; no GPU needed).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# A small default workspace next to the checkout; set the three nnU-Net variables to use your own folders.
export NNUNET_EXPLORER_WORKSPACE ?= $(CURDIR)/nnunet_workspace
# nnU-Net v1 starts 12 augmentation workers by default; a 2-core machine wants few.
export nnUNet_n_proc_DA ?= 2
export nnUNet_def_n_proc ?= 2
DEMO_TASK ?= 901

.PHONY: all install demo test test-fast lab clean

all: demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch 2.13.0: a local CPU wheel on this kind of machine, the CUDA build where PyPI serves it.
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nnunet-explorer doctor
	$(VENV)/bin/nnunet-explorer sample synthetic-ct --task_id $(DEMO_TASK) --exist_ok
	$(VENV)/bin/nnunet-explorer plan_and_preprocess -t $(DEMO_TASK) -tl 2 -tf 2 --verify_dataset_integrity
	$(VENV)/bin/nnunet-explorer train 3d_fullres nnUNetTrainerV2 $(DEMO_TASK) 0 --until iteration \
		--report $(NNUNET_EXPLORER_WORKSPACE)/demo_report.html
	@echo "demo done: workspace $(NNUNET_EXPLORER_WORKSPACE), report $(NNUNET_EXPLORER_WORKSPACE)/demo_report.html"

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) nnunet_workspace .pytest_cache
