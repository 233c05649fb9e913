"""Where tensors live: the one place that turns "auto", "cuda", "cuda:1" or "cpu" into a ``torch.device``.

nnU-Net v1 is written for a GPU: it moves the network and the batches to CUDA whenever
``torch.cuda.is_available()`` and otherwise runs, slowly, on the CPU (``nnUNet_train`` logs a warning; the
benchmarking dummyLoad trainers call ``.cuda()`` unconditionally). The explorer runs on both, so the device is
chosen **once**, at the start of a command, a notebook or a widget, and every network and tensor is placed there:

* ``None`` or ``"auto"`` — CUDA where ``torch.cuda.is_available()``, else the CPU (what a v1 user expects on a
  GPU machine, and what still works on a laptop);
* ``"cuda"``/``"cuda:N"``/``"cpu"`` — exactly that; asking for CUDA where there is none is an error with a fix,
  never a silent fallback to the CPU.

:func:`runs_on` says whether a torch build has kernels for a GPU and :func:`missing_kernels` what to install when
not (``doctor`` and ``doctor --explain`` ask them: torch only warns, and the first convolution on such a GPU fails far
from the cause).
"""
from __future__ import annotations

import re

import torch

from .errors import ConfigurationError
from .language import tr

AUTO = "auto"


def resolve_device(requested: str | torch.device | None = AUTO) -> torch.device:
    """The ``torch.device`` to use for ``requested`` (``None``/``"auto"``: CUDA when available, else CPU).

    Raises:
        ConfigurationError: an unknown device string, or CUDA requested on a machine without it.
    """
    if requested is None or (isinstance(requested, str) and requested.strip().lower() == AUTO):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as exc:
        raise ConfigurationError(tr(f"unknown device {requested!r}", f"未知的设备 {requested!r}"),
                                 fix=tr("use 'auto', 'cpu', 'cuda' or 'cuda:N'",
                                        "使用 'auto'、'cpu'、'cuda' 或 'cuda:N'")) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigurationError(tr(f"device {requested!r} asked for, but torch.cuda.is_available() is False",
                                        f"要求使用设备 {requested!r},但 torch.cuda.is_available() 为 False"),
                                     fix=tr("use --device cpu (or 'auto'), or install a CUDA build of torch on a GPU "
                                            "machine", "使用 --device cpu(或 'auto'),或在 GPU 机器上安装 CUDA 版的 torch"))
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ConfigurationError(tr(f"device {requested!r} asked for, but only {count} GPU(s) are visible",
                                        f"要求使用设备 {requested!r},但只能看到 {count} 个 GPU"),
                                     fix=tr("pick an index below that, or check CUDA_VISIBLE_DEVICES",
                                            "选一个比它小的编号,或检查 CUDA_VISIBLE_DEVICES"))
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigurationError(tr(f"device {requested!r} asked for, but torch.backends.mps.is_available() is "
                                        "False", f"要求使用设备 {requested!r},但 torch.backends.mps.is_available() 为 False"),
                                     fix=tr("use --device cpu (Apple's GPU needs a macOS build of torch on Apple "
                                            "silicon)", "使用 --device cpu(Apple 的 GPU 需要在 Apple 芯片上安装 macOS 版的 torch)"))
    elif device.type not in ("cpu", "meta"):
        # xpu and others are not tested here, so they are refused rather than guessed
        raise ConfigurationError(tr(f"device type {device.type!r} is not supported",
                                    f"不支持设备类型 {device.type!r}"),
                                 fix=tr("use 'auto', 'cpu', 'cuda', 'cuda:N' or (on Apple silicon) 'mps'",
                                        "使用 'auto'、'cpu'、'cuda'、'cuda:N' 或(在 Apple 芯片上)'mps'"))
    return device


def default_device_name() -> str:
    """``"cuda"`` where CUDA is available, else ``"cpu"`` (for help texts and log lines)."""
    return resolve_device(AUTO).type


def cudnn_version() -> str | None:
    """The cuDNN this torch loads, as cuDNN writes its version (``torch.backends.cudnn.version()`` gives 90100 for
    9.1.0, 8902 for 8.9.2, 7605 for 7.6.5); None where there is none.

    Raises:
        RuntimeError: torch's own words when it cannot use the cuDNN it finds (another major version earlier on
            ``LD_LIBRARY_PATH``, or a cuDNN too new for a GPU of the machine).
    """
    if not torch.backends.cudnn.is_available():
        return None
    number = torch.backends.cudnn.version()
    if number is None:
        return None
    if number >= 90000:
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"


def cudnn_refused(exc: RuntimeError) -> str:
    """The line saying torch refused its cuDNN (what :func:`cudnn_version` raised), in the reader's language."""
    said = str(exc).strip().splitlines()[0]
    return tr(f"torch cannot use the cuDNN it finds: {said}", f"torch 无法使用它找到的 cuDNN:{said}")


def cannot_start(index: int, exc: RuntimeError) -> str:
    """The line saying CUDA counts GPU ``index`` but cannot start on it (what torch.cuda raised)."""
    said = str(exc).strip().splitlines()[0]
    return tr(f"GPU {index}: CUDA cannot start on it ({said})", f"GPU {index}:CUDA 无法在它上面启动({said})")


#: the first CUDA release with kernels for each GPU generation's compute capability
FIRST_CUDA = {(8, 0): "11.0", (8, 6): "11.1", (8, 9): "11.8", (9, 0): "11.8", (10, 0): "12.8", (12, 0): "12.8",
              (11, 0): "13.0"}
#: integrated GPUs (Jetson, and Thor under CUDA 12): code for the desktop GPUs of their generation does not run on
#: them, and code built for them runs only on them (Thor's 10.1 code also on 11.0, Thor's number from CUDA 13 on)
_INTEGRATED = {(5, 3), (6, 2), (7, 2), (8, 7), (10, 1)}


def _built_for(arch: str) -> tuple[tuple[int, int], bool] | None:
    """``sm_86`` / ``compute_90a`` / ``sm_100f`` as ((major, minor), arch-specific); None for what is no CUDA
    architecture (``gfx90a``, a malformed entry)."""
    kind, _, number = arch.partition("_")
    digits = re.fullmatch(r"(\d+)(\d)([af]?)", number)
    if kind not in ("sm", "compute") or digits is None:
        return None
    return (int(digits.group(1)), int(digits.group(2))), digits.group(3) == "a"


def runs_on(arches: list[str], capability: tuple[int, int]) -> bool:
    """Whether a torch build with these kernels (``torch.cuda.get_arch_list()``) runs on a GPU of this compute
    capability, by the rule torch itself checks (``torch.cuda.DEVICE_REQUIREMENT``): code for X.Y runs on X.Z with
    Z >= Y (a GPU of the same generation, not older), and integrated GPUs (Jetson: 5.3, 6.2, 7.2, 8.7; Thor: 10.1,
    11.0 from CUDA 13 on) only with code built for them. Like torch, PTX (``compute_XY``) is counted only for its own
    generation: the driver could compile it for a newer GPU, but the CUDA libraries of an older build (cuDNN, cuBLAS)
    have no kernels for that GPU either. Stricter than torch's warning in one place, by NVIDIA's rule:
    arch-specific code (``sm_90a``) runs only on exactly its GPU (torch drops the ``a``)."""
    for arch in arches:
        parsed = _built_for(arch)
        if parsed is None:
            continue
        built, specific = parsed
        if specific or built in _INTEGRATED or capability in _INTEGRATED:
            if built == capability or (built, capability) == ((10, 1), (11, 0)):
                return True
        elif built[0] == capability[0] and built[1] <= capability[1]:
            return True
    return False


def missing_kernels(arches: list[str], capability: tuple[int, int]) -> str | None:
    """None when a torch build with these kernels runs on a GPU of this compute capability; else what to install
    instead, in the reader's language (a newer build for a newer GPU, an older release for a GPU it dropped)."""
    if runs_on(arches, capability):
        return None
    built = [parsed[0] for parsed in map(_built_for, arches) if parsed is not None]
    if capability in _INTEGRATED:
        return tr("install the torch wheel NVIDIA builds for this Jetson's JetPack release (pytorch.org's wheels are "
                  "for desktop and server GPUs)",
                  "安装 NVIDIA 为这台 Jetson 的 JetPack 版本构建的 torch wheel(pytorch.org 的 wheel 是为桌面和服务器 GPU "
                  "构建的)")
    if built and capability < min(built):
        return tr("this GPU is older than every kernel of the build: install an older torch release that still "
                  "builds for it (torch's release notes name the architectures each release dropped)",
                  "这块 GPU 比这个构建的所有内核都旧:安装仍为它构建的较早的 torch 版本(torch 的发行说明写明了每个版本去掉了"
                  "哪些架构)")
    least = FIRST_CUDA.get(capability)
    return tr("install a torch built for a CUDA release that knows this GPU"
              + (f" (CUDA {least} or later)" if least else "")
              + "; pytorch.org's selector gives the pip command, and the driver must support that CUDA release",
              "安装为支持这块 GPU 的 CUDA 版本构建的 torch" + (f"(CUDA {least} 或更新)" if least else "")
              + ";pytorch.org 的选择器会给出 pip 命令,驱动也必须支持那个 CUDA 版本")
