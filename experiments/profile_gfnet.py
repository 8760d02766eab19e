"""Where a gfnet tile's time goes: per operation type, per part of the graph and per line of decloud/networks.py.

    python experiments/profile_gfnet.py [models/gfnet-v5] [--threads 1] [--runs 4] [--top 40]

Loads the SavedModel in a TensorFlow session (as the apps' engine runs it: the serving signature, one tile per run),
runs real 576-px tiles (the fullscene benchmark's 2048-px mosaic of bolzano-west, from its cache: run
``python bench/fullscene.py --quick`` once to write it), traces ``--runs`` of them (TensorFlow's step statistics:
each operation's time; with one thread, what it costs alone), and adds the times up by operation type, by part (the
features layer, its fits under ``tf.cond``, the U-Net, the output layer) and by the line of decloud/networks.py that
made the operation (the network is rebuilt from the card's options and its operations' names matched). The lines are
what to look at first when a tile is too slow; compare two versions of the graph with their outputs (identical?)
before believing a gain of a few per cent: the host's speed varies more than that.
"""

from __future__ import annotations

import argparse
import collections
import json
import linecache
import os
import re
import time
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "decloud-bench" / "fullscene-mosaic-2048-v1"
TIMESTAMPS = {"t": "2022-06-17", "tm1": "2022-06-15", "tp1": "2022-06-20"}
CORNERS = ((0, 0), (512, 512), (1024, 0), (0, 1024))


def read_tiles(size: int = 576) -> list[dict]:
    """The network's inputs for 576-px tiles of the cached mosaic (t = 06-17, 96 % cloudy; t-1, t+1 clear)."""
    import numpy as np  # noqa: PLC0415
    from decloud.raster import read_array  # noqa: PLC0415

    if not CACHE.is_dir():
        raise SystemExit(f"{CACHE} is missing: run `python bench/fullscene.py --quick` once to write the mosaic")
    arrays = {k: read_array(CACHE / f"s2_{d}.tif") for k, d in TIMESTAMPS.items()}
    cloud = read_array(CACHE / f"clouds_{TIMESTAMPS['t']}.tif")
    stamps = {k: np.array([np.datetime64(d).astype("datetime64[s]").astype(np.float64)], np.float32)
              for k, d in TIMESTAMPS.items()}
    tiles = []
    for y, x in CORNERS:
        cut = {k: a[y:y + size, x:x + size].astype(np.float32)[None] for k, a in {**arrays, "cloud": cloud}.items()}
        tiles.append({"s2_t": cut["t"], "s2_tm1": cut["tm1"], "s2_tp1": cut["tp1"], "cloud_t": cut["cloud"],
                      **{f"s2_timestamp_{k}": v for k, v in stamps.items()}})
    return tiles


def op_lines(card: dict) -> dict[str, int]:
    """Each operation's name in the network built from the card's options -> the line of networks.py that made it
    (the innermost frame there), through the functions of its conditionals."""
    import tensorflow as tf  # noqa: PLC0415
    from decloud.networks import get_model  # noqa: PLC0415

    model = get_model(card["training"]["network"], **card["training"]["options"])
    spec = {i.name: tf.TensorSpec([1, *i.shape[1:]] if len(i.shape) > 1 else [1], i.dtype) for i in model.inputs}
    graph = tf.function(lambda x: model(x)).get_concrete_function(spec).graph
    lines: dict[str, int] = {}

    def walk(g) -> None:
        for op in g.get_operations():
            frames = [f for f in op.traceback if f.filename.endswith("decloud/networks.py")]
            if frames:
                lines[op.name] = frames[-1].lineno
            for attr in ("then_branch", "else_branch"):
                try:
                    name = op.get_attr(attr).name
                except ValueError:
                    continue
                walk(g._get_function(name).graph)  # the branch's function graph

    walk(graph)
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, nargs="?", default=Path("models/gfnet-v5"))
    p.add_argument("--threads", type=int, default=1, help="TensorFlow's intra- and inter-op threads (default 1)")
    p.add_argument("--runs", type=int, default=4, help="traced runs (tiles), after one untraced run of each")
    p.add_argument("--top", type=int, default=40, help="lines of networks.py shown")
    args = p.parse_args(argv)
    import tensorflow as tf  # noqa: PLC0415

    card = json.loads((args.model / "card.json").read_text())
    tiles = read_tiles()
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                      inter_op_parallelism_threads=args.threads)
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        loaded = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(args.model))
    signature = loaded.signature_def["serving_default"]
    output = signature.outputs["s2_target_crop32"].name

    def feed(tile):
        return {signature.inputs[k].name: v for k, v in tile.items()}

    for tile in tiles:
        session.run(output, feed(tile))
    start = time.perf_counter()
    for tile in tiles:
        session.run(output, feed(tile))
    print(f"seconds_per_tile: {(time.perf_counter() - start) / len(tiles):.3f}  ({args.threads} thread(s), untraced)")

    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    by_node: collections.Counter = collections.Counter()
    by_type: collections.Counter = collections.Counter()
    for k in range(args.runs):
        meta = tf.compat.v1.RunMetadata()
        session.run(output, feed(tiles[k % len(tiles)]), options=options, run_metadata=meta)
        for device in meta.step_stats.dev_stats:
            for node in device.node_stats:
                by_node[node.node_name] += node.all_end_rel_micros
                label = node.timeline_label
                by_type[label.split("(")[0].split("=")[-1].strip() if "=" in label else node.node_name] += \
                    node.all_end_rel_micros
    total = sum(by_node.values())
    ms = 1000.0 * args.runs
    print(f"operations_ms_per_tile: {total / ms:.1f}")
    print("\n# by operation type")
    for name, v in by_type.most_common(15):
        print(f"{v / ms:8.1f} ms  {100 * v / total:5.1f} %  {name}")

    parts: collections.Counter = collections.Counter()
    lines = op_lines(card)
    by_line: collections.Counter = collections.Counter()
    unmatched: collections.Counter = collections.Counter()
    for node, v in by_node.items():
        name = re.sub(r"^.*/(then|else)/_\d+/", "", node)
        name = re.sub(r"^StatefulPartitionedCall(_\d+)?/StatefulPartitionedCall/", "", name)
        cond = re.search(r"gapfill_features(_\d+)?/(cond(_\d+)?)/", node)
        parts["features: " + cond[2] if cond else "features" if "gapfill_features" in node
              else "output layer" if "s2_target_raw" in node else "U-Net and the rest"] += v
        if name in lines:
            by_line[lines[name]] += v
        else:
            unmatched[name] += v
    print("\n# by part (features: cond = the two-sided regressions, cond_2 = the analog, ...)")
    for name, v in parts.most_common():
        print(f"{v / ms:8.1f} ms  {100 * v / total:5.1f} %  {name}")
    source = Path(__import__("decloud.networks", fromlist=["x"]).__file__)
    print(f"\n# by line of {source} ({sum(unmatched.values()) / ms:.1f} ms not matched: the U-Net's layers, nodes "
          "Grappler renamed)")
    for line, v in by_line.most_common(args.top):
        print(f"{v / ms:8.1f} ms  {line:5d}  {linecache.getline(str(source), line).strip()[:100]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
