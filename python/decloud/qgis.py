"""QGIS support: an OTB folder for QGIS's OTB processing provider with Debian's and the module's apps.

QGIS's built-in OTB provider (QGIS 3.22 to 3.34; Debian 12 ships 3.22) takes two settings, "OTB folder" and
"OTB application folder". It lists only the apps named in ``<OTB folder>/description/algs.txt`` (each with
``<App>.txt`` there), runs ``<OTB folder>/bin/otbApplicationLauncherCommandLine <App> <app folder> ...``
with an environment reduced to a few variables (no LD_LIBRARY_PATH, no OTB_APPLICATION_PATH), and breaks
every algorithm when given several app folders. So :func:`prepare_otb_folder` builds one folder::

    bin/otbApplicationLauncherCommandLine -> /usr/bin/otbApplicationLauncherCommandLine
    description/   Debian's descriptors (/usr/share/otb/description) + the module's (built by CMake,
                   installed in <prefix>/share/decloud/qgis/description), one algs.txt listing both
    applications/  symlinks to Debian's and the module's otbapp_*.so

and both settings point at it (the module's apps find their libraries through their RUNPATH).
:func:`write_profile` writes a QGIS profile with these settings and the provider enabled, for
``qgis_process`` (headless: see :func:`qgis_environment`).
"""

from __future__ import annotations

import configparser
import io
import os
import re
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_text
from .errors import DecloudInputError
from .otbenv import SYSTEM_OTB_APPS, module_app_dir

SYSTEM_LAUNCHER = Path("/usr/bin/otbApplicationLauncherCommandLine")
SYSTEM_DESCRIPTIONS = Path("/usr/share/otb/description")  # Debian's otb-qgis package
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")  # not the qgis_process wrapper (adds --noversioncheck)
MARKER = ".decloud-qgis"
# The provider pastes the app folder unquoted into a shell command line.
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+@%,:=-]+")


def module_descriptions() -> Path:
    """The module's QGIS descriptors installed in this Python's prefix (the virtual environment)."""
    return Path(sys.prefix) / "share" / "decloud" / "qgis" / "description"


def _algs(folder: Path) -> list[tuple[str, str]]:
    """(group, app) entries of a descriptor folder's algs.txt (comments and blank lines dropped)."""
    index = folder / "algs.txt"
    if not index.is_file():
        return []
    entries = []
    for line in index.read_text().splitlines():
        parts = line.strip().split("|")
        if len(parts) == 2 and parts[0] and parts[1] and not line.startswith("#"):
            entries.append((parts[0], parts[1]))
    return entries


def prepare_otb_folder(
    folder: str | Path,
    *,
    module_apps: Path | None = None,
    module_descr: Path | None = None,
    system_apps: Path = SYSTEM_OTB_APPS,
    system_descr: Path = SYSTEM_DESCRIPTIONS,
    launcher: Path = SYSTEM_LAUNCHER,
) -> list[str]:
    """Create (or refresh) the OTB folder for QGIS; returns the app names listed, module apps first.

    An app is listed when both its descriptor and its otbapp_*.so exist; the module's win over Debian's.
    A folder that exists, is not empty and was not made by this function is refused.
    """
    folder = Path(folder).absolute()
    module_apps = Path(module_apps) if module_apps else module_app_dir()
    module_descr = Path(module_descr) if module_descr else module_descriptions()
    if not _SAFE_PATH.fullmatch(str(folder)):
        raise DecloudInputError(f"{folder}: QGIS's OTB provider cannot use a path with spaces or shell "
                                "characters")
    if not launcher.exists():
        raise DecloudInputError(f"{launcher} not found (Debian: apt-get install otb-bin)")
    if not _algs(module_descr):
        raise DecloudInputError(f"{module_descr}: no QGIS descriptors of the module (run ./dev.sh setup)")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not (folder / MARKER).exists():
        raise DecloudInputError(f"{folder}: exists and was not made by decloud qgis-setup; choose another "
                                "folder")

    (folder / "VERSION").unlink(missing_ok=True)
    for sub in ("bin", "description", "applications"):
        shutil.rmtree(folder / sub, ignore_errors=True)
        (folder / sub).mkdir(parents=True)
    (folder / MARKER).write_text("made by decloud.qgis.prepare_otb_folder\n")
    (folder / "bin" / launcher.name).symlink_to(launcher)

    listed: dict[str, tuple[str, Path, Path]] = {}  # app -> (group, descriptor, library)
    for apps, descr in ((module_apps, module_descr), (system_apps, system_descr)):
        for group, app in _algs(descr):
            lib, txt = apps / f"otbapp_{app}.so", descr / f"{app}.txt"
            if app not in listed and lib.is_file() and txt.is_file():
                listed[app] = (group, txt, lib)
    index = []
    for app, (group, txt, lib) in listed.items():
        (folder / "description" / txt.name).symlink_to(txt.resolve())
        (folder / "applications" / lib.name).symlink_to(lib.resolve())
        index.append(f"{group}|{app}\n")
    (folder / "description" / "algs.txt").write_text("".join(index))
    version = _otb_version()
    if version:  # the provider shows it ("OTB (8.1.1)"); without it, "OTB (6.6.0)"
        (folder / "VERSION").write_text(f"OTB Version: {version}\n")
    return list(listed)


def _otb_version() -> str | None:
    for header in sorted(Path("/usr/include").glob("OTB-*/otbConfigure.h")):
        match = re.search(r'#define OTB_VERSION_STRING "([^"]+)"', header.read_text())
        if match:
            return match.group(1)
    return None


def write_profile(config_dir: str | Path, otb_folder: str | Path) -> Path:
    """Write (or update) ``<config_dir>/profiles/default/QGIS/QGIS3.ini``: OTB provider enabled, both OTB
    settings on ``otb_folder``. Use with ``QGIS_CUSTOM_CONFIG_PATH=<config_dir>``. Other settings are kept."""
    otb_folder = Path(otb_folder).absolute()
    ini = Path(config_dir).absolute() / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    settings = configparser.ConfigParser(interpolation=None, delimiters=("=",), strict=False)
    settings.optionxform = str  # type: ignore[assignment,method-assign]  # QSettings keys are case-sensitive
    if ini.exists():
        settings.read(ini)
    for section, key, value in (
        ("PythonPlugins", "otbprovider", "true"),
        ("Processing", "Configuration\\OTB_FOLDER", str(otb_folder)),
        ("Processing", "Configuration\\OTB_APP_FOLDER", str(otb_folder / "applications")),
    ):
        if not settings.has_section(section):
            settings.add_section(section)
        settings.set(section, key, value)
    text = io.StringIO()
    settings.write(text, space_around_delimiters=False)
    return write_text(ini, text.getvalue(), what="QGIS profile")


@dataclass
class QgisSetup:
    otb_folder: Path  # QGIS setting "OTB folder"
    app_folder: Path  # QGIS setting "OTB application folder"
    config_dir: Path  # QGIS_CUSTOM_CONFIG_PATH for qgis_process
    runtime_dir: Path  # XDG_RUNTIME_DIR for qgis_process
    profile: Path  # the QGIS3.ini written
    apps: list[str]  # apps listed (module's first)
    notes: list[str] = field(default_factory=list)  # what the user should know (e.g. a folder left as it was)

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a headless ``qgis_process.bin`` that uses this profile."""
        return qgis_environment(self.config_dir, self.runtime_dir, base)


def qgis_environment(
    config_dir: Path, runtime_dir: Path, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for a headless ``qgis_process.bin``: offscreen Qt, the given profile and runtime folders.

    QGIS embeds Debian's Python 3, which finds its prefix through the first ``python3`` on PATH: with a
    virtual environment's bin/ first (``source env.sh``), it takes the venv's site-packages instead of
    /usr/lib/python3/dist-packages, cannot import ``qgis`` ("Couldn't load SIP module") and qgis_process
    crashes (SIGSEGV). So virtual environments are dropped from PATH, with PYTHONHOME and PYTHONPATH.
    """
    env = dict(os.environ if base is None else base)
    for key in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    path = env.get("PATH", os.defpath).split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in path if p and not (Path(p).parent / "pyvenv.cfg").exists())
    env.update({"QT_QPA_PLATFORM": "offscreen", "QGIS_CUSTOM_CONFIG_PATH": str(config_dir),
                "XDG_RUNTIME_DIR": str(runtime_dir)})
    return env


def setup(directory: str | Path) -> QgisSetup:
    """``<directory>/otb`` (the OTB folder), ``<directory>/profile`` (a QGIS profile using it) and
    ``<directory>/runtime`` (an XDG_RUNTIME_DIR for headless runs)."""
    directory = Path(directory).absolute()
    otb = directory / "otb"
    apps = prepare_otb_folder(otb)
    config = directory / "profile"
    profile = write_profile(config, otb)
    runtime = directory / "runtime"
    notes = []
    if runtime.is_dir():  # the user's folder, or ours from an earlier run: its permissions are left as they are
        mode = stat.S_IMODE(runtime.stat().st_mode)
        if mode != 0o700:
            notes.append(f"{runtime} exists with permissions {mode:04o}: left as they are (Qt wants 0700 for "
                         f"XDG_RUNTIME_DIR and may warn; chmod 700 {runtime} to quiet it)")
    elif runtime.exists() or runtime.is_symlink():
        raise DecloudInputError(f"{runtime}: exists and is not a folder; remove it or choose another folder")
    else:
        runtime.mkdir(mode=0o700, parents=True)
        runtime.chmod(0o700)  # mkdir's mode is reduced by the umask
    return QgisSetup(otb, otb / "applications", config, runtime, profile, apps, notes)
