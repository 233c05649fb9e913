"""The per-rank rules of distributed training (against v1's DDP trainer) and the ddp_plan walkthrough card."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.training.dataloading import is_forced_foreground, load_dataset, make_data_loader
from nnunet_explorer.training.distributed import (DDPPlan, ddp_plan, rank_augmentation_seeds, rank_batch_sizes,
                                                  rank_oversample_percents, torchrun_environment, wants_distributed)

GRID = [(bs, ws, dbs, p) for bs in (1, 2, 5, 7) for ws in (1, 2, 3, 4) for dbs in (False, True) for p in (0.33, 0.5)]


def _valid(bs: int, ws: int, dbs: bool) -> bool:
    """v1's --dbs arithmetic gives every rank at least one sample (else the explorer refuses)."""
    per = -(-bs // ws)
    return not dbs or all(per - max(0, (r + 1) * per - bs) >= 1 for r in range(ws))

# v1's own method, run on a stand-in trainer (v1 reads env variables at import: keep it in a subprocess)
V1_SCRIPT = textwrap.dedent("""
    import json, sys, types
    import nnunet.training.network_training.nnUNetTrainerV2_DDP as m
    out = []
    for bs, ws, dbs, p in json.loads(sys.argv[1]):
        for rank in range(ws):
            m.dist = types.SimpleNamespace(get_world_size=lambda: ws, get_rank=lambda: rank)
            fake = types.SimpleNamespace(batch_size=bs, distribute_batch_size=dbs, oversample_foreground_percent=p)
            m.nnUNetTrainerV2_DDP.set_batch_size_and_oversample(fake)
            out.append([bs, ws, dbs, p, rank, int(fake.batch_size), float(fake.oversample_foreground_percent)])
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.parity
@pytest.mark.slow
def test_batch_size_and_oversampling_per_rank_equal_v1s_set_batch_size_and_oversample(tmp_path):
    from nnunet_explorer.parity import v1_environment
    from nnunet_explorer.paths import resolve_workspace

    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "r"), "nnUNet_preprocessed": str(tmp_path / "p"),
                            "RESULTS_FOLDER": str(tmp_path / "o")}).ensure()
    done = subprocess.run([sys.executable, "-c", V1_SCRIPT, json.dumps(GRID)], capture_output=True, text=True,
                          env=v1_environment(ws), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.split("RESULT", 1)[1])
    assert len(rows) == sum(ws for _, ws, _, _ in GRID)
    refused = {(bs, ws, dbs) for bs, ws, dbs, _, _, v1_bs, _ in rows if v1_bs < 1}
    assert refused == {(bs, ws, dbs) for bs, ws, dbs, _ in GRID if not _valid(bs, ws, dbs)}
    for bs, ws, dbs, p, rank, v1_bs, v1_p in rows:
        if (bs, ws, dbs) in refused:  # v1 would build a loader with batch size <= 0
            with pytest.raises(ConfigurationError):
                rank_batch_sizes(bs, ws, dbs)
            continue
        sizes = rank_batch_sizes(bs, ws, dbs)
        assert sizes[rank] == v1_bs, (bs, ws, dbs, rank)
        assert rank_oversample_percents(sizes, p)[rank] == pytest.approx(v1_p, abs=1e-12), (bs, ws, dbs, p, rank)


def test_oversampling_keeps_the_last_samples_of_the_global_batch_forced():
    # the rule's intent: the forced samples form the tail of the global batch, ranks laid end to end
    for bs, ws, dbs, p in [g for g in GRID if _valid(*g[:3])]:
        sizes = rank_batch_sizes(bs, ws, dbs)
        percents = rank_oversample_percents(sizes, p)
        flags = [is_forced_foreground(j, s, q) for s, q in zip(sizes, percents) for j in range(s)]
        if True in flags:
            first = flags.index(True)
            assert all(flags[first:]), (bs, ws, dbs, p, flags)
        assert len(flags) == sum(sizes) == (bs if dbs else bs * ws)


def test_dbs_refuses_a_rank_without_samples():
    with pytest.raises(ConfigurationError, match="no sample"):
        rank_batch_sizes(2, 4, True)


def test_augmentation_seeds_are_v1s_draws_after_seeding_with_the_rank():
    state = np.random.get_state()
    try:
        for rank in range(3):
            for threads in (1, 4, 12):
                np.random.seed(rank)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    draw = getattr(np.random, "random_integers", None)
                    if draw is not None:
                        v1_train = draw(0, 99999, threads)
                        v1_val = draw(0, 99999, max(threads // 2, 1))
                    else:  # numpy without random_integers: its documented equivalent
                        v1_train = np.random.randint(0, 100000, threads)
                        v1_val = np.random.randint(0, 100000, max(threads // 2, 1))
                train, val = rank_augmentation_seeds(rank, threads)
                assert train == [int(s) for s in v1_train] and val == [int(s) for s in v1_val]
    finally:
        np.random.set_state(state)
    assert rank_augmentation_seeds(0, 2)[0] != rank_augmentation_seeds(1, 2)[0]


def test_torchrun_detection_from_the_environment():
    assert torchrun_environment({}) is None
    assert torchrun_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 1, 2)
    assert wants_distributed(None, {"RANK": "0", "WORLD_SIZE": "2"})
    assert not wants_distributed(None, {"RANK": "0", "WORLD_SIZE": "1"})
    assert not wants_distributed(None, {})
    import argparse

    assert wants_distributed(argparse.Namespace(dist=True), {})


def test_ddp_plan_card_shows_each_ranks_share_and_the_sync_points():
    plan = ddp_plan(2, 2, 0.33, case_ids=[f"case_{i}" for i in range(8)], num_train_workers=2, batch_dice=True)
    assert isinstance(plan, DDPPlan) and plan.global_batch_size == 4
    assert [r.batch_size for r in plan.ranks] == rank_batch_sizes(2, 2)
    assert [r.global_sample_range for r in plan.ranks] == [(0, 2), (2, 4)]
    assert plan.ranks[0].forced_foreground == (False, False) and plan.ranks[1].forced_foreground == (False, True)
    assert all(len(r.first_batches) == 2 and all(len(b) == r.batch_size for b in r.first_batches) for r in plan.ranks)
    assert plan.ranks[0].seeds_train != plan.ranks[1].seeds_train
    html = plan._repr_html_()
    text = repr(plan)
    for needle in ("rank 0", "rank 1", "all_reduce", "barrier", "all_gather", "broadcast"):
        assert needle in html and needle in text
    # sample Dice: nothing gathered in the loss
    assert "all_gather" not in repr(ddp_plan(2, 2, 0.33))
    split = ddp_plan(2, 5, 0.33, distribute_batch_size=True)
    assert [r.batch_size for r in split.ranks] == [3, 2] and split.global_batch_size == 5


def test_ddp_plan_first_batches_are_what_a_seeded_loader_draws_first(v1_ct_task):
    folder = v1_ct_task.preprocessed_dir / "nnUNetData_plans_v2.1_stage0"
    dataset = load_dataset(folder)
    keys = sorted(dataset)[:6]
    plan = ddp_plan(2, 2, 0.33, case_ids=keys, num_train_workers=2)
    state = np.random.get_state()
    try:
        for r in plan.ranks:
            loader = make_data_loader({k: dataset[k] for k in keys}, (8, 16, 16), (8, 16, 16), r.batch_size,
                                      r.oversample_foreground_percent)
            for seed, expected in zip(r.seeds_train, r.first_batches):
                np.random.seed(seed)  # what an augmentation worker does first
                batch = next(loader)
                assert tuple(batch["keys"]) == expected
                assert tuple(p.forced for p in batch["provenance"]) == r.forced_foreground
    finally:
        np.random.set_state(state)


GLOBAL_DICE_SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile
    import torch, torch.multiprocessing as mp
    import torch.distributed as dist
    from nnunet_explorer.training.distributed import GlobalBatchSoftDiceLoss
    from nnunet_explorer.training.loss import SoftDiceLoss

    def work(rank, x, y, init, out):
        dist.init_process_group("gloo", init_method="file://" + init, rank=rank, world_size=2)
        xr = x[rank * 2:(rank + 1) * 2].clone().requires_grad_(True)
        loss = GlobalBatchSoftDiceLoss()(xr, y[rank * 2:(rank + 1) * 2])
        loss.backward()
        torch.save({"loss": loss.detach(), "grad": xr.grad}, out + str(rank))
        dist.destroy_process_group()

    if __name__ == "__main__":
        torch.manual_seed(0)
        x = torch.randn(4, 3, 5, 6, 7)
        y = torch.randint(0, 3, (4, 1, 5, 6, 7)).float()
        d = tempfile.mkdtemp()
        ctx = mp.get_context("fork")
        ps = [ctx.Process(target=work, args=(r, x, y, d + "/init", d + "/out")) for r in range(2)]
        [p.start() for p in ps]; [p.join(60) for p in ps]
        res = [torch.load(d + "/out" + str(r)) for r in range(2)]
        xf = x.clone().requires_grad_(True)
        full = SoftDiceLoss(batch_dice=True, do_bg=False, smooth=1e-5)(xf, y)
        full.backward()
        grad = torch.cat([res[0]["grad"], res[1]["grad"]])
        print("RESULT" + json.dumps({"losses": [float(r["loss"]) for r in res], "full": float(full),
                                     "grad_diff": float((grad - xf.grad).abs().max()),
                                     "grad_max": float(xf.grad.abs().max())}))
""")


@pytest.mark.slow
def test_global_batch_dice_is_the_dice_of_the_whole_global_batch_with_v1s_own_slice_gradient(tmp_path):
    script = tmp_path / "global_dice.py"
    script.write_text(GLOBAL_DICE_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(done.stdout.split("RESULT", 1)[1])
    # both ranks hold the same value: the batch Dice of all 4 samples (one process, batch_dice=True)
    assert r["losses"][0] == pytest.approx(r["full"], abs=1e-6) and r["losses"][1] == pytest.approx(r["full"], abs=1e-6)
    # each rank's gradient is d(global loss)/d(its own samples): together, the one-process gradient
    assert r["grad_max"] > 0 and r["grad_diff"] < 1e-6 * max(1.0, r["grad_max"])


def test_ddp_plan_for_a_walkthrough_uses_its_batch_size_cases_and_loss(v1_ct_task, tmp_path):
    import shutil

    from nnunet_explorer.paths import resolve_workspace
    from nnunet_explorer.training.distributed import ddp_plan_for
    from nnunet_explorer.walkthrough import training_walkthrough

    src = v1_ct_task.workspace
    shutil.copytree(src.raw_data_base.parent, tmp_path / "ws")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "ws" / src.raw_data_base.name),
                            "nnUNet_preprocessed": str(tmp_path / "ws" / src.preprocessed.name),
                            "RESULTS_FOLDER": str(tmp_path / "ws" / src.results_folder.name)})
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", "901", "0", workspace=ws)
    plan = ddp_plan_for(pipeline, 3, num_train_workers=2)
    bs = pipeline["plans_processed"].batch_size
    assert [r.batch_size for r in plan.ranks] == [bs] * 3
    cases = set(pipeline["split"].train)
    assert all(set(b) <= cases for r in plan.ranks for b in r.first_batches)
    gathered = any("all_gather" in s.collective for s in plan.sync_points)
    assert gathered == bool(pipeline["loss"].loss.dc.batch_dice)


AGGREGATE_SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile
    import torch, torch.multiprocessing as mp
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from nnunet_explorer.training.distributed import DistInfo, DistributedTrainingRun
    from nnunet_explorer.training.loss import DCAndCELoss
    from nnunet_explorer.training.loop import _StopNow

    def work(rank, d):
        dist.init_process_group("gloo", init_method="file://" + d + "/init", rank=rank, world_size=2)
        torch.manual_seed(rank)  # different initial weights: DDP must copy rank 0's
        net = torch.nn.Conv3d(1, 3, 1)
        run = DistributedTrainingRun(None, dist_info=DistInfo(rank, rank, 2, "gloo", "cpu"), record_dir=None)
        run.network = net
        run.ddp_network = DistributedDataParallel(net)
        run.optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        loss = DCAndCELoss(batch_dice=False)
        g = torch.Generator().manual_seed(10 + rank)
        data = torch.randn(2, 1, 4, 5, 6, generator=g)
        target = torch.randint(0, 3, (2, 1, 4, 5, 6), generator=g).float()
        out = {}
        local = loss(net(data), target).item()
        train = run._run_iteration(net, loss, run.optimizer, data, target, do_backprop=True)
        out["train"] = [local, train.loss, train.scale_parts[0].ce, train.scale_parts[0].dice]
        out["weights"] = [float(p.detach().double().sum()) for p in net.parameters()]
        val = run._run_iteration(net, loss, run.optimizer, data, target, do_backprop=False, run_online_evaluation=True)
        from nnunet_explorer.training.iteration import online_evaluation
        with torch.no_grad():
            own = online_evaluation(net(data), target)
        out["tp"] = [list(own.tp), list(val.online_evaluation.tp)]
        if rank == 0:
            run.stop("asked on rank 0")
        bad = data.clone()
        if rank == 1:
            bad[0, 0, 0, 0, 0] = float("nan")
        nan = run._run_iteration(net, loss, run.optimizer, bad, target, do_backprop=False)
        out["nonfinite"] = nan.nonfinite
        try:
            run._maybe_stop()
            out["stopped"] = None
        except _StopNow as exc:
            out["stopped"] = str(exc)
        json.dump(out, open(d + "/out%d.json" % rank, "w"))
        dist.destroy_process_group()

    if __name__ == "__main__":
        d = tempfile.mkdtemp()
        ctx = mp.get_context("fork")
        ps = [ctx.Process(target=work, args=(r, d)) for r in range(2)]
        [p.start() for p in ps]; [p.join(90) for p in ps]
        print("RESULT" + json.dumps([json.load(open(d + "/out%d.json" % r)) for r in range(2)]))
""")


@pytest.mark.slow
def test_an_iteration_averages_the_loss_sums_tp_and_shares_nan_and_stop_flags(tmp_path):
    script = tmp_path / "aggregate.py"
    script.write_text(AGGREGATE_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = json.loads(done.stdout.split("RESULT", 1)[1])
    # DDP started both ranks from rank 0's weights and stepped them alike
    assert r0["weights"] == r1["weights"]
    # the loss every rank records is the mean of the ranks' own losses (and so are its CE / Dice parts)
    mean = (r0["train"][0] + r1["train"][0]) / 2
    assert r0["train"][1] == pytest.approx(mean, rel=1e-6) and r1["train"][1] == pytest.approx(mean, rel=1e-6)
    assert r0["train"][2:] == r1["train"][2:] and r0["train"][2] + r0["train"][3] == pytest.approx(mean, rel=1e-5)
    # online evaluation: tp of the validation batch summed over ranks
    assert r0["tp"][1] == r1["tp"][1] == [a + b for a, b in zip(r0["tp"][0], r1["tp"][0])]
    # a NaN on rank 1 is reported on rank 0 too; a stop asked on rank 0 reaches rank 1 at the same iteration
    assert r1["nonfinite"] == "input" and "another process" in r0["nonfinite"]
    assert r0["stopped"] == "asked on rank 0" and "another process" in r1["stopped"]


def test_rank_info_picks_gloo_on_cpu_and_refuses_cuda_without_a_gpu():
    from nnunet_explorer.training.distributed import resolve_dist_info

    info = resolve_dist_info("cpu", environ={"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (info.rank, info.local_rank, info.world_size, info.backend, info.device) == (1, 1, 2, "gloo", "cpu")
    assert not info.is_main_process
    alone = resolve_dist_info("cpu", environ={})
    assert (alone.rank, alone.world_size) == (0, 1) and alone.is_main_process
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="GPU"):
            resolve_dist_info("cuda", environ={"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
