"""The embedded store's pin: a content hash of its tree.

sha256 over the sorted relative paths and each file's sha256. Kept apart from the store
(:mod:`.file`) because two jobs need it: opening a store checks its pin, and a publish
(:mod:`.journal`) and its recovery (:mod:`.recovery`) compute the pin of the tree they leave.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import StoreError
from ..lock import EMPTY
from .base import sha256_file


def tree_hash(root: Path) -> str:
    """``sha256:<hex>`` of the store's content; ``empty`` for a store with no files.
    Hidden files (editor droppings, .gitkeep) do not count."""
    return hash_files(root, list_files(root))


def hash_files(root: Path, files: list[tuple[str, ...]]) -> str:
    """The tree hash of ``files`` (as :func:`list_files` lists them) under ``root``."""
    h = hashlib.sha256()
    for rel in files:
        h.update(f"{'/'.join(rel)}\0{sha256_file(root.joinpath(*rel))}\n".encode())
    return f"sha256:{h.hexdigest()}" if files else EMPTY


def list_files(root: Path) -> list[tuple[str, ...]]:
    """Every non-hidden file under ``root`` as its path parts, sorted part by part (the order
    of sorted ``Path`` objects, which the pins were made with). ``os.scandir`` rather than
    ``Path.rglob``: this runs at every store open and pathlib's walk was most of its cost.

    Only regular files are content. Anything else (a symbolic link, a FIFO, a device) is an
    error naming it, before any byte is read: reading a FIFO or ``/dev/zero`` would block or
    never end, and a link could point anywhere. Directories are walked without following
    links, so a loop cannot occur."""
    out: list[tuple[str, ...]] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(str(root), ())]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise StoreError(f"{directory}: unreadable ({exc.strerror or type(exc).__name__})") from None
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_symlink():
                raise StoreError(f"{e.path}: a symbolic link in the golden store (goldens are regular files)")
            if e.is_dir(follow_symlinks=False):
                stack.append((e.path, (*prefix, e.name)))
            elif e.is_file(follow_symlinks=False):
                out.append((*prefix, e.name))
            else:
                raise StoreError(f"{e.path}: not a regular file (a FIFO, socket or device in the golden store)")
    out.sort()
    return out
