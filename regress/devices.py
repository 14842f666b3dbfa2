"""Device strings (``--device``, ``--golden-device``, ``Options.device``), checked before anything runs.

Why one checker: a device string reaches torch in many places (the platform probe, the build,
the metrics), and each of them failed differently on a bad one -- a traceback from the parser
of ``torch.device``, a ``RuntimeError`` from the probe when there is no GPU, or, worst, a
string the probe did not recognise silently run on the CPU under a CPU platform key. Checking
once, with torch's own parser, where the option is read, gives one line and exit code 2
before a pipeline is built.

Importing this module does not import torch; checking a device does.
"""

from __future__ import annotations

import argparse

from .errors import RegressError

__all__ = ["DeviceError", "add_device_option", "check_device"]

# The device types regress runs pipelines on (ROCm answers to "cuda" in torch).
SUPPORTED = ("cpu", "cuda")
_EXAMPLES = "e.g. cpu, cuda, cuda:1"


class DeviceError(RegressError):
    """A device string that is not a torch device, or one this machine does not have."""


def check_device(text: str, *, option: str = "device") -> str:
    """``text`` if it names a device this machine can run on; else :class:`DeviceError` (one line).

    The syntax is torch's (``torch.device(text)``); the availability check asks torch too:
    ``cuda`` (NVIDIA or ROCm) needs a GPU torch sees, and an index needs that many GPUs.
    """
    import torch

    where = f"{option} {text!r}" if option else repr(text)
    if not isinstance(text, str) or not text.strip():
        raise DeviceError(f"{where}: give a torch device ({_EXAMPLES})")
    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"{where} is not a torch device ({_EXAMPLES})") from None
    if dev.type not in SUPPORTED:
        raise DeviceError(f"{where}: regress runs pipelines on {' or '.join(SUPPORTED)} (ROCm answers to cuda), "
                          f"not {dev.type}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = (f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else
                     f"CUDA {torch.version.cuda}" if torch.version.cuda else "no GPU support")
            raise DeviceError(f"{where}: torch sees no GPU here (torch {torch.__version__}, built with {build}); "
                              "leave the option out to run on the CPU")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"{where}: torch sees {count} GPU(s) here (cuda:0 to cuda:{count - 1})")
    return text


def _argument(text: str) -> str:
    """argparse ``type=``: a bad device is argparse's one-line usage error (exit 2)."""
    try:
        return check_device(text, option="")  # argparse names the option: "argument --device: 'x' is ..."
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def add_device_option(parser: argparse.ArgumentParser, *, default: str | None = None,
                      help: str = "torch device for the pipelines (default: cuda when torch sees a GPU, else cpu)",
                      ) -> None:
    """The ``--device`` option every command shares, checked as it is parsed."""
    parser.add_argument("--device", default=default, type=_argument, metavar="DEVICE", help=help)
