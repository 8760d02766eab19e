"""Evaluation against closed-form expectations: a model that returns t-1, the gap-filling on exact data."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import numpy as np
import pytest
from decloud.dataset import write_examples
from decloud.errors import DecloudInputError
from decloud.evaluate import evaluate, write_report
from decloud.otbenv import app_environment


def records(tmp_path, n=3, with_cloud=True):
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(n):
        tm1 = rng.integers(500, 3000, (32, 32, 4)).astype(np.int16)
        tp1 = rng.integers(500, 3000, (32, 32, 4)).astype(np.int16)
        target = np.round(0.75 * tm1 + 0.25 * tp1).astype(np.int16)  # t is 1/4 of the way from t-1 to t+1
        cloud = np.zeros((32, 32, 1), np.uint8)
        cloud[:16] = 1
        example = {"s2_tm1": tm1, "s2_tp1": tp1, "s2_t": target, "s2_target": target, "cloud_t": cloud,
                   "s2_timestamp_tm1": 0, "s2_timestamp_t": 86400, "s2_timestamp_tp1": 4 * 86400}
        if not with_cloud:
            del example["cloud_t"]
        examples.append(example)
    write_examples(tmp_path / "rec", iter(examples), shard_size=2)
    return tmp_path / "rec", examples


def previous_date_model(path):
    import tensorflow as tf  # noqa: PLC0415

    class Previous(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 4], tf.float32, name="s2_tm1")])
        def serve(self, s2_tm1):
            return {"s2_target": s2_tm1}

    m = Previous()
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve})
    return path


def test_scores_in_closed_form(tmp_path):
    folder, examples = records(tmp_path)
    rows = {(r.model, r.subset): r for r in evaluate({"previous": previous_date_model(tmp_path / "prev")}, folder)}
    se = [((e["s2_tm1"].astype(float) - e["s2_target"]) ** 2) for e in examples]
    expected_mse = float(np.mean(se))
    assert rows[("previous", "all")].mse == pytest.approx(expected_mse)
    assert rows[("previous", "all")].psnr == pytest.approx(10 * math.log10(1e8 / expected_mse))
    assert rows[("previous", "cloudy")].mse == pytest.approx(float(np.mean([s[:16] for s in se])))
    assert rows[("previous", "cloudy")].pixels == 3 * 16 * 32
    gap = rows[("gapfilling", "all")]
    assert gap.mse <= 0.25 and gap.ssim == pytest.approx(1.0, abs=1e-4)  # only the int16 rounding of the target
    paths = write_report(list(rows.values()), tmp_path / "report")
    assert paths["psnr"].read_bytes()[:4] == b"\x89PNG"
    table = list(csv.DictReader(open(paths["csv"])))
    assert {r["model"] for r in table} == {"previous", "gapfilling"}
    md = paths["md"].read_text()
    assert "| previous |" in md and "All pixels only" not in md
    assert md.index("cloudy pixels of t") < md.index("all pixels")  # the scores that matter come first


def test_records_without_a_cloud_mask_are_scored_on_all_pixels(tmp_path):
    """Records written before decloud dataset stored cloud_t: all pixels only, said once at the top of the report
    that the CLI prints."""
    folder, examples = records(tmp_path, with_cloud=False)
    model = previous_date_model(tmp_path / "prev")
    rows = evaluate({"previous": model}, folder)
    assert {r.subset for r in rows} == {"all"} and len(rows) == 2
    previous = next(r for r in rows if r.model == "previous")
    assert previous.pixels == 3 * 32 * 32
    assert previous.mse == pytest.approx(float(np.mean([(e["s2_tm1"].astype(float) - e["s2_target"]) ** 2
                                                        for e in examples])))
    run = subprocess.run([sys.executable, "-m", "decloud.cli", "evaluate", "--records", str(folder), "--models",
                          f"previous={model}", "--out-dir", str(tmp_path / "report"), "-q"],
                         capture_output=True, text=True, env=app_environment())
    assert run.returncode == 0, run.stderr
    said = (run.stdout + run.stderr).count("no cloud mask of t")
    assert said == 1 and "All pixels only" in run.stdout and "cloudy pixels of t" not in run.stdout


def test_records_without_what_the_model_needs(tmp_path):
    write_examples(tmp_path / "rec", iter([{"s2_t": np.zeros((8, 8, 4), np.int16),
                                            "s2_target": np.zeros((8, 8, 4), np.int16)}]))
    with pytest.raises(DecloudInputError, match="model previous: the records have no s2_tm1"):
        evaluate({"previous": previous_date_model(tmp_path / "prev")}, tmp_path / "rec")
