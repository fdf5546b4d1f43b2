"""``POST /suggest``: which images of a dataset's ``unlabelled/`` to label next (docs/http-api.md), as
``omniclas suggest`` answers it (:mod:`omniclas.engine.suggest`)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..data.roots import check_tree_under_roots
from ..errors import ConfigError
from ..jobs.manager import JobNotFound, JobStateError
from .answers import Error, Suggestions
from .api import dataset_folder
from .openapi import Answers, validate
from .schemas import SuggestBody

suggest_bp = Blueprint("suggest", __name__)


@suggest_bp.post("/suggest")
@validate("labelling", Answers(HTTP_200=Suggestions, HTTP_404=(Error, "no such dataset, model or job")),
          json=SuggestBody)
def suggest():
    """which images of the dataset's unlabelled/ to label next, best first: without a model typical, diverse
    images (a cold start); with one, those it is least sure of, spread over the pool"""
    from ..engine.suggest import suggest as pick

    body = request.context.json
    svc = current_app.extensions["omniclas"]
    roots = current_app.config["DATASET_ROOTS"]
    dataset = dataset_folder(body.dataset, roots)
    check_tree_under_roots(dataset, roots)
    if body.model and body.job:
        raise ConfigError("give model or job, not both", field="job")
    model, name = None, None
    if body.model:
        model_name, version, _, model = svc.registry.load(body.model, field="model")
        name = f"{model_name}@{version}"
    elif body.job:
        model, name = _job_model(svc.jobs, body.job), f"job:{body.job}"
    return jsonify(pick(dataset, body.n, model, name).to_dict())


def _job_model(jobs, job_id: str):
    """The model a finished training job left in its run folder."""
    from ..model.predictor import Predictor

    try:
        job = jobs.raw(job_id)
    except JobNotFound as err:
        raise JobNotFound(str(err), field="job") from None
    run_dir = (job.get("result") or {}).get("run_dir")
    if job["state"] != "finished" or not run_dir:
        what = "a predict job, not a training job" if job.get("spec", {}).get("kind") == "predict" else \
            f"{job['state']}; its model is there when it finishes"
        raise JobStateError(f"job {job_id} is {what}", field="job")
    return Predictor.load(run_dir)
