"""`invgfx demo`: what `make demo` runs on a fresh machine (no network, CPU is enough).

Runs the sections (physics, ign, rules, scenes; see their modules), each into its own subfolder
of --out, times them, and rewrites OUT/index.html after each one, so the page can be opened while
the rest runs. A section that fails is shown on the page with its error; the command then exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

from invgfx.demo.common import SECTIONS, TITLES, DemoOptions, Figure, Section, rel
from invgfx.outputs import replaced

DESCRIPTION = """Run the whole system on built-in procedural content and write a folder to open in a browser:
  (a) physics  learn E of a jelly ball from a video prior, starting 20x too soft
               (physics/: before/after GIF + MP4, E-vs-epoch plot, film strip, log)
  (b) ign      re-render unseen procedural faces under new azimuth and light with the shipped DC-IGN
               (ign/: sweep grids and the true renders)
  (c) rules    learn adjacency rules from one generated building; generate a larger building and a town
               (rules/: PNG pictures, rules.json, .vox)
  (d) scenes   the procedural objects as 3DGS PLY files, a contact sheet, turntables
and OUT/index.html showing all of it with the numbers (OUT/summary.json: the same for programs).
About 5 minutes on a 2-core CPU; --quick: under a minute with tiny settings."""

EPILOG = """examples:
  invgfx demo --out demo_out                    everything (what `make demo` runs)
  invgfx demo --out demo_out --only ign,rules   two parts (the page lists the others as not run)
  invgfx demo --out /tmp/d --quick              a smoke test with tiny settings"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole system on built-in procedural content; writes OUT/index.html",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo_out", help=replaced("output folder (default demo_out)"))
    p.add_argument("--only", default=",".join(SECTIONS), metavar="PARTS",
                   help=f"comma-separated parts to run, of {','.join(SECTIONS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke test, not a result")
    p.add_argument("--epochs", type=int, default=None, help="physics: learning epochs (default 12; --quick 2)")
    p.add_argument("--ign-checkpoint", default=None, metavar="SAFETENSORS",
                   help="ign: a DC-IGN checkpoint trained on a procedural family, a file or the name of shipped weights "
                   "(`invgfx models`; default: faces, the shipped faces model)")
    p.add_argument("--size", type=int, default=256, help="scenes: contact sheet pixels per object (default 256)")
    p.add_argument("--frames", type=int, default=16, help="scenes: frames per turntable, 0 for none (default 16)")
    p.set_defaults(func=run_demo)


def parse_only(spec: str) -> list[str]:
    """--only "a,b" -> the keys, in page order; unknown names raise DemoError."""
    from invgfx.demo import DemoError

    keys = [k.strip() for k in spec.split(",") if k.strip()]
    bad = [k for k in keys if k not in SECTIONS]
    if bad or not keys:
        raise DemoError(f"--only {spec!r}: {', '.join(bad) or 'nothing'} is not a part; use a comma-separated "
                        f"subset of {','.join(SECTIONS)}")
    return [k for k in SECTIONS if k in keys]


def run_demo(args) -> int:
    keys = parse_only(args.only)
    if args.epochs is not None and args.epochs < 1:
        from invgfx.demo import DemoError

        raise DemoError(f"--epochs {args.epochs}: use at least 1")
    opts = DemoOptions(Path(args.out), quick=args.quick, seed=args.seed, device=args.device, epochs=args.epochs,
                       size=args.size, frames=args.frames, ign_checkpoint=args.ign_checkpoint)
    sections = run_sections(keys, opts, command=_command(args, keys))
    failed = [s.key for s in sections if s.status == "failed"]
    page = opts.out / "index.html"
    if failed:
        print(f"invgfx demo: {', '.join(failed)} failed (the page shows why); open {page}", file=sys.stderr)
        return 1
    print(f"open {page}")
    return 0


def _command(args, keys: list[str]) -> str:
    """The command line that reproduces this run (for the page)."""
    words = ["invgfx", *(["--seed", str(args.seed)] if args.seed else []), "demo", "--out", str(args.out)]
    words += ["--only", ",".join(keys)] if len(keys) < len(SECTIONS) else []
    words += ["--quick"] if args.quick else []
    words += ["--epochs", str(args.epochs)] if args.epochs is not None else []
    words += ["--ign-checkpoint", args.ign_checkpoint] if args.ign_checkpoint else []
    words += ["--size", str(args.size)] if args.size != 256 else []
    words += ["--frames", str(args.frames)] if args.frames != 16 else []
    return " ".join(words)


def _machine() -> str:
    import os

    import torch

    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}")


def run_sections(keys: list[str], opts: DemoOptions, command: str = "invgfx demo") -> list[Section]:
    """Run the sections `keys` into opts.out/<key>/, writing the page after each; returns every
    section in page order (those not in `keys` as "skipped")."""
    from invgfx.demo.page import write_page

    root = opts.out
    root.mkdir(parents=True, exist_ok=True)
    sections = [Section(k, TITLES[k], "", status="pending" if k in keys else "skipped") for k in SECTIONS]
    header = {"command": command, "started": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
              "total_seconds": None, "running": True, "quick": opts.quick}
    write_page(root, sections, header)
    start = time.perf_counter()
    for key in keys:
        i = SECTIONS.index(key)
        print(f"== {TITLES[key]} ==", flush=True)
        t0 = time.perf_counter()
        try:
            sections[i] = _run_one(key, root, opts)
        except KeyboardInterrupt:
            sections[i] = _failed(key, root, "interrupted (Ctrl-C)", None)
            sections[i].seconds = time.perf_counter() - t0
            header.update(total_seconds=time.perf_counter() - start, running=False)
            write_page(root, sections, header)
            raise
        sections[i].seconds = time.perf_counter() - t0
        print(f"{key}: {sections[i].status} in {sections[i].seconds:.0f} s"
              + (f": {sections[i].error}" if sections[i].error else ""), flush=True)
        header["total_seconds"] = time.perf_counter() - start
        write_page(root, sections, header)
    header.update(total_seconds=time.perf_counter() - start, running=False)
    write_page(root, sections, header)
    print("time per part: " + ", ".join(f"{s.key} {s.seconds:.0f} s" for s in sections if s.seconds is not None)
          + f"; total {header['total_seconds']:.0f} s")
    return sections


def _run_one(key: str, root: Path, opts: DemoOptions) -> Section:
    """Run one section; any exception becomes a failed Section (the page shows it)."""
    try:
        module = importlib.import_module(f"invgfx.demo.{key}")
        result = module.run(root / key, opts)
        section = result.section(root)
        section.status = "ok"
        return section
    except Exception as err:  # noqa: BLE001 - every failure of a part is reported on the page
        return _failed(key, root, f"{type(err).__name__}: {err}", traceback.format_exc())


def _failed(key: str, root: Path, error: str, tb: str | None) -> Section:
    """A failed section: its description, the error, and the files it wrote before failing."""
    try:
        about = importlib.import_module(f"invgfx.demo.{key}").ABOUT
    except Exception:  # noqa: BLE001 - the module itself may be what failed
        about = ""
    folder = root / key
    written = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) if folder.exists() else []
    figures = [Figure(rel(p, root), f"{p.name} (written before the failure)", "file") for p in written]
    return Section(key, TITLES[key], about, status="failed", figures=figures, error=error, traceback=tb)
