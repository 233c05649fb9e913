# nnunet-explorer: `make demo` runs the main job end to end, `make test` runs the whole test suite.
# Both create ./.venv and install everything on first use (Python 3.11, pip; no GPU needed).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# A small default workspace next to the checkout; set NNUNET_EXPLORER_WORKSPACE, or nnU-Net's own three
# variables (nnUNet_raw_data_base, nnUNet_preprocessed, RESULTS_FOLDER), to use your own folders.
export NNUNET_EXPLORER_WORKSPACE ?= $(CURDIR)/nnunet_workspace
# nnU-Net v1 starts 12 augmentation workers by default; a 2-core machine wants few.
export nnUNet_n_proc_DA ?= 2
export nnUNet_def_n_proc ?= 2
DEMO_TASK ?= 901

.PHONY: all install demo lint test test-fast lab clean

all: demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch 2.13.0: a local CPU wheel on this kind of machine, the CUDA build where PyPI serves it.
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

WS := $(NNUNET_EXPLORER_WORKSPACE)
# where the explorer (as v1) puts the folders: nnU-Net's variables win over the workspace's sub-folders
RAW_BASE := $(or $(nnUNet_raw_data_base),$(WS)/raw)
RESULTS := $(or $(RESULTS_FOLDER),$(WS)/results)
DEMO_TASK_NAME := Task$(shell printf %03d $(DEMO_TASK))_SyntheticCT
RAW_TASK_DIR := $(RAW_BASE)/nnUNet_raw_data/$(DEMO_TASK_NAME)
FOLD_DIR := $(RESULTS)/nnUNet/3d_fullres/$(DEMO_TASK_NAME)/nnUNetTrainerV2__nnUNetPlansv2.1/fold_0

demo: $(STAMP)
	$(VENV)/bin/nnunet-explorer doctor
	$(VENV)/bin/nnunet-explorer sample synthetic-ct --task_id $(DEMO_TASK) --exist_ok
	$(VENV)/bin/nnunet-explorer plan_and_preprocess -t $(DEMO_TASK) -tl 2 -tf 2 --verify_dataset_integrity
	$(VENV)/bin/nnunet-explorer train 3d_fullres nnUNetTrainerV2 $(DEMO_TASK) 0 --until iteration \
		--report $(WS)/walkthrough_report.html --overwrite_report
	$(VENV)/bin/nnunet-explorer train 3d_fullres nnUNetTrainerV2 $(DEMO_TASK) 0 --max_num_epochs 2 \
		--num_batches_per_epoch 4 --num_val_batches_per_epoch 2 --overwrite_training
	$(VENV)/bin/nnunet-explorer predict -i $(RAW_TASK_DIR)/imagesTs -o $(WS)/predictions_$(DEMO_TASK_NAME) \
		-t $(DEMO_TASK) -m 3d_fullres -f 0 --overwrite_existing
	@echo
	@echo "demo done. Look at:"
	@echo "  step-by-step report : $(WS)/walkthrough_report.html"
	@echo "  training results    : $(FOLD_DIR)  (progress.png, training_log_*.txt, checkpoints)"
	@echo "  validation          : $(FOLD_DIR)/validation_raw/summary.json"
	@echo "  predictions         : $(WS)/predictions_$(DEMO_TASK_NAME)"

# lint-imports: the layering contracts of .importlinter (core below walkthrough/explore/views/cli, no loops)
lint: $(STAMP)
	$(VENV)/bin/lint-imports

# -X faulthandler: a crash in native code, also one at interpreter exit after pytest has ended, prints every
# thread's Python stack (pytest's own faulthandler is switched off by then). NATIVE_STACKS=1 (CI sets it) runs
# pytest through .ci/native_stacks.sh, so such a crash prints the native stacks too: one in the interpreter's own
# teardown has no Python frame to show.
test: lint
	$(if $(filter 1,$(NATIVE_STACKS)),bash .ci/native_stacks.sh) $(PY) -X faulthandler -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) nnunet_workspace .pytest_cache
