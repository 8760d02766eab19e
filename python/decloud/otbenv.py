"""Access to OTB applications from Python: the module's apps on OTB_APPLICATION_PATH, then pyotb.

pyotb reads OTB_APPLICATION_PATH when it is first imported; :func:`pyotb` makes sure the module's apps
(installed in the virtual environment by ``dev.sh``) and Debian's OTB apps are on it before that.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

SYSTEM_OTB_APPS = Path("/usr/lib/x86_64-linux-gnu/otb/applications")


def module_app_dir() -> Path:
    """Folder of the OTBDecloud apps installed in this Python's prefix (the virtual environment)."""
    return Path(sys.prefix) / "lib" / "otb" / "applications"


def application_path() -> str:
    """OTB_APPLICATION_PATH with the module's and the system's app folders, keeping what is set."""
    parts = [p for p in os.environ.get("OTB_APPLICATION_PATH", "").split(os.pathsep) if p]
    for folder in (module_app_dir(), SYSTEM_OTB_APPS):
        if folder.is_dir() and str(folder) not in parts:
            parts.append(str(folder))
    return os.pathsep.join(parts)


def otbcli(app: str) -> list[str]:
    """Command line prefix that runs an OTB app (the module's launcher if installed, else otbcli)."""
    launcher = Path(sys.prefix) / "bin" / f"otbcli_{app}"
    return [str(launcher)] if launcher.exists() else ["otbcli", app]


def app_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of os.environ with OTB_APPLICATION_PATH set, for subprocesses."""
    env = dict(os.environ)
    env["OTB_APPLICATION_PATH"] = application_path()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    env.update(extra or {})
    return env


def pyotb() -> ModuleType:
    """Import pyotb with the apps on OTB_APPLICATION_PATH."""
    if "pyotb" not in sys.modules:
        os.environ["OTB_APPLICATION_PATH"] = application_path()
    import pyotb as _pyotb  # noqa: PLC0415 - must follow the environment set-up

    return _pyotb
