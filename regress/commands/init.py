"""`regress init`: scaffold a golden suite in a project, then say the one command that makes
its first goldens.

Writes ``goldens/suite.toml`` (defaults, with comments), the lock of an empty store, a test
that uses the ``golden`` fixture, and, for a custom engine, a runner stub and the
``conftest.py`` that registers it (``--family`` scaffolds a diffusers family's tiny case
instead). Nothing is overwritten: if any of those files exists (a symlink included), if a
directory on the way is a file, cannot be written, or the project's pytest configuration cannot
be read, init says so in one line and nothing is written; every check comes before the first write.
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
    from ..metrics.catalog import METRICS

    return "\n".join(f"{row:<{width}}  # {_UNITS.get(k) or METRICS[k].doc}" for row, k in zip(rows, values, strict=True))


def _read_text(path: Path) -> str | None:
    """``path``'s text, ``None`` when there is no such file; a file pytest would read but init
    cannot (unreadable, not UTF-8, a directory in its place) is a one-line error: init asks it
    before writing anything, so nothing is half-made."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        why = "not UTF-8 text"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    raise RegressError(f"cannot read it ({why}); init reads the project's pytest configuration for its "
                       "testpaths: fix or remove it; nothing was written", file=path)


def _testpaths(root: Path) -> list[str] | None:
    """The ``testpaths`` the project's pytest configuration sets, if any."""
    import configparser

    from ..suite import tomllib

    text = _read_text(root / "pyproject.toml")
    if text is not None:
        try:
            tool = tomllib.loads(text).get("tool", {})
        except tomllib.TOMLDecodeError:
            tool = {}
        ini = tool.get("pytest", {}) if isinstance(tool, dict) else {}
        ini = ini if isinstance(ini, dict) else {}
        options = ini.get("ini_options") if isinstance(ini.get("ini_options"), dict) else {}
        paths = options.get("testpaths") or ini.get("testpaths")
        if isinstance(paths, str):
            return [paths]
        if isinstance(paths, list) and paths:
            return [str(p) for p in paths]
    for name, section in (("pytest.ini", "pytest"), ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        text = _read_text(root / name)
        if text is None:
            continue
        cfg = configparser.ConfigParser(interpolation=None)  # '%' in a value is not a template
        try:
            cfg.read_string(text, source=name)
        except configparser.Error:
            continue  # pytest's own parser is more lenient; init only looks for testpaths
        if cfg.has_option(section, "testpaths"):
            return cfg.get(section, "testpaths").split()
    return None


def _plan(files: Mapping[Path, str]) -> list[Path]:
    """The directories to create for ``files``, after checking that every write can be done:
    raises one line, before anything is written, for a path that exists (a file, a directory,
    a symlink, dangling or not: never written through), a parent that is a file, or a
    directory init cannot write into."""
    import os

    existing = [f"{p} (a symlink: never written through)" if p.is_symlink() else str(p)
                for p in files if p.exists() or p.is_symlink()]
    if existing:
        raise RegressError(f"{', '.join(existing)} already exist(s); nothing was written (init scaffolds a new "
                           "suite; edit the existing one instead)")
    to_make: list[Path] = []
    for path in files:
        parent = path.parent
        missing: list[Path] = []
        while not parent.is_dir():
            if parent.exists() or parent.is_symlink():
                what = "a dangling symlink" if parent.is_symlink() and not parent.exists() else "not a directory"
                raise RegressError(f"{parent} is {what}, so {path.name} cannot be written under it; "
                                   "nothing was written")
            missing.append(parent)
            if parent.parent == parent:
                break
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RegressError(f"{parent} is not writable here, so {path} cannot be written; nothing was written")
        to_make += [d for d in reversed(missing) if d not in to_make]
    return to_make


def _write(files: Mapping[Path, str], directories: list[Path]) -> None:
    """Write every file or none: a failure part-way (a full disk, a race) removes what this
    call made. Files are opened exclusively ('x'), which never follows a symlink."""
    made_dirs: list[Path] = []
    made_files: list[Path] = []
    try:
        for d in directories:
            d.mkdir()
            made_dirs.append(d)
        for path, text in files.items():
            with path.open("x", encoding="utf-8") as f:
                made_files.append(path)
                f.write(text)
    except OSError as exc:
        for path in reversed(made_files):
            path.unlink(missing_ok=True)
        for d in reversed(made_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        raise RegressError(f"cannot write {exc.filename or 'the scaffold'}: {exc.strerror or exc}; "
                           "nothing was written") from None


def run(args: argparse.Namespace) -> int:
    root: Path = args.directory
    if root.exists() and not root.is_dir():
        raise RegressError(f"{root} is a file, not a project directory; nothing was written")
    files = scaffold(root, name=args.name, family=args.family)
    directories = _plan(files)
    paths = _testpaths(root) if root.is_dir() else None  # read before writing: an unreadable one stops init
    _write(files, directories)
    for path in files:
        print(f"wrote {path}")
    if paths is not None and not {"goldens", ".", "goldens/suite.toml"} & set(paths):
        print(f"\nnote: pytest's testpaths ({', '.join(paths)}) leave out goldens/: add \"goldens\" to them, or "
              "pytest -m golden will not collect the suite's cases")
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {root} && "
    print(f"\nnext, make the first goldens (then review and commit goldens/):\n\n    {where}{FIRST_GOLDENS}\n\n"
          "after that, `pytest -m golden` checks every case against them.", file=sys.stdout)
    return EXIT_OK
