"""Training commands: ``train``, ``demo``, ``backbones``, ``processes``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import OPTIONS, PROCESSES, RUNTIMES, TrainConfig
from .output import ProgressPrinter, open_report_hint, print_summary


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def add_training_options(parser) -> None:
    """One flag per training option, from the same table the server and Fiji use (config.OPTIONS); every default
    is None, so the process's own default applies unless the flag is given."""
    groups = {}
    for opt in OPTIONS:
        group_name = "distillation" if opt.applies.get("distills") or opt.applies.get("tta") or \
            opt.applies.get("iterative") else "models"
        group = groups.setdefault(group_name, parser.add_argument_group(group_name))
        flag = "--" + opt.name.replace("_", "-")
        help_text = opt.help + (f" (choices: {', '.join(opt.choices)})" if opt.choices and opt.type == "multichoice"
                                else "")
        if opt.type == "boolean":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif opt.type == "choice":
            group.add_argument(flag, choices=opt.choices, default=None, help=help_text)
        elif opt.type == "multichoice":
            none = ", 'none' for none" if opt.name == "transforms" else ""  # a run needs at least one backbone
            group.add_argument(flag, type=_csv, default=None, help=help_text + "; comma-separated" + none)
        else:
            group.add_argument(flag, type=float if opt.type == "number" else int, default=None, help=help_text)



def add_commands(sub) -> None:
    t = sub.add_parser("train", help="train a classifier on a dataset folder")
    t.add_argument("dataset", help="folder with one sub-folder per class, optional unlabelled/ and test/")
    t.add_argument("--out", dest="out_dir", help="run folder to write (default runs/<dataset>-<process>-<time>)")
    t.add_argument("--process", default="auto", help=f"one of {', '.join(PROCESSES)} (default auto: AutoML tries N.D. "
                   "and the iterative processes with every selection rule, and keeps the best); 'omniclas processes' "
                   "describes them")
    add_training_options(t)
    o = t.add_argument_group("other")
    o.add_argument("--test-fraction", type=float, help="share of each class held out for testing (default 0.25)")
    o.add_argument("--valid-fraction", type=float, help="validation share for fine-tuned heads (default 0.2)")
    o.add_argument("--cv-folds", type=int, help="cross-validation folds for linear heads (default 5)")
    o.add_argument("--runtime", choices=RUNTIMES, help="where frozen bodies run (default auto: the fastest installed)")
    o.add_argument("--no-bf16", dest="bf16", action="store_false", default=None, help="run inference in float32")
    o.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.set_defaults(func=cmd_train)

    dm = sub.add_parser("demo", help="make a synthetic cell dataset, train on it and classify: the whole job")
    dm.add_argument("--out", default="omniclas-demo", help="folder for the demo's data and run")
    dm.add_argument("--process", default="auto", help="the process (default auto)")
    dm.set_defaults(func=cmd_demo)

    sub.add_parser("backbones", help="list the backbones").set_defaults(func=cmd_backbones)
    sub.add_parser("processes", help="list the seven training processes").set_defaults(func=cmd_processes)


def cmd_train(args) -> int:
    from ..engine import train

    names = ["dataset", "out_dir", "process", "test_fraction", "valid_fraction", "cv_folds", "runtime", "bf16"]
    fields = {k: getattr(args, k) for k in names + [o.name for o in OPTIONS]}
    fields = {k: (() if v == ("none",) else v) for k, v in fields.items() if v is not None}
    cfg = TrainConfig(**fields)
    try:
        result = train(cfg, progress=ProgressPrinter(), resume=args.resume)
    except KeyboardInterrupt:
        args.out_dir = cfg.out_dir  # the folder the engine chose: the resume command names it
        raise
    print_summary(result.manifest, result.run_dir)
    print("\n" + open_report_hint(result.run_dir))
    return 0



FIJI_STEPS = 'README.md, "From your images to Fiji in five steps"'


def cmd_demo(args) -> int:
    from ..data.synthetic import make_synthetic_dataset
    from ..engine import train
    from ..model.predictor import Predictor

    out = Path(args.out)
    data = out / "data"
    if not data.exists():
        print(f"Writing a small synthetic dataset of fluorescence-like cells (3 phenotypes) to {data}.\n"
              "These images are SYNTHETIC, made to show the tool working end to end.")
        make_synthetic_dataset(data)
    # Running the demo again adds a run beside the earlier ones (run, run-2, ...): nothing is overwritten.
    run_dir = next(out / name for name in ["run"] + [f"run-{i}" for i in range(2, 10_000)] if not (out / name).exists())
    result = train(TrainConfig(dataset=str(data), out_dir=str(run_dir), process=args.process),
                   progress=ProgressPrinter())
    print_summary(result.manifest, result.run_dir)
    truth = dict(line.split(",") for line in (out / "data-unlabelled-truth.csv").read_text().split()[1:])
    auto = result.manifest["auto_labelled"]
    if auto:
        right = sum(truth.get(Path(a["path"]).name) == a["class"] for a in auto)
        print(f"\nAutomatic labels: {right} of {len(auto)} agree with the synthetic ground truth.")
    predictor = Predictor.load(result.run_dir)
    sample = sorted((data / "unlabelled").iterdir())[:5]
    print("\nClassifying a few images with the saved model:")
    for path, r in zip(sample, predictor.predict_images(sample)):
        print(f"  {path.name}: {r['class']} ({r['confidence']:.2f}); true: {truth[path.name]}")
    print(f"\nRun folder: {result.run_dir}\n{open_report_hint(result.run_dir)}")
    print(f"\nNext, with your own images in Fiji: {FIJI_STEPS}\n"
          "  (omniclas fiji install /path/to/Fiji.app, then Plugins > OmniClas > Label Images...)")
    return 0


def cmd_backbones(args) -> int:
    from ..model.backbones import list_backbones

    for b in list_backbones():
        print(f"{b.name:<20} {b.family:<12} {'offline' if b.offline else 'downloads ImageNet weights on first use'}")
    return 0


def cmd_processes(args) -> int:
    for p in PROCESSES.values():
        print(f"{p.id:<5} {p.name:<9} {p.description}")
    return 0

