"""decloud qgis-setup"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from ..qgis import QGIS_PROCESS, setup  # noqa: PLC0415

    result = setup(args.dir)
    print(f"{len(result.apps)} OTB apps for QGIS, the module's included. In desktop QGIS (3.22 to 3.34):")
    print("enable the 'OrfeoToolbox provider' plugin (Plugins > Manage and Install Plugins > Installed), then in")
    print("Settings > Options > Processing > Providers > OTB tick 'Activate' and set:")
    print(f"  OTB folder:             {result.otb_folder}")
    print(f"  OTB application folder: {result.app_folder}")
    print("Headless (this profile already has both; no virtual environment on PATH for QGIS's Python):")
    print(f"  PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen QGIS_CUSTOM_CONFIG_PATH={result.config_dir} "
          f"XDG_RUNTIME_DIR={result.runtime_dir} \\")
    print(f"    {QGIS_PROCESS} run otb:DecloudInfer -- s2.t=t.tif s2.tm1=a.tif s2.tp1=b.tif out=out.tif")
    for note in result.notes:
        print(f"decloud qgis-setup: note: {note}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "qgis-setup", help="OTB folder and QGIS profile for QGIS's OTB provider, with the module's apps",
        description="Makes DIR/otb (bin/otbApplicationLauncherCommandLine, description/ and applications/ "
        "with "
        "Debian's OTB apps and the module's), a QGIS profile in DIR/profile that uses it (for qgis_process, "
        "QGIS_CUSTOM_CONFIG_PATH=DIR/profile) and prints the two settings to use in desktop QGIS. "
        "Re-run after rebuilding the module or upgrading OTB.",
        epilog="example: decloud qgis-setup ~/.local/share/decloud-qgis")
    p.add_argument("dir", help="folder to create (or refresh if made by this command)")
    p.set_defaults(func=run)
