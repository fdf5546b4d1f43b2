"""``omniclas fiji install PATH``: put the OmniClas plugin into a Fiji (``Fiji.app``) or ImageJ 1.x folder and record
this environment's ``omniclas`` in the plugin's settings, so *Server Settings* needs no typing (docs/fiji.md).

- The plugin jar (``fiji_plugin/target/omniclas_fiji-<version>.jar`` of a source checkout, or ``--jar``) goes into
  ``plugins/``, replacing an older ``omniclas_fiji-*.jar`` there.
- Gson, which the plugin needs and Fiji ships in ``jars/``: where the installation has none (plain ImageJ), the
  copy the Maven build leaves in ``fiji_plugin/target/imagej-dist/`` (or ``--gson``) goes into ``plugins/jars/``
  (ImageJ loads the jars of the plugins folder and its subfolders).
- The executable: the plugin reads its settings with ImageJ's ``Prefs`` (``Settings.java``), which keeps them in
  ``IJ_Prefs.txt`` as Java properties with a leading dot (``.omniclas.executable=...``). ImageJ reads that file from
  the ImageJ folder when one is there, else from ``~/.imagej/`` (``~/Library/Preferences/`` on macOS); the line is
  written into the same file, every other line kept, the whole file replaced in one step.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import OmniClasError

CHECKOUT = Path(__file__).resolve().parents[3]  # python_server/omniclas/cli/fiji.py -> the repository
PLUGIN_GLOB = "omniclas_fiji-*.jar"
PREFS_FILE = "IJ_Prefs.txt"
KEY_EXECUTABLE = ".omniclas.executable"  # Settings.KEY_EXECUTABLE; ImageJ's Prefs prefix keys with a dot
KEY_MODELS_ROOT = ".omniclas.models_root"  # Settings.KEY_MODELS_ROOT
BUILD = "cd fiji_plugin && mvn -o -B -Dmaven.repo.local=/usr/share/maven-repo package (offline) or mvn -B -Pcentral package"


def add_commands(subparsers) -> None:
    fiji = subparsers.add_parser("fiji", help="set up Fiji or ImageJ for OmniClas")
    sub = fiji.add_subparsers(dest="fiji_command", required=True)
    p = sub.add_parser("install", help="copy the OmniClas plugin (and Gson where missing) into a Fiji or ImageJ "
                                       "folder and record this environment's omniclas in the plugin's settings",
                       description="Quit Fiji first: ImageJ rewrites its settings file when it quits.")
    p.add_argument("folder", metavar="PATH", help="the Fiji.app folder, or an ImageJ 1.x folder (with ij.jar)")
    p.add_argument("--jar", default=None, help="the plugin jar to install (default: the one this source checkout "
                                               "built, fiji_plugin/target/omniclas_fiji-<version>.jar)")
    p.add_argument("--gson", default=None, help="the Gson jar for an ImageJ without one (default: "
                                                "fiji_plugin/target/imagej-dist/gson.jar)")
    p.add_argument("--executable", default=None, help="the omniclas command Fiji starts (default: this "
                                                      "environment's)")
    p.set_defaults(func=cmd_install)


@dataclass
class Installation:
    root: Path
    kind: str  # "Fiji" or "ImageJ"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def gson_folder(self) -> Path:
        return self.root / "jars" if self.kind == "Fiji" else self.plugins / "jars"

    def gson(self) -> Path | None:
        """A Gson jar the installation already has (Fiji's jars/, or anywhere ImageJ loads jars from)."""
        places = [self.root / "jars", self.plugins]
        return next((p for place in places if place.is_dir() for p in sorted(place.rglob("gson*.jar"))), None)


def identify(folder) -> Installation:
    """A Fiji folder (``jars/ij-<version>.jar`` and ``plugins/``) or an ImageJ 1.x folder (``ij.jar`` and
    ``plugins/``), or an error that says what was expected."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise OmniClasError(f"{root}: no such folder; give the Fiji.app folder or the ImageJ folder", field="folder")
    root = root.resolve()
    if (root / "plugins").is_dir():
        if any((root / "jars").glob("ij-*.jar")) or (root / "jars" / "ij.jar").is_file():
            return Installation(root, "Fiji")
        if (root / "ij.jar").is_file() or (root / "ImageJ.app" / "Contents" / "Java" / "ij.jar").is_file():
            return Installation(root, "ImageJ")
    raise OmniClasError(f"{root} is neither a Fiji nor an ImageJ folder: Fiji.app holds jars/ij-<version>.jar and "
                        f"plugins/, an ImageJ folder holds ij.jar and plugins/. Give the folder Fiji or ImageJ "
                        f"starts from.", field="folder")


def _given(path, option: str) -> Path:
    jar = Path(path).expanduser()
    if not jar.is_file():
        raise OmniClasError(f"--{option} {jar}: no such file", field=option)
    return jar


def plugin_jar(given=None, checkout: Path = CHECKOUT) -> Path:
    """``given``, else the plugin jar the source checkout's Maven build made."""
    if given:
        return _given(given, "jar")
    target = checkout / "fiji_plugin" / "target"
    jars = sorted(p for p in target.glob(PLUGIN_GLOB) if not p.stem.endswith(("-sources", "-javadoc", "-imagej")))
    if not jars:
        where = target / "omniclas_fiji-<version>.jar"
        hint = (f"build it: {BUILD}" if (checkout / "fiji_plugin" / "pom.xml").is_file()
                else "this OmniClas is not a source checkout; give a release's plugin jar with --jar")
        raise OmniClasError(f"the Fiji plugin is not built: {where} does not exist; {hint}", field="jar")
    return jars[-1]


def gson_jar(given=None, checkout: Path = CHECKOUT) -> Path:
    """``given``, else the Gson the Maven build put beside the plugin for plain ImageJ."""
    if given:
        return _given(given, "gson")
    dist = checkout / "fiji_plugin" / "target" / "imagej-dist"
    found = sorted(dist.glob("gson*.jar"))
    if not found:
        raise OmniClasError(f"this ImageJ has no Gson, which the plugin needs, and {dist / 'gson.jar'} does not "
                            f"exist (the Maven build writes it: {BUILD}); or give a Gson jar with --gson",
                            field="gson")
    return found[0]


def copy_into(src: Path, folder: Path, replaces: str | None = None) -> list[Path]:
    """Copy ``src`` into ``folder`` under its own name (a temporary copy renamed into place), then remove the
    other files matching ``replaces`` (older versions). Returns the files removed."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / src.name
    tmp = folder / f".{src.name}.{uuid.uuid4().hex}.part"  # not a .jar: ImageJ never loads a half-copied file
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    old = [p for p in folder.glob(replaces) if p.name != dst.name] if replaces else []
    for p in old:
        p.unlink()
    return old


# ------------------------------------------------------------------ ImageJ's IJ_Prefs.txt (Java properties)
def prefs_file(inst: Installation) -> Path:
    """The IJ_Prefs.txt ImageJ reads: the installation's own when it has one, else the user's."""
    own = inst.root / PREFS_FILE
    if own.is_file():
        return own
    home = Path.home()
    return (home / "Library" / "Preferences" if sys.platform == "darwin" else home / ".imagej") / PREFS_FILE


def escape_value(text: str) -> str:
    """A property value as java.util.Properties.store writes it (ISO-8859-1, other characters as \\uXXXX)."""
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == " " and i == 0:
            out.append("\\ ")
        elif ch in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[ch])
        elif ch in "=:#!":
            out.append("\\" + ch)
        elif 0x20 <= ord(ch) <= 0x7E:
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            out += [f"\\u{units[j] << 8 | units[j + 1]:04X}" for j in range(0, len(units), 2)]
    return "".join(out)


_KEY_END = re.compile(r"(?<!\\)(?:\\\\)*[=:\s]")


def _key(line: str) -> str | None:
    """The key of a properties line (None for blanks and comments); keys here hold no escapes."""
    text = line.lstrip(" \t\f")
    if not text or text[0] in "#!":
        return None
    end = _KEY_END.search(text)
    return text[:end.end() - 1] if end else text


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def set_prefs(path: Path, values: dict[str, str]) -> None:
    """Set ``values`` (keys with their leading dot) in an IJ_Prefs.txt, keeping every other line as it was."""
    from ..data.files import write_atomic

    text = path.read_bytes().decode("latin-1") if path.is_file() else "#ImageJ Preferences\n"
    newline = "\r\n" if "\r\n" in text else "\n"
    kept, skipping = [], False
    for line in text.splitlines():
        if skipping:  # the continuation of a line being replaced
            skipping = _continues(line)
            continue
        if _key(line) in values:
            skipping = _continues(line)
            continue
        kept.append(line)
    kept += [f"{key}={escape_value(value)}" for key, value in values.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (newline.join(kept) + newline).encode("latin-1"))


# ------------------------------------------------------------------ the command
def cmd_install(args) -> int:
    from ..registry import models_root_choice
    from ..registry.store import user_models_root
    from .environment import omniclas_executable

    inst = identify(args.folder)
    jar = plugin_jar(args.jar)
    removed = copy_into(jar, inst.plugins, replaces=PLUGIN_GLOB)
    print(f"{inst.kind} at {inst.root}")
    print(f"  plugin:     {inst.plugins / jar.name}" + (f" (replaced {', '.join(p.name for p in removed)})"
                                                         if removed else ""))
    have = inst.gson()
    if have is not None:
        print(f"  Gson:       {have} (already there)")
    else:
        gson = gson_jar(args.gson)
        copy_into(gson, inst.gson_folder)
        print(f"  Gson:       {inst.gson_folder / gson.name}")
    executable = _given(args.executable, "executable").absolute() if args.executable else omniclas_executable()
    settings = {KEY_EXECUTABLE: str(executable)}
    models_root = models_root_choice()[0]
    if models_root != user_models_root():  # the plugin's default is the per-user folder; say any other
        settings[KEY_MODELS_ROOT] = str(models_root)
    prefs = prefs_file(inst)
    set_prefs(prefs, settings)
    print(f"  settings:   {prefs}: Environment = {executable}"
          + (f", Models_root = {models_root}" if KEY_MODELS_ROOT in settings else ""))
    print(f"Start {inst.kind}: Plugins > OmniClas is there, and it starts the server by itself. (If {inst.kind} was "
          f"running, quit it and run this again: it rewrites {PREFS_FILE} when it quits.)")
    return 0
