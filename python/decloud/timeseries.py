"""Every date of a series without clouds: one ``DecloudInfer`` run per S2 date, resumable.

Planning (``plan_timeseries``): for each prepared S2 date t in [start, end], the candidates for t-1 and t+1 are
the prepared S2 dates inside the layout's windows (hours relative to t), best first: fewest cloudy pixels, then
nearest to t; they complete each other per pixel where one has no data (swath edges). S1 images (for models that
take them) are those within the layout's ``max_s1s2_gap_hours`` of each S2 date, nearest first. A date whose
model inputs cannot all be found is skipped, with the reason in the report.

Running (``run_timeseries``): one task per date, each writing ``<out_dir>/<S2 folder name>_decloud.tif``
(and, with the option ``provenance``, ``<S2 folder name>_provenance.tif`` beside it: where each pixel comes from)
atomically (temporary name, checked, then renamed: :mod:`decloud.atomic`). A date whose output exists (and
reads to its last block) is done: a run killed at any point, or stopped by a full disk, and run again produces
every date, each identical to a clean run. The run holds ``out_dir``'s lock (a second run on the same folder
is refused, naming the first); an output path that is one of the inputs is refused before anything runs;
SIGINT stops it between two dates or in the middle of a write, leaving no partial output.
``run_report.json`` next to the outputs (written atomically) lists, per task, its inputs, output, status,
duration and worker. Given ``cluster`` (:class:`decloud.distributed.
ClusterOptions`), the dates still to do are Dask tasks (local worker processes, a scheduler, Slurm or PBS jobs),
each with ``threads_per_worker`` TensorFlow threads unless ``options`` sets ``threads``.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from . import distributed
from .atomic import check_otb_output, folder_lock, refuse_input_as_output, verify_raster
from .errors import DecloudError, DecloudInputError, DecloudIOError
from .infer import default_model, infer, provenance_shares, required_roles
from .interrupts import check, handle_signals
from .layouts import load_layout
from .prepare.common import read_marker

MAX_CANDIDATES = 3
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Acquired:
    """A prepared acquisition: its folder, date and (S2) share of cloudy valid pixels."""

    folder: Path
    when: datetime
    sensor: str
    cloud_fraction: float = 0.0

    @property
    def image(self) -> Path:
        return self.folder / ("s2_10m.tif" if self.sensor == "S2" else "s1.tif")


@dataclass(frozen=True)
class DateTask:
    """One date to process: the inputs by role (candidates in order), the cloud mask of t, the output."""

    date: str
    inputs: dict[str, list[str]]
    output: str
    mask: str | None = None
    dates: dict[str, str] = field(default_factory=dict)


def _cloud_fraction(folder: Path) -> float:
    try:
        blocks = np.load(folder / "blocks.npz")
        cloud, nodata = float(blocks["cloud"].sum()), float(blocks["nodata"].sum())
        total = blocks["cloud"].size * 64 * 64
        return cloud / max(total - nodata, 1.0)
    except (OSError, KeyError):
        return 0.0


def find_prepared(folders: Iterable[str | Path]) -> list[Acquired]:
    """Prepared S2 and S1 folders (done.json + image) under the given folders (or the folders themselves)."""
    found: dict[Path, Acquired] = {}
    for root in folders:
        root = Path(root)
        if not root.exists():
            raise DecloudInputError(f"{root}: no such folder")
        for marker in [root / "done.json", *root.glob("*/done.json")]:
            info = read_marker(marker.parent)
            if not info or "acquired" not in info:
                continue
            sensor = "S1" if (marker.parent / "s1.tif").exists() else "S2"
            if sensor == "S2" and not (marker.parent / "s2_10m.tif").exists():
                continue
            when = datetime.fromisoformat(info["acquired"])
            found[marker.parent] = Acquired(marker.parent, when, sensor,
                                            _cloud_fraction(marker.parent) if sensor == "S2" else 0.0)
    if not found:
        raise DecloudInputError(f"no prepared S2 or S1 folder under {', '.join(str(f) for f in folders)} "
                                "(run decloud prepare-s2 first)")
    return sorted(found.values(), key=lambda a: (a.when, a.folder.name))


def _in_window(candidates, t: datetime, window_hours: tuple[float, float], exclude: Path | None = None):
    start, end = t + timedelta(hours=window_hours[0]), t + timedelta(hours=window_hours[1])
    return [c for c in candidates if start <= c.when <= end and c.folder != exclude]


def _bound(text: str | None, name: str, tz, *, end: bool = False) -> datetime | None:
    """``--start`` / ``--end`` in the series' time zone; an end given as a day includes that whole day."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DecloudInputError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
    when = when if when.tzinfo or tz is None else when.replace(tzinfo=tz)
    return when + timedelta(days=1) if end and len(text) <= 10 else when


def plan_timeseries(prepared: Sequence[Acquired], out_dir: str | Path, *, layout: str | Path = "os2",
                    start: str | None = None, end: str | None = None, model: str | Path | None = None,
                    keep_clear: bool = False) -> tuple[list[DateTask], list[dict]]:
    """The tasks of a series and the dates skipped (with why)."""
    roles = required_roles(model)
    wanted = set(roles["images"]) | set(roles["dates"])
    lay = load_layout(layout)
    s2 = [a for a in prepared if a.sensor == "S2"]
    s1 = [a for a in prepared if a.sensor == "S1"]
    tz = s2[0].when.tzinfo if s2 else None
    t0, t1 = _bound(start, "start", tz), _bound(end, "end", tz, end=True)
    if t0 is not None and t1 is not None and t0 >= t1:
        raise DecloudInputError(f"--start {start} is after --end {end}: no date can be in that range")
    out_dir = Path(out_dir)
    tasks, skipped = [], []
    for t in s2:
        if (t0 and t.when < t0) or (t1 and t.when >= t1):
            continue
        inputs: dict[str, list[str]] = {}
        dates: dict[str, str] = {}
        chosen: dict[str, Acquired] = {"t": t}
        problems = []
        for name in ("tm1", "tp1"):
            if not {f"s2_{name}", f"s1_{name}", f"s2_timestamp_{name}"} & wanted:
                continue
            try:
                window = lay[name].window_hours
            except KeyError:
                problems.append(f"layout {lay.name} has no acquisition {name}")
                continue
            found = sorted(_in_window(s2, t.when, window, exclude=t.folder),
                           key=lambda c: (round(c.cloud_fraction, 3), abs((c.when - t.when).total_seconds())))
            if not found:
                problems.append(f"no S2 date for {name} in [{window[0]:+g} h, {window[1]:+g} h]")
                continue
            chosen[name] = found[0]
            if f"s2_{name}" in wanted:
                inputs[f"s2_{name}"] = [str(c.image) for c in found[:MAX_CANDIDATES]]
        for name, acquisition in chosen.items():
            if f"s2_timestamp_{name}" in wanted:
                dates[f"s2_timestamp_{name}"] = acquisition.when.strftime("%Y-%m-%dT%H:%M:%S")
            if f"s1_{name}" in wanted:
                gap = lay[name].max_s1s2_gap_hours if name in lay.names else None
                gap = 72.0 if gap is None else gap
                near = sorted(_in_window(s1, acquisition.when, (-gap, gap)),
                              key=lambda c: abs((c.when - acquisition.when).total_seconds()))
                if not near:
                    problems.append(f"no S1 image within {gap:g} h of the S2 date for {name}")
                else:
                    inputs[f"s1_{name}"] = [str(c.image) for c in near[:MAX_CANDIDATES]]
        if "s2_t" in wanted:
            inputs["s2_t"] = [str(t.image)]
        if problems:
            skipped.append({"date": t.when.isoformat(), "folder": str(t.folder), "status": "skipped",
                            "reason": "; ".join(problems)})
            continue
        tasks.append(DateTask(date=t.when.isoformat(), inputs=inputs, dates=dates,
                              mask=str(t.folder / "cloud.tif") if (keep_clear and "s2_t" in wanted)
                              or roles["masks"] else None,
                              output=str(out_dir / f"{t.folder.name}_decloud.tif")))
    return tasks, skipped


def _done(output: str) -> bool:
    """Whether a date's output is there and complete (an unreadable one is removed, to be redone)."""
    if not Path(output).exists():
        return False
    try:
        verify_raster(output)
    except DecloudIOError as e:
        log.warning("%s; redoing that date", e)
        return False
    return True


def provenance_path(output: str | Path) -> Path:
    """The provenance output beside a date's output: ``<S2 folder name>_provenance.tif``."""
    output = Path(output)
    return output.with_name(output.name.removesuffix("_decloud.tif").removesuffix(".tif") + "_provenance.tif")


def _task_done(task: DateTask, options: dict | None) -> bool:
    """Whether a date's output (and, with the option ``provenance``, its provenance output) is complete."""
    if not _done(task.output):
        return False
    return not (options or {}).get("provenance") or _done(str(provenance_path(task.output)))


def run_task(task: DateTask, options: dict | None = None) -> dict:
    """Process one date unless its output exists; returns its report entry. Safe to run twice or concurrently
    with a killed earlier run: the output appears only complete, by rename. With ``options["provenance"]``, the
    provenance output is written beside it (a date whose provenance is missing is redone) and the entry gives the
    share of each class."""
    options = dict(options or {})
    provenance = provenance_path(task.output) if options.pop("provenance", False) else None
    began = time.perf_counter()
    entry = {"task": f"decloud {task.date}", "inputs": {**task.inputs, **({"mask": task.mask} if task.mask else {}),
                                                         **task.dates},
             "output": task.output, "worker": f"{socket.gethostname()}:{os.getpid()}"}
    if provenance is not None:
        entry["provenance"] = str(provenance)
    if _task_done(task, {"provenance": provenance is not None}):
        return entry | {"status": "exists", "duration_s": 0.0}
    inputs = {role: (paths if len(paths) > 1 else paths[0]) for role, paths in task.inputs.items()}
    infer(task.output, inputs, mask=task.mask, dates=task.dates or None, outprov=provenance, **options)
    if provenance is not None:
        entry["provenance_shares"] = {k: round(v, 6) for k, v in provenance_shares(provenance).items()}
    return entry | {"status": "done", "duration_s": round(time.perf_counter() - began, 3)}


def check_outputs(tasks: Sequence[DateTask], out_dir: str | Path, *, provenance: bool = False) -> None:
    """Refuse, before anything runs, an output folder OTB cannot write as given and an output (or, with
    ``provenance``, a provenance output) that is one of the inputs of the series (the same file, also through a
    symbolic or hard link)."""
    check_otb_output(out_dir)
    inputs: dict[str, object] = {}
    for t in tasks:
        for role, paths in t.inputs.items():
            inputs[f"{role} of {t.date[:10]}"] = paths
        if t.mask:
            inputs[f"mask of {t.date[:10]}"] = t.mask
    outputs = [t.output for t in tasks] + ([str(provenance_path(t.output)) for t in tasks] if provenance else [])
    refuse_input_as_output(outputs, inputs)


def run_timeseries(tasks: Sequence[DateTask], out_dir: str | Path, *, skipped: Sequence[dict] = (),
                   options: dict | None = None, progress: bool = True,
                   cluster: distributed.ClusterOptions | None = None, client=None) -> list[dict]:
    """Run the tasks one after the other (the report is rewritten after each), or as Dask tasks on ``cluster``
    (or an existing Dask ``client``); returns the report entries (skipped dates, then the tasks in order).
    On Dask, a task that fails does not stop the others; the run then raises DecloudError.

    The run holds ``out_dir``'s lock (:func:`decloud.atomic.folder_lock`): another run on the same folder
    raises :class:`decloud.errors.DecloudBusyError`. Outputs that are inputs are refused before anything runs."""
    check_outputs(tasks, out_dir, provenance=bool((options or {}).get("provenance")))
    with folder_lock(out_dir, "decloud timeseries"), handle_signals((signal.SIGINT,)):
        return _run_timeseries(tasks, out_dir, skipped=skipped, options=options, progress=progress,
                               cluster=cluster, client=client)


def _run_timeseries(tasks, out_dir, *, skipped, options, progress, cluster, client) -> list[dict]:
    from tqdm import tqdm  # noqa: PLC0415

    options = dict(options or {})
    options.setdefault("model", str(default_model()))
    if cluster is not None or client is not None:
        return _run_distributed(tasks, out_dir, skipped=skipped, options=options, progress=progress,
                                cluster=cluster or distributed.ClusterOptions(), client=client)
    entries = list(skipped)
    for task in tqdm(tasks, desc="dates", unit="date", disable=not progress):
        check()
        entries.append(run_task(task, options))
        distributed.write_report(out_dir, entries, extra={"options": options})
    distributed.write_report(out_dir, entries, extra={"options": options})
    return entries


def _run_distributed(tasks: Sequence[DateTask], out_dir: str | Path, *, skipped: Sequence[dict], options: dict,
                     progress: bool, cluster: distributed.ClusterOptions, client) -> list[dict]:
    # Dates already done are reported here; a cluster is started only for the others.
    existing = {t.output: run_task(t, options) for t in tasks if _task_done(t, options)}
    todo = [t for t in tasks if t.output not in existing]
    threads = cluster.task_threads(client)
    if distributed.uses_dask(cluster, len(todo), client) and threads and not options.get("threads"):
        options["threads"] = threads
    before = [*skipped, *existing.values()]
    ran = distributed.run_tasks(functools.partial(run_task, options=options), todo, options=cluster, client=client,
                                report_dir=out_dir, report_extra={"options": options}, entries_before=before,
                                progress=progress, desc="dates", label=lambda t: f"decloud {t.date}",
                                raise_failures=False)
    new = dict(zip((t.output for t in todo), ran[len(before):]))
    ordered = [*skipped, *(existing.get(t.output) or new[t.output] for t in tasks)]
    distributed.write_report(out_dir, ordered, extra={"options": options, "cluster": cluster.describe()})
    failed = [e for e in ordered if e.get("status") == "failed"]
    if failed:
        raise DecloudError(f"{len(failed)} of {len(tasks)} dates failed (see {Path(out_dir) / 'run_report.json'}); "
                           f"first: {failed[0]['task']}: {failed[0].get('error', '')}")
    return ordered
