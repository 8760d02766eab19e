"""decloud import-model"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..import_model import FAMILIES, import_model  # noqa: PLC0415

    out = import_model(args.dir, args.family, args.out)
    print(f"{out}: card.json written ({FAMILIES[args.family].paper}); paddings 32, 64, 128, 256 (the original's "
          f"s2_estim_padN); run it with decloud infer --model {out} or otbcli_DecloudInfer -model {out}")
    return 0


def register(sub) -> None:
    from ..import_model import FAMILIES, REFUSED  # noqa: PLC0415

    p = sub.add_parser("import-model", help="write the card of a SavedModel of the original Decloud",
                       description="Checks the serving signature of a SavedModel of the original Decloud "
                       "(github.com/CNES/decloud) against its family (input names, bands, outputs) and writes its "
                       "card.json, so that DecloudInfer, decloud infer and decloud timeseries run it. The card "
                       "offers the original's padded outputs s2_estim_pad{32,64,128,256} (reflectance x 10000) as "
                       "paddings 32, 64, 128, 256. Families refused for now: " + ", ".join(sorted(REFUSED)) + ".")
    p.add_argument("dir", help="the SavedModel folder (saved_model.pb, variables/)")
    p.add_argument("--family", required=True, metavar="FAMILY",
                   help="the original's model class (decloud/models/*.py): " + ", ".join(FAMILIES))
    p.add_argument("--out", help="write a copy of the SavedModel with its card here (default: the card goes into DIR)")
    p.set_defaults(func=run)
