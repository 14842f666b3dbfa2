"""`regress pin [REF]`: pin a Hub store to a commit: resolve a branch, tag or sha, write the lock.

CI reads goldens at a commit sha, never a branch (a branch moves under a running matrix).
``regress pin`` resolves REF (default: the store's branch, ``main``) to its commit sha and
writes ``goldens.lock``; ``--print`` only prints the line. A strict run that finds a branch in
the lock names this command.
"""

from __future__ import annotations

import argparse

from ..errors import EXIT_OK, RegressError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("pin", parents=[common], help="pin a Hub store's lock to the commit a branch/tag/sha names")
    p.add_argument("ref", nargs="?", default=None, help="branch, tag or commit sha (default: the store's branch)")
    p.add_argument("--print", dest="dry", action="store_true", help="print the lock line, write nothing")


def run(args: argparse.Namespace) -> int:
    from ..lock import Lock, read_lock, write_lock
    from ..stores.hf import HfStore
    from ..suite import load_suite

    suite = load_suite(args.suite)
    spec = suite.store
    if spec.kind == "file":
        raise RegressError("a file store's pin is the content hash of its goldens; `regress refresh` writes it",
                           file=suite.path, field="store.kind")
    old = read_lock(suite.lock_path, spec)
    ref = args.ref or spec.branch
    # The store is only used to resolve REF, so it is opened at a placeholder commit: a lock that
    # pins something broken (what this command repairs) must not stop it.
    placeholder = Lock(kind=spec.kind, revision="0" * 40, repo=spec.repo, repo_type=spec.repo_type)
    sha = HfStore(spec, lock=placeholder, lock_path=suite.lock_path).resolve(ref)
    line = f'revision = "{sha}"'
    if args.dry:
        print(line)
        return EXIT_OK
    write_lock(suite.lock_path, Lock(kind=spec.kind, revision=sha, repo=spec.repo, repo_type=spec.repo_type))
    was = f" (was {old.revision})" if old and old.revision != sha else ""
    print(f"{suite.lock_path}: {spec.repo}@{ref} -> {line}{was}")
    return EXIT_OK
