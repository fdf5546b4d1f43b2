"""Start ImageJ 1.x with the OmniClas plugin in this Python process (scyjava/JPype, headless), once.

JPype can start only one JVM per process, so every Fiji test goes through :func:`start`.
Jars: ImageJ (``OMNICLAS_IJ_JAR``, default /usr/share/java/ij.jar), Gson (``OMNICLAS_GSON_JAR``, default
/usr/share/java/gson.jar) and the built plugin ``fiji_plugin/target/omniclas_fiji-*.jar`` (``OMNICLAS_PLUGIN_JAR``)
(``cd fiji_plugin && mvn -o -B -Dmaven.repo.local=/usr/share/maven-repo package``).
"""
from __future__ import annotations

import os
import shutil
import types
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_TARGET = ROOT / "fiji_plugin" / "target"
BUILD_HINT = "cd fiji_plugin && mvn -o -B -Dmaven.repo.local=/usr/share/maven-repo package"

_handles = None


def ij_jar() -> Path:
    return Path(os.environ.get("OMNICLAS_IJ_JAR", "/usr/share/java/ij.jar"))


def gson_jar() -> Path | None:
    env = os.environ.get("OMNICLAS_GSON_JAR")
    candidates = [Path(env)] if env else []
    candidates += [Path("/usr/share/java/gson.jar")] + sorted((PLUGIN_TARGET / "imagej-dist").glob("gson*.jar"))
    return next((p for p in candidates if p.is_file()), None)


def plugin_jar() -> Path | None:
    """``OMNICLAS_PLUGIN_JAR`` (an installed copy), else the jar the Maven build left in fiji_plugin/target."""
    if os.environ.get("OMNICLAS_PLUGIN_JAR"):
        return Path(os.environ["OMNICLAS_PLUGIN_JAR"])
    jars = sorted(p for p in PLUGIN_TARGET.glob("omniclas_fiji-*.jar") if not p.name.endswith(("-sources.jar", "-javadoc.jar")))
    plain = [p for p in jars if not p.name.endswith("-imagej.jar")]
    return (plain or jars or [None])[0]


def classpath() -> list[Path]:
    return [ij_jar(), gson_jar(), plugin_jar()]


def missing_reason() -> str | None:
    """Why the in-process ImageJ cannot run here, or None."""
    try:
        import jpype  # noqa: F401
        import scyjava  # noqa: F401
    except ImportError as err:
        return f"scyjava/JPype not installed ({err})"
    if not ij_jar().is_file():
        return f"ImageJ jar not found at {ij_jar()} (apt install libij-java or set OMNICLAS_IJ_JAR)"
    if gson_jar() is None:
        return "Gson jar not found (apt install libgoogle-gson-java or set OMNICLAS_GSON_JAR)"
    if plugin_jar() is None:
        return f"OmniClas Fiji plugin jar not built ({BUILD_HINT})"
    return None


def start():
    """Start the headless JVM (once) and return handles to the Java classes the tests use."""
    global _handles
    if _handles is not None:
        return _handles
    import jpype
    import scyjava

    if not jpype.isJVMStarted():
        scyjava.config.set_java_constraints(fetch="never")
        for jar in classpath():
            scyjava.config.add_classpath(str(jar))
        scyjava.config.add_option("-Djava.awt.headless=true")
        scyjava.start_jvm()
    elif not jpype.JClass("java.awt.GraphicsEnvironment").isHeadless():
        raise RuntimeError("a non-headless JVM is already running in this process")
    jimport = scyjava.jimport
    h = types.SimpleNamespace(
        IJ=jimport("ij.IJ"),
        ImagePlus=jimport("ij.ImagePlus"),
        Prefs=jimport("ij.Prefs"),
        Macro=jimport("ij.Macro"),
        Commands=jimport("org.omniclas.fiji.plugins.Commands"),
        Reporter=jimport("org.omniclas.fiji.ui.Reporter"),
        ImageClassifier=jimport("org.omniclas.fiji.ui.ImageClassifier"),
        ModelsWindow=jimport("org.omniclas.fiji.ui.ModelsWindow"),
        TrainWizard=jimport("org.omniclas.fiji.ui.TrainWizard"),
        Settings=jimport("org.omniclas.fiji.ui.Settings"),
        HttpOmniClasClient=jimport("org.omniclas.fiji.client.HttpOmniClasClient"),
    )
    h.Commands.register()
    _handles = h
    return h


def table_rows(rt) -> list[dict]:
    """An ImageJ ResultsTable as a list of dicts (string columns stay strings)."""
    headings = [str(c) for c in rt.getHeadings()]
    rows = []
    for i in range(int(rt.size())):
        row = {}
        for col in headings:
            if col in ("Label", " "):
                continue
            text = str(rt.getStringValue(col, i))
            try:
                row[col] = float(text) if text not in ("", "NaN") else (float("nan") if text == "NaN" else "")
            except ValueError:
                row[col] = text
        rows.append(row)
    return rows


def training_dataset(server, bbbc013: Path) -> tuple[Path, bool]:
    """A dataset the live server may train on: bbbc013 in place when it lies under the server's dataset root, else
    a small copy made there (two classes of 16 images, 20 unlabelled). Returns (folder, made_by_us)."""
    root = Path(str(server.dataset_root)).resolve()
    if bbbc013 == root or root in bbbc013.parents:
        return bbbc013, False
    dataset = root / f"fiji_train_{uuid.uuid4().hex[:6]}"
    for cls in ("NoGFP", "NuclearGFP"):
        (dataset / cls).mkdir(parents=True)
        for f in sorted((bbbc013 / cls).glob("*.png"))[:16]:
            shutil.copy(f, dataset / cls / f.name)
    (dataset / "unlabelled").mkdir()
    for f in sorted((bbbc013 / "unlabelled").glob("*.png"))[:20]:
        shutil.copy(f, dataset / "unlabelled" / f.name)
    return dataset, True


def same_as_cli(spec_value, cli_value) -> bool:
    """A job spec value (JSON) equals what TrainConfig(...).resolved() holds (image_size 0 means automatic: None)."""
    import math

    if cli_value is None and spec_value == 0:
        return True
    if isinstance(cli_value, float) or isinstance(spec_value, float):
        return math.isclose(float(spec_value), float(cli_value))
    return spec_value == cli_value


def check_spec_is_cli_defaults(spec: dict, dataset: Path, process: str, **chosen) -> None:
    """Every training option of the job equals what the CLI resolves for the process (with the options the user
    ``chosen``). Options this server does not take in jobs yet (server.schemas.JobSpec) must be absent: the
    plugin leaves them to the server's same default."""
    from omniclas.config import OPTIONS, TrainConfig
    from omniclas.server.schemas import JobSpec

    cli = TrainConfig(dataset=str(dataset), process=process, **chosen).resolved().to_dict()
    assert spec["process"] == process and Path(spec["dataset"]) == Path(dataset).resolve()
    for option in OPTIONS:
        if option.name in JobSpec.model_fields:
            assert same_as_cli(spec[option.name], cli[option.name]), (process, option.name, spec[option.name], cli[option.name])
        else:
            assert option.name not in spec, option.name
