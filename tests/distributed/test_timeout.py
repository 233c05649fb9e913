"""The process group's timeout (NCCL's default of 10 minutes is shorter than unpacking a large dataset)."""
from __future__ import annotations

import datetime

import pytest
import torch.distributed as dist

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.training import distributed
from nnunet_explorer.training.distributed import DIST_TIMEOUT_ENV, dist_timeout, distributed_context


def test_timeout_from_keyword_environment_or_default():
    assert dist_timeout(environ={}) == datetime.timedelta(minutes=distributed.DEFAULT_DIST_TIMEOUT_MIN)
    assert dist_timeout(environ={DIST_TIMEOUT_ENV: "90"}) == datetime.timedelta(minutes=90)
    assert dist_timeout(5, environ={DIST_TIMEOUT_ENV: "90"}) == datetime.timedelta(minutes=5)  # keyword wins
    with pytest.raises(ConfigurationError, match=DIST_TIMEOUT_ENV):
        dist_timeout(environ={DIST_TIMEOUT_ENV: "an hour"})
    with pytest.raises(ConfigurationError, match="positive"):
        dist_timeout(0, environ={})


@pytest.mark.parametrize("how", ["keyword", "environment"])
def test_the_timeout_reaches_init_process_group_on_gloo(monkeypatch, how):
    seen = {}
    real = dist.init_process_group

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(dist, "init_process_group", spy)
    for var in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", DIST_TIMEOUT_ENV):
        monkeypatch.delenv(var, raising=False)
    if how == "environment":  # read from os.environ (environ=None), which has no torchrun variables now
        monkeypatch.setenv(DIST_TIMEOUT_ENV, "75")
        context = distributed_context(device="cpu")
    else:
        context = distributed_context(device="cpu", environ={}, timeout_minutes=75)
    with context as info:
        assert dist.is_initialized() and info.backend == "gloo"
    assert not dist.is_initialized()
    assert seen["timeout"] == datetime.timedelta(minutes=75)
