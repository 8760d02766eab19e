"""decloud convert-records"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..original import convert_records  # noqa: PLC0415

    split = lambda text: text.split(",") if text else None  # noqa: E731
    shards, info = convert_records(args.src, args.out_dir, split=args.split, shard_size=args.shard_size,
                                   bands_20m=split(args.bands_20m), bands_10m=split(args.bands_10m))
    print(f"{args.out_dir}: {info['examples']} examples in {len(shards)} shard(s) ({args.split}_*.tfrecord); 20 m "
          f"bands read as {' '.join(info['bands_20m'])}"
          + (f"; dropped {', '.join(info['dropped'])}" if info["dropped"] else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("convert-records", help="rewrite the original Decloud's TFRecords as ours",
                       description="Reads SRC/*.records with output_types.json and output_shape.json (the original "
                       "Decloud's create_tfrecords.py) and writes our shards with shapes_and_types.json, for decloud "
                       "train / evaluate: timestamps as int64 seconds, s2_cld10m_t as cloud_t, the 20 m bands in "
                       "our order (B5 B6 B7 B8A B11 B12), dem as float32; s1_ascending_* dropped.",
                       epilog="example: decloud convert-records TFRecords/train ds/train")
    p.add_argument("src", help="folder of the original's N.records")
    p.add_argument("out_dir", help="output folder")
    p.add_argument("--split", default="train", help="shard name prefix (default train)")
    p.add_argument("--shard-size", type=int, default=256, help="examples per shard (default 256)")
    p.add_argument("--bands-20m", help="the 20 m band order of the records (default the original writer's: its "
                   "sorted band file names, B11,B12,B5,B6,B7,B8A)")
    p.add_argument("--bands-10m", help="the 10 m band order of the records (default B2,B3,B4,B8)")
    p.set_defaults(func=run)
