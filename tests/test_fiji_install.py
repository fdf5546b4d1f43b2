"""`omniclas fiji install PATH`: the plugin (and Gson where missing) into a Fiji or ImageJ folder, and this
environment's omniclas into the plugin's settings (ImageJ's IJ_Prefs.txt), every other setting kept.

Fake Fiji.app and ImageJ folder layouts in a temporary home; then the real ImageJ (JPype) reads the settings file
the command wrote, with the jars it installed, and the plugin finds the executable there.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import fiji_jvm
from live_server import ROOT, server_env

from omniclas.cli.fiji import escape_value, plugin_jar
from omniclas.errors import OmniClasError

OTHER_PREFS = ("#ImageJ 1.54f Preferences\n#Tue Dec 02 05:00:00 CET 2025\n.omniclas.url=http\\://127.0.0.1\\:5001\n"
               "ij.x=10\n.omniclas.executable=/old/env/bin/omniclas\n.long=a\\\n  continued\n"
               ".name=caf\\u00E9\n")


def make_jar(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        z.writestr("plugins.config", f"# {path.name}\n")
    return path


def install(folder, home: Path, *args, ok=True, models=None):
    """The command as a user runs it: in ``home``, with $OMNICLAS_MODELS only if ``models`` is given."""
    env = server_env(HOME=home, USERPROFILE=home)
    env.pop("OMNICLAS_MODELS", None)
    if models:
        env["OMNICLAS_MODELS"] = str(models)
    out = subprocess.run([sys.executable, "-m", "omniclas", "fiji", "install", str(folder), *map(str, args)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert (out.returncode == 0) == ok, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    return out


@pytest.fixture()
def executable(tmp_path) -> Path:
    """An environment's omniclas, at a path with a space and an accent (escaped in the properties file)."""
    exe = tmp_path / "my env é" / "bin" / "omniclas"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    return exe


def test_fiji_gets_the_plugin_and_keeps_every_other_setting(tmp_path, executable):
    home = tmp_path / "home"
    fiji = tmp_path / "Fiji.app"
    make_jar(fiji / "jars" / "ij-1.54f.jar")
    gson = make_jar(fiji / "jars" / "gson-2.10.1.jar")
    old = make_jar(fiji / "plugins" / "omniclas_fiji-0.0.9.jar")
    (home / ".imagej").mkdir(parents=True)
    (home / ".imagej" / "IJ_Prefs.txt").write_text(OTHER_PREFS, encoding="latin-1")
    jar = make_jar(tmp_path / "build" / "omniclas_fiji-0.2.0.jar")

    out = install(fiji, home, "--jar", jar, "--executable", executable, models=tmp_path / "lab models").stdout
    assert (fiji / "plugins" / jar.name).read_bytes() == jar.read_bytes() and not old.exists()
    assert f"replaced {old.name}" in out and "already there" in out
    assert sorted(p.name for p in (fiji / "jars").iterdir()) == ["gson-2.10.1.jar", "ij-1.54f.jar"]
    assert gson.is_file() and sorted(p.name for p in (fiji / "plugins").iterdir()) == [jar.name]
    prefs = (home / ".imagej" / "IJ_Prefs.txt").read_text(encoding="latin-1").splitlines()
    expected_kept = [line for line in OTHER_PREFS.splitlines() if "executable" not in line]
    assert prefs[:-2] == expected_kept  # every other line, in its place, byte for byte
    assert prefs[-2] == ".omniclas.executable=" + escape_value(str(executable))
    assert "\\u00E9" in prefs[-2] and "my\\ env" not in prefs[-2]  # only a leading space is escaped
    # the command line's models folder is not the per-user default here: Fiji's server is told to use it too
    assert prefs[-1] == ".omniclas.models_root=" + escape_value(str(tmp_path / "lab models"))
    assert sorted(p.name for p in (home / ".imagej").iterdir()) == ["IJ_Prefs.txt"]  # no temporary file left


def test_imagej_gets_gson_and_its_own_settings_file(tmp_path, executable):
    home = tmp_path / "home"
    imagej = tmp_path / "ImageJ"
    make_jar(imagej / "ij.jar")
    (imagej / "plugins").mkdir()
    (imagej / "IJ_Prefs.txt").write_text("#ImageJ\n")  # ImageJ reads its own folder's file when there is one
    install(imagej, home, "--jar", make_jar(tmp_path / "omniclas_fiji-0.2.0.jar"),
            "--gson", make_jar(tmp_path / "dist" / "gson.jar"), "--executable", executable)
    assert (imagej / "plugins" / "jars" / "gson.jar").is_file()
    assert (imagej / "IJ_Prefs.txt").read_text().splitlines()[-1].startswith(".omniclas.executable=")
    assert not (home / ".imagej").exists()


def test_what_is_not_an_installation_or_not_built_is_said_plainly(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "Downloads" / "plugins").mkdir(parents=True)
    err = install(tmp_path / "Downloads", home, ok=False).stderr
    assert "is neither a Fiji nor an ImageJ folder" in err and "jars/ij-<version>.jar" in err
    assert "no such folder" in install(tmp_path / "nowhere", home, ok=False).stderr
    fiji = tmp_path / "Fiji.app"
    make_jar(fiji / "jars" / "ij-1.54f.jar")
    (fiji / "plugins").mkdir()
    assert f"--jar {tmp_path / 'x.jar'}: no such file" in install(fiji, home, "--jar", tmp_path / "x.jar",
                                                                  ok=False).stderr
    checkout = tmp_path / "checkout"
    (checkout / "fiji_plugin").mkdir(parents=True)
    (checkout / "fiji_plugin" / "pom.xml").write_text("<project/>")
    with pytest.raises(OmniClasError, match=r"not built: .*/fiji_plugin/target/omniclas_fiji-<version>\.jar does not "
                                        r"exist; build it: cd fiji_plugin && mvn"):
        plugin_jar(checkout=checkout)
    assert not list((fiji / "plugins").iterdir())  # a refused command installs nothing


READ_SETTINGS = """
import json, sys
import scyjava
scyjava.config.add_option("-Duser.home=" + sys.argv[1])
import fiji_jvm
h = fiji_jvm.start()
h.Prefs.load(None, None)  # what ImageJ does when it starts
launcher = scyjava.jimport("org.omniclas.fiji.client.ServerLauncher")
command = launcher.command(h.Settings.launchConfig(), False)
print(json.dumps({"executable": str(h.Settings.executable()), "prefs": str(h.Prefs.getPrefsDir()),
                  "command": [str(c) for c in command]}))
"""


def test_real_imagej_reads_the_executable_it_was_given(tmp_path, executable):
    """The jars the command installed, in a real ImageJ whose home is the temporary one: the plugin's Settings
    name the executable, and the server it would start uses the models folder the command line uses."""
    if fiji_jvm.missing_reason():
        pytest.skip(fiji_jvm.missing_reason())
    home, imagej, cwd = tmp_path / "home", tmp_path / "ImageJ", tmp_path / "cwd"
    cwd.mkdir()
    imagej.mkdir()
    shutil.copy(fiji_jvm.ij_jar(), imagej / "ij.jar")
    (imagej / "plugins").mkdir()
    gson = fiji_jvm.PLUGIN_TARGET / "imagej-dist" / "gson.jar"
    install(imagej, home, "--executable", executable, *(["--gson", fiji_jvm.gson_jar()] if not gson.is_file() else []))
    installed = sorted((imagej / "plugins").glob("omniclas_fiji-*.jar"))
    assert [p.read_bytes() for p in installed] == [plugin_jar().read_bytes()]
    env = server_env(HOME=home, PYTHONPATH=f"{ROOT / 'tests'}:{ROOT / 'python_server'}",
                     OMNICLAS_IJ_JAR=imagej / "ij.jar", OMNICLAS_PLUGIN_JAR=installed[0],
                     OMNICLAS_GSON_JAR=next((imagej / "plugins" / "jars").glob("gson*.jar")))
    out = subprocess.run([sys.executable, "-c", READ_SETTINGS, str(home)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["prefs"] == str(home / ".imagej") and seen["executable"] == str(executable)
    assert seen["command"][0] == str(executable) and seen["command"][1] == "serve"
    # no --models-root: the server Fiji starts takes its own default, the folder `omniclas` uses in that home
    assert "--models-root" not in seen["command"]
