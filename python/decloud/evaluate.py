"""Evaluation: several SavedModels and the gap-filling on the same test records -> the paper's tables.

``evaluate(models, records_dir)`` runs every model (``label -> SavedModel folder``) on every record (the
inputs its signature takes), and the gap-filling when the records have t-1 and t+1, and scores ``s2_target``
against the records' ``s2_target`` with :mod:`decloud.metrics`, over the cloudy pixels of t (the records'
``cloud_t`` mask, 1 = cloudy: the scores that matter, where t had to be reconstructed) and over all pixels.
Records without ``cloud_t`` (written by ``decloud dataset`` before it stored the mask) are scored over all pixels
only: ``write_report`` says so at the top of ``scores.md`` (what ``decloud evaluate`` prints). Scores are
global: MSE and SAM over all kept pixels of all records, PSNR from that MSE, SSIM the mean of the per-record
SSIM maps over the kept pixels.
``write_report`` writes ``scores.csv``, ``scores.md`` and one bar plot per metric (PNG).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from .atomic import atomic_output, write_text
from .dataset import read_dataset
from .errors import DecloudInputError
from .metrics import PEAK, _keep
from .scenarios import linear_gapfill

log = logging.getLogger(__name__)
METRICS = ("psnr", "mse", "ssim", "sam")
Subset = Literal["all", "cloudy"]  # all the pixels of the records, or only those their cloud_t mask flags


@dataclass
class Row:
    model: str
    subset: Subset
    psnr: float
    mse: float
    ssim: float
    sam: float
    pixels: int


class _Accumulator:
    def __init__(self):
        self.se = self.sam = self.ssim = 0.0
        self.pixels = 0

    def add(self, estimate, reference, mask=None):
        from .metrics import ssim as ssim_map_mean  # noqa: PLC0415

        keep = _keep(estimate, reference, mask)
        n = int(keep.sum())
        if n == 0:
            return
        x, y = estimate[keep].astype(np.float64), reference[keep].astype(np.float64)
        self.se += float(np.sum((x - y) ** 2)) / x.shape[-1]
        cos = np.sum(x * y, -1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-12)
        self.sam += float(np.sum(np.arccos(np.clip(cos, -1, 1))))
        self.ssim += ssim_map_mean(estimate, reference, mask) * n
        self.pixels += n

    def row(self, model: str, subset: Subset) -> Row:
        if not self.pixels:
            return Row(model, subset, float("nan"), float("nan"), float("nan"), float("nan"), 0)
        mse = self.se / self.pixels
        psnr = float("inf") if mse == 0 else 10 * np.log10(PEAK**2 / mse)
        return Row(model, subset, float(psnr), mse, self.ssim / self.pixels, self.sam / self.pixels, self.pixels)


def gapfill(record: Mapping[str, np.ndarray]) -> np.ndarray:
    """The gap-filling (A) of one record: :func:`decloud.scenarios.linear_gapfill` (the rule of the
    ``gapfilling`` network) between its t-1 and t+1."""
    stamps = {d: float(record[f"s2_timestamp_{d}"]) for d in ("tm1", "t", "tp1")}
    return linear_gapfill(record["s2_tm1"], record["s2_tp1"], stamps)


def evaluate(models: Mapping[str, str | Path], records_dir: str | Path, *, with_gapfilling: bool = True,
             quiet: bool = True) -> list[Row]:
    import tensorflow as tf  # noqa: PLC0415

    functions = {}
    for label, folder in models.items():
        try:
            functions[label] = tf.saved_model.load(str(folder)).signatures["serving_default"]
        except (OSError, KeyError, ValueError) as e:
            raise DecloudInputError(f"{folder}: not a SavedModel with a serving_default signature ({e})") from e
    accs: dict[tuple[str, Subset], _Accumulator] = {}
    if not has_cloud_mask(records_dir):
        log.info("%s: the records have no cloud mask of t (cloud_t: written before decloud dataset stored it): "
                    "scoring all pixels only; write them again with decloud dataset to score the cloudy pixels",
                    records_dir)
    records = read_dataset(records_dir).as_numpy_iterator()
    for record in tqdm(records, desc="records", unit="rec", disable=quiet):
        if "s2_target" not in record:
            raise DecloudInputError(f"{records_dir}: the records have no s2_target to score against")
        reference = record["s2_target"]
        estimates = {}
        for label, fn in functions.items():
            keys = fn.structured_input_signature[1]
            missing = [k for k in keys if k not in record]
            if missing:
                raise DecloudInputError(f"model {label}: the records have no {', '.join(missing)}")
            feed = {k: tf.constant(record[k][None], dtype=spec.dtype) for k, spec in keys.items()}
            estimates[label] = np.asarray(fn(**feed)["s2_target"])[0]
        if with_gapfilling and all(k in record for k in ("s2_tm1", "s2_tp1", "s2_timestamp_tm1", "s2_timestamp_t",
                                                          "s2_timestamp_tp1")):
            estimates["gapfilling"] = gapfill(record)
        cloudy = record["cloud_t"][..., 0].astype(bool) if "cloud_t" in record else None
        for label, estimate in estimates.items():
            accs.setdefault((label, "all"), _Accumulator()).add(estimate, reference)
            if cloudy is not None:
                accs.setdefault((label, "cloudy"), _Accumulator()).add(estimate, reference, cloudy)
    if not accs:
        raise DecloudInputError(f"{records_dir}: nothing was scored (no model given and no gap-filling inputs)")
    order = {"cloudy": 0, "all": 1}  # the cloudy pixels first: the scores that matter
    return [acc.row(label, subset) for (label, subset), acc in sorted(accs.items(), key=lambda kv: order[kv[0][1]])]


def has_cloud_mask(records_dir: str | Path) -> bool:
    """Whether the records of ``records_dir`` carry the cloud mask of t (``cloud_t``)."""
    path = Path(records_dir) / "shapes_and_types.json"
    try:
        return "cloud_t" in json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DecloudInputError(f"{records_dir}: not a dataset folder (no readable shapes_and_types.json: {e})") from e


def write_report(rows: list[Row], out_dir: str | Path, *, title: str = "Decloud evaluation") -> dict[str, Path]:
    """scores.csv, scores.md and one bar plot per metric; returns the paths."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(asdict(rows[0])))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    paths["csv"] = write_text(out_dir / "scores.csv", table.getvalue(), what="scores table")
    lines = [f"# {title}", ""]
    if not any(r.subset == "cloudy" for r in rows):
        lines += ["All pixels only: the records have no cloud mask of t (cloud_t); write them again with "
                  "`decloud dataset` to score the cloudy pixels.", ""]
    lines += ["| model | pixels | PSNR (dB) | MSE | SSIM | SAM (rad) |", "|---|---|---|---|---|---|"]
    headings = {"cloudy": "**cloudy pixels of t** (reconstructed)", "all": "**all pixels**"}
    for subset in ("cloudy", "all"):
        chosen = [r for r in rows if r.subset == subset]
        if not chosen:
            continue
        lines += [f"| {headings[subset]} | | | | | |"]
        lines += [f"| {r.model} | {r.pixels} | {r.psnr:.2f} | {r.mse:.1f} | {r.ssim:.4f} | {r.sam:.4f} |"
                  for r in chosen]
    paths["md"] = write_text(out_dir / "scores.md", "\n".join(lines) + "\n", what="scores table")
    for metric in METRICS:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        subsets = sorted({r.subset for r in rows})
        labels = list(dict.fromkeys(r.model for r in rows))
        width = 0.8 / len(subsets)
        for k, subset in enumerate(subsets):
            values = [next((getattr(r, metric) for r in rows if r.model == m and r.subset == subset), np.nan)
                      for m in labels]
            ax.bar(np.arange(len(labels)) + k * width, values, width, label=f"{subset} pixels")
        ax.set_xticks(np.arange(len(labels)) + width * (len(subsets) - 1) / 2, labels, rotation=20)
        ax.set_ylabel(metric.upper())
        ax.set_title(f"{title}: {metric.upper()}")
        ax.legend()
        fig.tight_layout()
        try:
            with atomic_output(out_dir / f"{metric}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
        finally:
            plt.close(fig)
        paths[metric] = out_dir / f"{metric}.png"
    return paths
