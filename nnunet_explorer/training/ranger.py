"""Ranger: RAdam with Lookahead, the optimizer of v1's ``nnUNetTrainerV2_Ranger_lr*`` variants.

One step for a parameter ``p`` with gradient ``g`` (``t`` = this parameter's step count, from 1):

1. **Adam moments**: ``m = beta1 * m + (1 - beta1) * g`` and ``v = beta2 * v + (1 - beta2) * g**2``.
2. **RAdam rectification**: the length of the approximated simple moving average,
   ``N_sma = N_sma_max - 2 t beta2**t / (1 - beta2**t)`` with ``N_sma_max = 2 / (1 - beta2) - 1``, says how
   trustworthy ``v`` is yet. While ``N_sma <= N_sma_threshhold`` (the first few steps) the update is plain
   momentum SGD, ``p -= lr * m / (1 - beta1**t)``; after that it is Adam with a variance correction ``r``,
   ``p -= lr * r * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)``.
3. **weight decay** (before the update, on the weights): ``p -= weight_decay * lr * p``.
4. **Lookahead**: every ``k`` steps the *slow* weights move ``alpha`` of the way towards the fast ones and
   the fast weights are reset to them: ``slow += alpha * (p - slow)``, ``p = slow``.

The trainers build it as ``Ranger(self.network.parameters(), self.initial_lr, k=6, N_sma_threshhold=5,
weight_decay=self.weight_decay)`` with no LR scheduler (their poly LR still sets ``param_groups[0]['lr']``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch.optim.optimizer import Optimizer

from ..provenance import mirrors


@mirrors("nnunet.training.optimizer.ranger:Ranger")
class Ranger(Optimizer):
    """RAdam + Lookahead (see the module docstring), v1's copy of lessw2020's Ranger (2019).

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        alpha: Lookahead's slow-weights step (0..1).
        k: Lookahead's interval in steps.
        N_sma_threshhold: RAdam's threshold (v1's spelling) below which the step is un-adapted momentum.
        betas: Adam's ``(beta1, beta2)``.
        eps: added to ``sqrt(v)``.
        weight_decay: decoupled from the gradient: the weights shrink by ``weight_decay * lr`` per step.

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``, ``slow_buffer`` (the Lookahead weights).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, alpha: float = 0.5, k: int = 6,
                 N_sma_threshhold: float = 5, betas: tuple[float, float] = (.95, 0.999),  # noqa: N803
                 eps: float = 1e-5, weight_decay: float = 0) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"Invalid slow update rate: {alpha}")
        if not 1 <= k:
            raise ValueError(f"Invalid lookahead steps: {k}")
        if not lr > 0:
            raise ValueError(f"Invalid Learning Rate: {lr}")
        if not eps > 0:
            raise ValueError(f"Invalid eps: {eps}")
        # step_counter is unused, but part of every param group (and so of the optimizer's state_dict) in v1
        defaults = dict(lr=lr, alpha=alpha, k=k, step_counter=0, betas=betas, N_sma_threshhold=N_sma_threshhold,
                        eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)
        # v1 reads these two from the optimizer, not from the param group (k comes from the group)
        self.N_sma_threshhold = N_sma_threshhold
        self.alpha = alpha
        self.k = k
        # (step, N_sma, step_size) cached for step % 10: every parameter at the same step shares the numbers
        self.radam_buffer: list[list[Any]] = [[None, None, None] for _ in range(10)]

    def _rectification(self, step: int, beta1: float, beta2: float) -> tuple[float, float]:
        """``(N_sma, step_size)`` for this step count, from the cache or computed (and cached)."""
        buffered = self.radam_buffer[int(step % 10)]
        if step == buffered[0]:
            return buffered[1], buffered[2]
        buffered[0] = step
        beta2_t = beta2 ** step
        n_sma_max = 2 / (1 - beta2) - 1
        n_sma = n_sma_max - 2 * step * beta2_t / (1 - beta2_t)
        buffered[1] = n_sma
        if n_sma > self.N_sma_threshhold:
            step_size = math.sqrt((1 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma * n_sma_max
                                  / (n_sma_max - 2)) / (1 - beta1 ** step)
        else:
            step_size = 1.0 / (1 - beta1 ** step)
        buffered[2] = step_size
        return n_sma, step_size

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> None:
        """One Ranger step for every parameter with a gradient. ``closure`` is ignored and None returned (v1)."""
        # differs from v1: torch's current argument order (add_(t, alpha=a) instead of the deprecated
        # add_(a, t)); the arithmetic is the same, operation for operation
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.float()
                if grad.is_sparse:
                    raise RuntimeError("Ranger optimizer does not support sparse gradients")
                # float32 parameters: .float() is the parameter itself, updated in place (as in v1)
                p_data_fp32 = p.float()
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p_data_fp32)
                    state["exp_avg_sq"] = torch.zeros_like(p_data_fp32)
                    state["slow_buffer"] = torch.empty_like(p)
                    state["slow_buffer"].copy_(p)
                else:
                    state["exp_avg"] = state["exp_avg"].type_as(p_data_fp32)
                    state["exp_avg_sq"] = state["exp_avg_sq"].type_as(p_data_fp32)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                beta1, beta2 = group["betas"]

                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                state["step"] += 1
                n_sma, step_size = self._rectification(state["step"], beta1, beta2)

                if group["weight_decay"] != 0:
                    p_data_fp32.add_(p_data_fp32, alpha=-group["weight_decay"] * group["lr"])
                if n_sma > self.N_sma_threshhold:
                    denom = exp_avg_sq.sqrt().add_(group["eps"])
                    p_data_fp32.addcdiv_(exp_avg, denom, value=-step_size * group["lr"])
                else:
                    p_data_fp32.add_(exp_avg, alpha=-step_size * group["lr"])
                p.copy_(p_data_fp32)

                # Lookahead, per parameter every k of its steps
                if state["step"] % group["k"] == 0:
                    slow_p = state["slow_buffer"]
                    slow_p.add_(p - slow_p, alpha=self.alpha)
                    p.copy_(slow_p)
        return None
