"""Inference checkpoints: strip a training checkpoint to what re-rendering needs, and the shipped model.

A training checkpoint (`invgfx ign train`, `train.save_checkpoint`) holds the weights, the Adam
moments (twice the weights again) and JSON metadata. `export_checkpoint` keeps the weights
("model.*", float32, unchanged), the model config and the metadata that inference reads (the
dataset spec, the angle calibration, the training config and step), drops the optimiser state,
and can record benchmark numbers beside them. `load_checkpoint` reads the result like any
checkpoint; training refuses to resume from it.

The package ships one such file, `weights/faces_dcign_64.safetensors` (see weights/README.md):
`shipped_checkpoint("faces")` is its path.
"""

from __future__ import annotations

import json
from pathlib import Path

from invgfx.ign import IGNError
from invgfx.outputs import replaced


KEEP_META = ("dataset", "data_folder", "train_config", "step", "calibration")


def shipped_checkpoint(family: str = "faces") -> Path:
    """Path of the DC-IGN checkpoint shipped in the package for `family` (its name in
    invgfx.models.SHIPPED, the family's)."""
    from invgfx.models import SHIPPED, shipped_path

    families = [name for name, s in SHIPPED.items() if s.kind == "dcign"]
    if family not in families:
        raise IGNError(f"no shipped DC-IGN checkpoint for family {family!r}; shipped: {', '.join(families)} "
                       f"(train one with `invgfx ign train --family {family}`)")
    path = shipped_path(family)
    if not path.exists():
        raise IGNError(f"{path}: the shipped checkpoint is missing from this installation; reinstall invgfx "
                       "(package data *.safetensors) or pass a checkpoint of your own")
    return path


def read_metrics(path: str | Path, run: str = "DC-IGN") -> dict[str, float]:
    """Numbers to record with an exported checkpoint: a flat JSON {name: number}, the metrics.json of
    `invgfx ign evaluate` ({run: {...}}) or of benchmarks/bench_ign.py ({"results": {run: {...}}}),
    from which run `run` is taken."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise IGNError(f"--metrics {path}: cannot read it as JSON ({err})") from None
    runs = data.get("results", data) if isinstance(data, dict) else None
    if isinstance(runs, dict) and runs and all(isinstance(v, dict) for v in runs.values()):
        if run not in runs:
            raise IGNError(f"--metrics {path}: has results for {', '.join(runs)}, not {run!r}; "
                           "choose one with --metrics-run")
        data = runs[run]
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise IGNError(f"--metrics {path}: expected {{name: number}} or the metrics.json of `invgfx ign evaluate` "
                       "or bench_ign.py")
    return {k: float(v) for k, v in data.items()}


def export_checkpoint(src: str | Path, dst: str | Path, metrics: dict[str, float] | None = None,
                      metrics_source: str | None = None) -> dict:
    """Write an inference-only copy of the training checkpoint `src` to `dst` (atomically); returns
    its metadata. `metrics` (e.g. from `read_metrics`) are stored as meta["benchmark"] with
    `metrics_source`, a line saying how they were measured."""
    from safetensors.torch import save_file

    from invgfx.atomic import atomic_output
    from invgfx.ign.train import _read

    src, dst = Path(src), Path(dst)
    if dst.suffix != ".safetensors":
        raise IGNError(f"{dst}: name the exported checkpoint *.safetensors")
    tensors, metadata = _read(src)
    weights = {k: v.float().contiguous() for k, v in tensors.items() if k.startswith("model.")}
    if not weights:
        raise IGNError(f"{src}: has no model.* weights to export")
    old = json.loads(metadata.get("meta", "{}"))
    if "calibration" not in old:
        raise IGNError(f"{src}: has no angle calibration (written by an older invgfx?); re-run `invgfx ign train` "
                       "for one more checkpoint to write it")
    meta = {k: old[k] for k in KEEP_META if k in old}
    meta["inference_only"] = True
    meta["exported_from"] = src.name
    if metrics:
        meta["benchmark"] = {"source": metrics_source or "unknown", "metrics": metrics}
    out = {"model_config": metadata["model_config"], "meta": json.dumps(meta), "param_groups": "[]"}
    with atomic_output(dst) as tmp:
        save_file(weights, str(tmp), metadata=out)
    return meta


def register_export(sub) -> None:
    """`invgfx ign export` (called from invgfx.ign.cli.register)."""
    import argparse

    e = sub.add_parser("export", help="strip a training checkpoint to an inference checkpoint (weights + calibration)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Keep the weights, model config, dataset spec and angle calibration of a "
                       "checkpoint written by `invgfx ign train`, drop the Adam moments (about 2/3 of the file). "
                       "The result works with rerender, sweep and evaluate; a training run cannot resume from it.",
                       epilog="example:\n  invgfx ign export runs/bench-ign/faces/DC-IGN/checkpoint.safetensors "
                       "src/invgfx/ign/weights/faces_dcign_64.safetensors \\\n"
                       "      --metrics runs/bench-ign/faces/metrics.json")
    e.add_argument("checkpoint", help="training checkpoint.safetensors (or the name of shipped weights: "
                   "`invgfx models`)")
    e.add_argument("out", help=replaced("output .safetensors"))
    e.add_argument("--metrics", metavar="JSON", help="numbers to record with it: the metrics.json of `invgfx ign "
                   "evaluate` or bench_ign.py, or a flat {name: number} JSON")
    e.add_argument("--metrics-run", default="DC-IGN", help="which run of a metrics.json (default DC-IGN)")
    e.add_argument("--metrics-source", help="how the numbers were measured, one line (default: the JSON's path)")
    e.set_defaults(func=cmd_export)


def cmd_export(args) -> None:
    metrics = read_metrics(args.metrics, args.metrics_run) if args.metrics else None
    source = args.metrics_source or (f"{args.metrics} ({args.metrics_run})" if args.metrics else None)
    from invgfx.models import resolve_weights

    meta = export_checkpoint(resolve_weights(args.checkpoint, "checkpoint", "dcign"), args.out, metrics, source)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {size / 1e6:.2f} MB, step {meta.get('step', '?')}, calibrated "
          f"{', '.join(meta['calibration'])}{', with benchmark numbers' if metrics else ''}")
