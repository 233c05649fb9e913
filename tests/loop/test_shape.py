"""The run has one owner, in v1's shape: the trainer's ``run_training`` is short and reads like v1's, and the
data/augmentation/loss layer (``training/``) knows nothing of the walkthrough's steps."""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import nnunet_explorer

TRAINING = Path(nnunet_explorer.__file__).parent / "training"


def test_run_training_is_at_most_80_lines_and_calls_v1s_methods_by_name():
    from nnunet_explorer.network_training import NetworkTrainer

    lines, _ = inspect.getsourcelines(NetworkTrainer.run_training)
    assert len(lines) <= 80, len(lines)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    called = {node.func.attr for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert {"run_iteration", "update_train_loss_MA", "on_epoch_end", "save_checkpoint"} <= called, called


def test_no_module_in_training_mentions_a_pipeline_or_imports_the_walkthrough():
    offenders = []
    for path in sorted(TRAINING.rglob("*.py")):
        text = path.read_text()
        if "pipeline" in text.lower():
            offenders.append(f"{path.name}: mentions a pipeline")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level and \
                    node.module.split(".")[0] in {"walkthrough", "walkthrough_run", "explore", "run", "commands"}:
                offenders.append(f"{path.name}: imports {node.module}")
    assert not offenders, offenders
