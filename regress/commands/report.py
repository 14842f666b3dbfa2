"""`regress report merge DIR... -o OUT`: one report from several runs (shards, CUDA and ROCm jobs).

Exit 0 when merged (and, with ``--expect-platforms``, every case ran on each of them), 1 when a
case is missing from an expected platform, 2 for unreadable input. Under GitHub Actions it also
writes the job summary and one ``::error`` annotation per failing case.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EXIT_OK, EXIT_REGRESSION, RegressError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", help="work with reports (merge runs into one)")
    rsub = p.add_subparsers(dest="report_command", required=True, parser_class=type(p))
    m = rsub.add_parser("merge", help="merge report directories into one report and results.json")
    m.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="report directories (each holds results.json)")
    m.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="directory to write the merge to")
    m.add_argument("--expect-platforms", default=None, metavar="KEYS",
                   help="comma-separated platform keys every case must have run on (e.g. cuda-sm90,rocm-gfx942); "
                        "exit 1 when one is missing")
    m.add_argument("--title", default="regress golden report", help="heading of the GitHub job summary")
    m.add_argument("--markdown", type=Path, default=None, metavar="PATH",
                   help="also write the job summary's Markdown here (e.g. a pull request body)")


def _platforms(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from ..platform import is_valid_key

    keys = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in keys if not is_valid_key(k)]
    if not keys or bad:
        raise RegressError(f"--expect-platforms: invalid platform key(s) {', '.join(bad) or repr(text)} "
                           "(e.g. cuda-sm90,rocm-gfx942)")
    return keys


def run(args: argparse.Namespace) -> int:
    from ..report.github import emit, job_summary
    from ..report.merge import merge_reports
    from ..status import record_is_failure as is_bad

    expect = _platforms(args.expect_platforms)
    out = args.output.resolve()
    for d in args.dirs:
        if d.resolve() == out:
            raise RegressError(f"-o {args.output}: is one of the input directories; merging into it would overwrite "
                               "the run it reads (write the merge to a new directory)")
    doc = merge_reports(args.dirs, args.output, expect_platforms=expect)
    counts = ", ".join(f"{n} {s}" for s, n in doc["summary"].items()) or "no cases"
    print(f"merged {len(doc['runs'])} run(s) on {', '.join(doc['platforms'])}: {counts} -> "
          f"{args.output / 'index.html'}")
    for c in doc["cases"]:
        if is_bad(c):
            print(f"  {c['status']}: {c['id']} [{c['platform']}] {_plain('; '.join(c.get('reasons') or []))}")
    for w in doc.get("warnings") or []:
        print(f"  warning: {_plain(w)}")
    cov = doc["coverage"]
    for cid, platform in cov["missing"]:
        print(f"  did not run: {cid} [{platform}]")
    if cov["missing"]:
        print(f"coverage: {len(cov['missing'])} case run(s) missing on {', '.join(cov['platforms'])}")
    else:
        print(f"coverage: every case ran on {', '.join(cov['platforms'])}")
    for cid, platform in doc.get("unused_goldens") or []:
        print(f"  unused golden: {cid} [{platform}]")
    if args.markdown is not None:
        args.markdown.write_text(job_summary(doc, title=args.title), encoding="utf-8")
    emit(doc, title=args.title)
    return EXIT_REGRESSION if expect and cov["missing"] else EXIT_OK


def _plain(text: str) -> str:
    """Text from a results.json on one line: a newline in a reason could start a GitHub
    workflow command (``::add-mask::``, ``::error``) at the beginning of the next line."""
    return " ".join(str(text).split()).replace("::", ": :")
