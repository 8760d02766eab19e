"""Many independent tasks on Dask: an embedded local cluster, an existing scheduler, or Slurm / PBS jobs.

``run_tasks(function, items, options=ClusterOptions(...), report_dir=...)`` calls ``function(item)`` once per
item, each call a Dask task, and returns one report entry per item (in the order of ``items``). ``function``
must be a top-level (picklable) function, or a ``functools.partial`` of one, that returns a dict: its report
entry (inputs, output, status...); the runner adds the worker (``host:pid``) and the duration where missing.
Stages make their tasks idempotent (an output that exists is not redone) and atomic (temporary name, then
rename), so that a worker killed in the middle of a task leaves no partial output and Dask may run the task
again elsewhere: a task may be lost with its worker ``retries`` times before the run gives up on it.

A task that raises does not stop the others: it is reported as ``failed`` (with the error), and once every
task has ended ``run_tasks`` raises :class:`DecloudError` naming the first failure. ``run_report.json`` (or the
name given) is written next to the outputs during the run (at most every few seconds) and at its end.

Where tasks run (:class:`ClusterOptions`):

- ``local`` (default): a ``LocalCluster`` of ``workers`` processes started for the run (default: the cores
  divided by ``threads_per_worker``). Each worker runs one task at a time with ``threads_per_worker`` threads
  for TensorFlow, OTB/ITK, GDAL and OpenMP: their thread variables (``THREAD_VARIABLES``) are set in the worker
  processes before they import anything, so workers x threads = the cores, not more.
  ``workers=0`` runs the tasks one after the other in this process, without Dask (as does a run of one task).
- ``scheduler="tcp://host:8786"``: the workers of a running Dask cluster (``dask scheduler`` + ``dask worker``).
  The thread variables are set by each task when ``threads_per_worker`` is given (before TensorFlow or OTB are
  imported in that worker: start such workers with ``--nthreads 1``).
- ``slurm`` / ``pbs``: dask-jobqueue starts the scheduler here and submits one job per ``processes_per_job``
  workers (``workers`` in all); each job books ``processes_per_job x threads_per_worker`` cores and exports
  the thread variables. The job script is that of :func:`jobqueue_cluster` (``cluster.job_script()``);
  anything not given is taken from dask-jobqueue's configuration (``~/.config/dask/jobqueue.yaml``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar, get_args

from .atomic import write_json
from .errors import DecloudError, DecloudInputError
from .interrupts import check

Cluster = Literal["local", "slurm", "pbs"]  # where the tasks run: local processes, Slurm or PBS jobs
CLUSTERS: tuple[Cluster, ...] = get_args(Cluster)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "ITK_NUMBER_OF_THREADS",
                    "GDAL_NUM_THREADS")
REPORT_EVERY_S = 5.0
log = logging.getLogger(__name__)
T = TypeVar("T")  # the items of a run of tasks


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how the tasks of a run are executed (see the module documentation)."""

    workers: int | None = None
    threads_per_worker: int | None = None
    scheduler: str | None = None
    cluster: Cluster = "local"
    retries: int = 3
    # dask-jobqueue (slurm, pbs)
    queue: str | None = None
    account: str | None = None
    walltime: str | None = None
    job_memory: str | None = None
    processes_per_job: int = 1
    job_extra: tuple[str, ...] = field(default_factory=tuple)
    interface: str | None = None
    python: str | None = None
    log_directory: str | None = None
    local_directory: str | None = None

    def __post_init__(self):
        if self.cluster not in CLUSTERS:
            raise DecloudInputError(f"--cluster: {self.cluster!r} is not one of {', '.join(CLUSTERS)}")
        if self.workers is not None and self.workers < 0:
            raise DecloudInputError(f"--workers: {self.workers} is negative")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise DecloudInputError(f"--threads-per-worker: {self.threads_per_worker} is not a positive number")
        if self.processes_per_job < 1:
            raise DecloudInputError(f"--processes-per-job: {self.processes_per_job} is not a positive number")
        if self.workers == 0 and (self.scheduler or self.cluster != "local"):
            raise DecloudInputError("--workers 0 (run in this process) goes with neither --scheduler nor --cluster")
        if self.scheduler and self.cluster != "local":
            raise DecloudInputError("--scheduler and --cluster: give one of them")

    @property
    def in_process(self) -> bool:
        """No Dask: the tasks run one after the other in this process."""
        return self.workers == 0

    @property
    def threads(self) -> int | None:
        """Threads of each task: given, or 1 on the clusters started here, or left alone on a given scheduler."""
        if self.threads_per_worker is not None:
            return self.threads_per_worker
        return None if (self.scheduler or self.in_process) else 1

    def task_threads(self, client=None) -> int | None:
        """The threads to set in each task: on a client given by the caller, only ``threads_per_worker``."""
        return self.threads_per_worker if client is not None else self.threads

    def local_workers(self) -> int:
        if self.workers:
            return self.workers
        return max(1, (os.cpu_count() or 1) // (self.threads or 1))

    def describe(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, (), [])}


def thread_environment(threads: int | None) -> dict[str, str]:
    """The thread variables of TensorFlow, OTB/ITK, GDAL and OpenMP/BLAS for ``threads`` threads."""
    return {} if not threads else {name: str(int(threads)) for name in THREAD_VARIABLES}


# ----------------------------------------------------------------------------------------------- clusters


def local_cluster(options: ClusterOptions):
    """A LocalCluster of worker processes, one task at a time each, with the thread variables set in them."""
    from distributed import LocalCluster  # noqa: PLC0415

    return LocalCluster(n_workers=options.local_workers(), threads_per_worker=1, processes=True,
                        dashboard_address=None, env=thread_environment(options.threads),
                        silence_logs=logging.ERROR, local_directory=options.local_directory)


def jobqueue_cluster(options: ClusterOptions):
    """The SLURMCluster / PBSCluster of the options, not scaled: nothing is submitted until ``scale``.

    Each job runs ``processes_per_job`` workers of one task at a time and books ``processes_per_job x
    threads_per_worker`` cores; its script exports the thread variables (also through the nanny's
    ``pre-spawn-environ``, which would otherwise set OMP_NUM_THREADS=1 in the workers)."""
    import dask  # noqa: PLC0415

    try:
        import dask_jobqueue  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - it is in requirements.txt
        raise DecloudInputError(f"--cluster {options.cluster}: dask-jobqueue is not installed ({e})") from e
    name = options.cluster
    threads = options.threads or 1
    processes = options.processes_per_job
    env = thread_environment(threads)
    prologue = [f"export {k}={v}" for k, v in env.items()]
    nanny = {k: v for k, v in env.items() if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    prologue.append("export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON=" + shlex.quote(json.dumps(nanny)))
    memory = options.job_memory or dask.config.get(f"jobqueue.{name}.memory", None)
    if memory is None:
        raise DecloudInputError(f"--cluster {name}: give the memory of a job (--job-memory, e.g. 16GB), or set "
                                f"jobqueue.{name}.memory in dask-jobqueue's configuration")
    configured = list(dask.config.get(f"jobqueue.{name}.job-script-prologue", None) or [])
    kwargs: dict = {"cores": processes, "processes": processes, "memory": memory, "job_name": "decloud",
                    "job_script_prologue": configured + prologue}
    for key, value in (("queue", options.queue), ("account", options.account), ("walltime", options.walltime),
                       ("interface", options.interface), ("log_directory", options.log_directory),
                       ("python", options.python),
                       ("local_directory", options.local_directory)):
        if value is not None:
            kwargs[key] = value
    if options.job_extra:
        kwargs["job_extra_directives"] = list(options.job_extra)
    try:
        if name == "slurm":
            return dask_jobqueue.SLURMCluster(job_cpu=processes * threads, **kwargs)
        from dask.utils import parse_bytes  # noqa: PLC0415
        from dask_jobqueue.pbs import pbs_format_bytes_ceil  # noqa: PLC0415

        spec = dask.config.get("jobqueue.pbs.resource-spec", None) or \
            f"select=1:ncpus={processes * threads}:mem={pbs_format_bytes_ceil(parse_bytes(memory))}"
        return dask_jobqueue.PBSCluster(resource_spec=spec, **kwargs)
    except ValueError as e:
        raise DecloudInputError(f"--cluster {name}: {e}") from e


@contextmanager
def open_client(options: ClusterOptions) -> Iterator:
    """A Dask client on the cluster of the options; a cluster started here is shut down at the end."""
    import dask  # noqa: PLC0415
    from distributed import Client  # noqa: PLC0415

    if not log.isEnabledFor(logging.DEBUG):  # Dask's own INFO lines (scheduler, nanny) only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with dask.config.set({"distributed.scheduler.allowed-failures": options.retries}):
        if options.scheduler:
            try:
                client = Client(options.scheduler, timeout="30s")
            except OSError as e:
                raise DecloudInputError(f"--scheduler {options.scheduler}: {e}") from e
            with client:
                yield client
            return
        cluster = local_cluster(options) if options.cluster == "local" else jobqueue_cluster(options)
        with cluster:
            if options.cluster != "local":
                cluster.scale(n=options.workers or options.processes_per_job)
                log.warning("%s: %s job(s) submitted; tasks start when they run", options.cluster,
                            len(cluster.worker_spec))
            with Client(cluster) as client:
                yield client


# ----------------------------------------------------------------------------------------------- running


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _set_threads(threads: int | None) -> None:
    """Thread variables for libraries not imported yet in this process (later ones would ignore them)."""
    if threads and not {"tensorflow", "otbApplication"} & set(sys.modules):
        os.environ.update(thread_environment(threads))


def execute(function: Callable[[T], dict], item: T, threads: int | None = None, label: str = "") -> dict:
    """Run one task (in a worker, or here): its report entry, with worker and duration; a failure is an entry
    with status ``failed`` and the error, not an exception."""
    _set_threads(threads)
    began = time.perf_counter()
    try:
        entry = dict(function(item) or {})
    except Exception as e:  # noqa: BLE001 - reported, and raised by run_tasks once every task has ended
        text = str(e).strip()
        message = text.splitlines()[-1] if text else ""
        error = message if isinstance(e, DecloudError) and message else f"{type(e).__name__}: {message}".rstrip(": ")
        entry = {"task": label, "status": "failed", "error": error}
    entry.setdefault("status", "done")
    entry.setdefault("worker", worker_name())
    entry.setdefault("duration_s", round(time.perf_counter() - began, 3))
    return entry


def write_report(out_dir: str | Path, entries: Sequence[dict], *, extra: dict | None = None,
                 name: str = "run_report.json") -> Path:
    """``name`` in ``out_dir``: when it was written, ``extra``, and the task entries; written atomically (a
    failure, e.g. a full disk, is one :class:`DecloudIOError` line and leaves the previous report)."""
    return write_json(Path(out_dir) / name, {"written": datetime.now().isoformat(timespec="seconds"),
                                             **(extra or {}), "tasks": list(entries)}, what="run report")


def uses_dask(options: ClusterOptions, n_items: int, client=None) -> bool:
    """Whether ``run_tasks`` sends these tasks to Dask (not for ``workers=0``, nor one task on a local cluster)."""
    return client is not None or bool(options.scheduler) or options.cluster != "local" or \
        (not options.in_process and n_items > 1)


def run_tasks(function: Callable[[T], dict], items: Sequence[T], *, options: ClusterOptions | None = None,
              client=None, report_dir: str | Path | None = None, report_name: str = "run_report.json",
              report_extra: dict | None = None, entries_before: Sequence[dict] = (), progress: bool = True,
              desc: str = "tasks", label: Callable[[T], str] = str, raise_failures: bool = True) -> list[dict]:
    """Run ``function(item)`` for every item as Dask tasks (see the module documentation); returns the report
    entries, ``entries_before`` first, then one per item in the order of ``items``.

    ``client``: an existing Dask client to use (``options`` is then only read for the threads of each task).
    A run of a single task without ``client`` or ``--scheduler`` / ``--cluster`` runs here, without a cluster.
    """
    from tqdm import tqdm  # noqa: PLC0415

    options = options or ClusterOptions()
    items = list(items)
    labels = [label(item) for item in items]
    results: list[dict | None] = [None] * len(items)
    extra = {**(report_extra or {}), "cluster": options.describe()}
    last_write = [0.0]

    def report(final: bool = False) -> None:
        if report_dir is None or (not final and time.monotonic() - last_write[0] < REPORT_EVERY_S):
            return
        write_report(report_dir, [*entries_before, *(r for r in results if r is not None)], extra=extra,
                     name=report_name)
        last_write[0] = time.monotonic()

    bar = tqdm(total=len(items), desc=desc, unit="task", disable=not progress)
    try:
        if not uses_dask(options, len(items), client):
            for k, item in enumerate(items):
                check()  # a signal received inside OTB stops the run between two tasks
                results[k] = execute(function, item, None, labels[k])
                bar.update()
                report()
        elif client is not None:
            _run_on(client, function, items, labels, results, options.task_threads(client), bar, report)
        else:
            with open_client(options) as own:
                _run_on(own, function, items, labels, results, options.task_threads(), bar, report)
    except BaseException:
        bar.close()
        try:  # the tasks done so far, then the error that stopped the run (not one of the report)
            report(final=True)
        except DecloudError as e:
            log.warning("%s", e)
        raise
    bar.close()
    report(final=True)
    entries = [*entries_before, *(r for r in results if r is not None)]
    failed = [r for r in results if r is not None and r.get("status") == "failed"]
    if failed and raise_failures:
        where = f" (see {Path(report_dir) / report_name})" if report_dir is not None else ""
        first = failed[0].get("error", "")
        raise DecloudError(first if len(items) == 1 else
                           f"{len(failed)} of {len(items)} tasks failed{where}; first: {failed[0]['task']}: {first}")
    return entries


def _run_on(client, function, items, labels, results, threads, bar, report) -> None:
    from distributed import as_completed  # noqa: PLC0415

    run = uuid.uuid4().hex[:8]
    futures = {client.submit(execute, function, item, threads, labels[k], pure=False,
                             key=f"decloud-{run}-{k}"): k for k, item in enumerate(items)}
    failed = 0
    for future in as_completed(futures):
        k = futures[future]
        try:
            results[k] = future.result()
        except Exception as e:  # noqa: BLE001 - the task was lost with its worker more than `retries` times
            results[k] = {"task": labels[k], "status": "failed", "worker": None,
                          "error": f"{type(e).__name__}: {e}".strip()}
        failed += results[k].get("status") == "failed"
        bar.update()
        if failed:
            bar.set_postfix(failed=failed)
        report()
        future.release()


# ----------------------------------------------------------------------------------------------- command line


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The Dask options of the commands that run many tasks."""
    g = parser.add_argument_group("distributed processing (Dask)")
    g.add_argument("--workers", type=int, metavar="N", help="worker processes (local default: cores / threads "
                   "per worker; slurm/pbs default: one job); 0: no Dask, tasks one after the other in this process")
    g.add_argument("--threads-per-worker", type=int, metavar="K", help="TensorFlow/OTB/OpenMP threads of each "
                   "worker, which runs one task at a time (default 1; with --scheduler: the workers' own settings)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (e.g. tcp://host:8786)")
    g.add_argument("--cluster", choices=CLUSTERS, default="local",
                   help="local: worker processes on this machine (default); slurm/pbs: workers in batch jobs "
                   "(dask-jobqueue)")
    g.add_argument("--retries", type=int, default=3, metavar="N",
                   help="times a task may be lost with its worker (default 3)")
    g.add_argument("--queue", help="slurm partition / pbs queue")
    g.add_argument("--account", help="slurm/pbs account")
    g.add_argument("--walltime", metavar="HH:MM:SS", help="job time limit")
    g.add_argument("--job-memory", metavar="SIZE", help="memory of a job, e.g. 16GB")
    g.add_argument("--processes-per-job", type=int, default=1, metavar="N", help="workers in each job (default 1)")
    g.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                   help="extra #SBATCH / #PBS directive, e.g. --job-extra='--exclusive' (repeatable)")
    g.add_argument("--interface", help="network interface of the workers (e.g. ib0)")
    g.add_argument("--log-directory", metavar="DIR", help="folder of the jobs' logs")


def cluster_options(args: argparse.Namespace) -> ClusterOptions:
    return ClusterOptions(workers=args.workers, threads_per_worker=args.threads_per_worker, scheduler=args.scheduler,
                          cluster=args.cluster, retries=args.retries, queue=args.queue, account=args.account,
                          walltime=args.walltime, job_memory=args.job_memory,
                          processes_per_job=args.processes_per_job, job_extra=tuple(args.job_extra),
                          interface=args.interface, log_directory=args.log_directory)
