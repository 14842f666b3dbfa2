"""`regress init`: scaffold a golden suite in a project, then say the one command that makes
its first goldens.

Writes ``goldens/suite.toml`` (defaults, with comments), the lock of an empty store, a test
that uses the ``golden`` fixture, and, for a custom engine, a runner stub and the
``conftest.py`` that registers it (``--family`` scaffolds a diffusers family's tiny case
instead). Nothing is overwritten: if any of those files exists, nothing is written.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from ..errors import EXIT_OK, RegressError

FIRST_GOLDENS = "pytest -m golden --golden-update=missing"


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", help="scaffold goldens/suite.toml, a runner stub, a fixture test and the lock")
    p.add_argument("directory", nargs="?", type=Path, default=Path("."), help="project directory (default: here)")
    p.add_argument("--name", default="my-engine",
                   help="the custom engine's pipeline name (default my-engine); letters, digits, '-'")
    p.add_argument("--family", default=None, metavar="FAMILY",
                   help="scaffold a case of this diffusers family's tiny pipeline (e.g. flux, sd, wan) instead "
                        "of a custom engine's runner")


def _template(name: str) -> string.Template:
    return string.Template(resources.files("regress").joinpath("templates", "init", name).read_text("utf-8"))


def scaffold(root: Path, *, name: str = "my-engine", family: str | None = None) -> dict[Path, str]:
    """The files ``regress init`` writes under ``root`` (path -> text), not yet written."""
    from ..lock import EMPTY, Lock
    from ..runners import BUILTIN
    from ..suite import STARTER_DEFAULTS, STARTER_FALLBACK

    if family is not None and family not in BUILTIN:
        raise RegressError(f"--family {family!r}: not a diffusers family (known: {', '.join(sorted(BUILTIN))})")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,40}", name):
        raise RegressError(f"--name {name!r}: use lowercase letters, digits and '-', starting with a letter")
    ident = name.replace("-", "_")
    module = f"{ident}_runner"
    cls = "".join(part.title() for part in name.split("-")) + "Runner"
    files: dict[Path, str] = {}
    if family is None:
        subst = {"name": name, "module": module, "cls": cls, "ident": ident}
        files[root / f"{module}.py"] = _template("runner.py.tmpl").substitute(subst)
        files[root / "conftest.py"] = _template("conftest.py.tmpl").substitute(subst)
        files[root / "tests" / f"test_{ident}_golden.py"] = _template("test_custom.py.tmpl").substitute(subst)
        case, pipeline, model = f"{name}-squirrel", name, ""
    else:
        files[root / "tests" / "test_golden.py"] = _template("test_family.py.tmpl").substitute({})
        case, pipeline = f"{family}-tiny", family
        model = '\nmodel = "tiny"             # seeded random weights from configs; or "org/name" (a Hub model)'
    files[root / "goldens" / "suite.toml"] = _template("suite.toml.tmpl").substitute(
        case_id=case, pipeline=pipeline, model_line=model, defaults=_table(STARTER_DEFAULTS),
        fallback=_table(STARTER_FALLBACK))
    files[root / "goldens" / "goldens.lock"] = Lock(kind="file", revision=EMPTY).render()
    return files


_UNITS = {"ssim": "structural similarity, higher is better", "psnr": "dB",
          "max_abs": "the largest pixel difference, in 1/255 steps",
          "mean_abs": "the mean pixel difference, in 1/255 steps", "audio_snr": "dB, for audio outputs"}


def _table(values: Mapping[str, float]) -> str:
    rows = [f"{k} = {v!r}" for k, v in values.items()]
    width = max(map(len, rows))
    return "\n".join(f"{row:<{width}}  # {_UNITS[k]}" for row, k in zip(rows, values, strict=True))


def _testpaths(root: Path) -> list[str] | None:
    """The ``testpaths`` the project's pytest configuration sets, if any."""
    import configparser

    from ..suite import tomllib

    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            ini = tomllib.loads(pyproject.read_text("utf-8")).get("tool", {}).get("pytest", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            ini = {}
        paths = (ini.get("ini_options") or {}).get("testpaths") or ini.get("testpaths")
        if paths:
            return [paths] if isinstance(paths, str) else [str(p) for p in paths]
    for name, section in (("pytest.ini", "pytest"), ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        cfg = configparser.ConfigParser()
        try:
            cfg.read(root / name, encoding="utf-8")
        except configparser.Error:
            continue
        if cfg.has_option(section, "testpaths"):
            return cfg.get(section, "testpaths").split()
    return None


def run(args: argparse.Namespace) -> int:
    root: Path = args.directory
    files = scaffold(root, name=args.name, family=args.family)
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise RegressError(f"{', '.join(existing)} already exist(s); nothing was written (init scaffolds a new "
                           "suite; edit the existing one instead)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    paths = _testpaths(root)
    if paths is not None and not {"goldens", ".", "goldens/suite.toml"} & set(paths):
        print(f"\nnote: pytest's testpaths ({', '.join(paths)}) leave out goldens/: add \"goldens\" to them, or "
              "pytest -m golden will not collect the suite's cases")
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {root} && "
    print(f"\nnext, make the first goldens (then review and commit goldens/):\n\n    {where}{FIRST_GOLDENS}\n\n"
          "after that, `pytest -m golden` checks every case against them.", file=sys.stdout)
    return EXIT_OK
