"""Real checkpoints: ``model = "org/name"`` at a pinned ``model_revision``.

A golden is only meaningful for the weights it was made from, so a Hub model is named by a
40-hex commit sha; a branch ('main') moves under the golden's feet and is refused under
``--golden-strict`` (the default in CI) and warned about otherwise.

Loading is two explicit steps rather than one ``from_pretrained(repo_id)``:

1. fetch: ``model_index.json`` names the components; of each component's files we fetch its
   configs and tokenizer files and its plain ``*.safetensors`` weights, never pickle-based
   weights (``.bin``, ``.ckpt``, ...; regress has no pickle anywhere) and never variants
   (``*.fp16.safetensors``): a snapshot of only what the pipeline reads;
2. load: ``<PipelineClass>.from_pretrained(<local snapshot>, dtype={component: dtype})`` so
   every component is loaded straight into its dtype.

The Hub settings come from the environment at call time (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``,
``HF_HUB_CACHE``, ``HF_TOKEN``; see :mod:`regress.env`) and are passed to huggingface_hub
explicitly: huggingface_hub reads them once at import, and a test or a launcher that sets
them later would otherwise be ignored. The token is passed on, never printed.

This module imports neither torch nor diffusers at import time (the pin check runs in the
session before any pipeline is built).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import env
from ..errors import RunnerError
from ..suite import Case

SHA40 = re.compile(r"^[0-9a-f]{40}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# Weight formats that unpickle on load (or that diffusers does not read): never fetched.
_OTHER_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".msgpack", ".h5", ".onnx", ".onnx_data",
                  ".gguf", ".ot", ".bin.index.json")
_SAFETENSORS = ".safetensors"
_SAFETENSORS_INDEX = ".safetensors.index.json"


def _how_to_pin(case: Case) -> str:
    rev = case.model_revision or "main"
    return (f"pin it: model_revision = \"<40-hex commit sha>\", e.g. the output of `python -c \"from huggingface_hub "
            f"import HfApi; print(HfApi().model_info('{case.model}', revision='{rev}').sha)\"`")


def check_model_pin(case: Case, *, strict: bool, file: str | Path | None = None) -> str | None:
    """Validate a case's model reference; returns a warning (not strict) or None.

    Raises :class:`RunnerError` (one line: file, case, field, how to pin) for a malformed
    model id, a revision on a tiny model, or, under ``strict``, a revision that is not a
    40-hex commit sha.
    """
    if case.model == "tiny":  # tiny or shape-true: built from configs in this repository
        if case.model_revision is not None:
            raise RunnerError("model_revision applies to Hub models only (model = \"org/name\"), not to "
                              "model = \"tiny\"", file=file, case=case.id, field="model_revision")
        return None
    if not REPO_ID.match(case.model):
        raise RunnerError(f"'{case.model}' is neither \"tiny\" nor a Hub model id \"org/name\"", file=file,
                          case=case.id, field="model")
    rev = case.model_revision
    if rev is not None and SHA40.match(rev):
        return None
    what = "no model_revision" if rev is None else f"model_revision '{rev}' is a branch or tag, not a commit"
    if strict:
        raise RunnerError(f"{what}; under --golden-strict a Hub model must be pinned to a commit; {_how_to_pin(case)}",
                          file=file, case=case.id, field="model_revision")
    return f"{what}: the weights can change under the golden; {_how_to_pin(case)}"


def hub_settings() -> dict[str, Any]:
    """huggingface_hub keyword arguments from the environment, read now."""
    hub = env.hub_environment()
    out: dict[str, Any] = {"local_files_only": hub.offline, "endpoint": hub.endpoint, "cache_dir": str(hub.cache_dir)}
    if hub.token:
        out["token"] = hub.token
    return out


def pipeline_components(model_index: Mapping[str, Any]) -> list[str]:
    """Component folders a ``model_index.json`` names (entries ``[library, class]`` that are set)."""
    return sorted(k for k, v in model_index.items()
                  if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and all(v))


def select_files(files: Iterable[str], components: Iterable[str]) -> tuple[list[str], list[str]]:
    """(files to fetch, components whose weights are pickle-only).

    Per component folder: every non-weight file (configs, tokenizer files, templates) and the
    ``.safetensors`` weights (and their shard index) without a variant infix; a name such as
    ``diffusion_pytorch_model.fp16.safetensors`` is a variant and is skipped, shards
    (``model-00001-of-00002.safetensors``) are kept.
    """
    wanted = set(components)
    chosen = ["model_index.json"]
    has_weights: dict[str, bool] = dict.fromkeys(wanted, False)
    has_pickle: dict[str, bool] = dict.fromkeys(wanted, False)
    for f in files:
        top, _, rest = f.partition("/")
        if top not in wanted or not rest:
            continue
        name = rest.rsplit("/", 1)[-1]
        for suffix in (_SAFETENSORS_INDEX, _SAFETENSORS):
            if name.endswith(suffix):
                if "." not in name[: -len(suffix)]:
                    chosen.append(f)
                    has_weights[top] = True
                break
        else:
            if name.endswith(_OTHER_WEIGHTS):
                has_pickle[top] = True
            else:
                chosen.append(f)
    pickle_only = sorted(c for c in wanted if has_pickle[c] and not has_weights[c])
    return chosen, pickle_only


def fetch(case: Case, *, skip: Iterable[str] = ()) -> Path:
    """The local snapshot directory of ``case.model`` at ``case.model_revision`` holding what
    the pipeline reads (see the module docstring). Offline: the HF cache only."""
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    settings = hub_settings()
    rev = case.model_revision or "main"
    where = f"{case.model}@{rev}"
    common = {k: settings[k] for k in ("cache_dir", "token", "endpoint") if k in settings}
    try:
        if settings["local_files_only"]:
            # The snapshot holds only the files selected online, so snapshot_download's own
            # completeness check (against the whole repo listing) would refuse it: the cached
            # model_index.json of that commit locates the snapshot directly.
            found = try_to_load_from_cache(case.model, "model_index.json", cache_dir=common.get("cache_dir"),
                                           revision=rev)
            if not isinstance(found, str):
                raise LocalEntryNotFoundError(where)
            return Path(found).parent
        index_path = hf_hub_download(case.model, "model_index.json", revision=rev, **common)
        components = [c for c in pipeline_components(json.loads(Path(index_path).read_text("utf-8")))
                      if c not in set(skip)]
        api = HfApi(endpoint=common.get("endpoint"), token=common.get("token"))
        info = api.model_info(case.model, revision=rev)
        files, pickle_only = select_files([s.rfilename for s in info.siblings or []], components)
        if pickle_only:
            raise RunnerError(f"{where}: component(s) {', '.join(pickle_only)} have only pickle-based weights "
                              "(.bin/.ckpt); regress loads safetensors only", case=case.id, field="model")
        # pin the download to the commit the listing came from, even when rev is a branch
        return Path(snapshot_download(case.model, revision=info.sha or rev, allow_patterns=files, **common))
    except RunnerError:
        raise
    except LocalEntryNotFoundError:
        cache = settings.get("cache_dir") or "the default HF cache"
        raise RunnerError(f"{where} is not in {cache} and {env.HF_HUB_OFFLINE} is set (fetch it once online)",
                          case=case.id, field="model") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise RunnerError(f"cannot fetch {where}: {_first_line(exc, settings.get('token'))}", case=case.id,
                          field="model_revision" if "evision" in type(exc).__name__ else "model") from None


def load_pipeline(pipeline_class: str, case: Case, table: Mapping[str, str], *,
                  extra: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """Fetch (:func:`fetch`) and build ``pipeline_class`` with each component in its dtype.

    ``extra`` are from_pretrained keyword arguments of the family (a component set to None is
    neither fetched nor loaded). Returns the pipeline and the snapshot's commit sha (for the
    golden's provenance).
    """
    import diffusers
    import torch

    from ..precision import to_torch_dtype

    extra = dict(extra or {})
    local = fetch(case, skip=[k for k, v in extra.items() if v is None])
    dtype: dict[str, Any] = {name: to_torch_dtype(dt) for name, dt in table.items()}
    dtype["default"] = torch.float32
    cls = getattr(diffusers, pipeline_class)
    try:
        pipe = cls.from_pretrained(str(local), dtype=dtype, use_safetensors=True, **extra)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise RunnerError(f"cannot load {case.model}@{case.model_revision or 'main'} as {pipeline_class}: "
                          f"{_first_line(exc, hub_settings().get('token'))}", case=case.id, field="model") from None
    return pipe, local.name


def _first_line(exc: BaseException, token: str | None) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if token:
        text = text.replace(token, "***")
    return f"{type(exc).__name__}: {text}"
