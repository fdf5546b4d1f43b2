"""Every response body of the HTTP API as a pydantic model, from which the OpenAPI document describes the answers
(the requests are in :mod:`.schemas`). Answers are described, not checked while serving (see :mod:`.openapi`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, create_model

from ..config import OPTIONS, PROCESSES
from .schemas import JOB_STATES, QUEUES, Framework, JobId, JobSpec, Measure, ModelName, PredictJobSpec, _maybe


class Answer(BaseModel):
    """A response body (other fields may join later: clients ignore what they do not know)."""


class ErrorDetail(Answer):
    status: int
    message: str
    field: str = _maybe("the request field at fault")
    id: str = _maybe("server errors: the id of the log entry")


class Error(Answer):
    error: ErrorDetail


class Health(Answer):
    status: str
    version: str
    auth_required: bool
    queue: Literal[QUEUES]
    bf16: bool | Literal["auto"]
    dataset_roots: list[str] = _maybe("only for callers that may train: no token set, or the token sent")
    models_root: str = _maybe("the models folder this server registers into; only for callers that may train, like "
                              "dataset_roots")


class FrameworkInfo(Answer):
    name: str
    description: str
    error: str = _maybe("why the plug-in cannot be loaded")


class Frameworks(Answer):
    frameworks: list[Framework]
    details: list[FrameworkInfo]


class BackboneInfo(Answer):
    name: str
    offline: bool
    default: bool
    family: str


class Backbones(Answer):
    backbones: list[BackboneInfo]


ProcessDefaults = create_model("ProcessDefaults", __base__=Answer, **{o.name: (Any, ...) for o in OPTIONS})


class ProcessInfo(Answer):
    id: Literal[tuple(PROCESSES)]
    name: str
    description: str
    needs_unlabelled: bool
    ensemble: bool
    tta: bool
    iterative: bool
    distills: bool
    automl: bool
    max_backbones: int | None
    defaults: ProcessDefaults


class OptionInfo(Answer):
    name: str
    label: str
    type: Literal["choice", "multichoice", "number", "integer", "boolean"]
    help: str
    applies: dict[str, Any]
    advanced: bool
    choices: list[str] = _maybe()
    minimum: float = _maybe()
    maximum: float = _maybe()


class Processes(Answer):
    processes: list[ProcessInfo]
    options: list[OptionInfo]


class MeasureInfo(Answer):
    name: str
    kind: str
    description: str


class Measures(Answer):
    measures: list[Measure]
    details: list[MeasureInfo]


class OpenAPIDocument(RootModel[dict[str, Any]]):
    """This document."""


class Model(Answer):
    name: ModelName
    version: int = Field(ge=1)
    framework: Framework
    classes: list[str]
    backbone: str | None = Field(description="display text")
    input_size: Annotated[list[int], Field(min_length=2, max_length=2)] | None
    metrics: dict[str, float]
    created: str | None
    versions: list[int]
    manifest: dict[str, Any] = _maybe("only from GET /models/{name}")


class Models(Answer):
    models: list[Model]


class Deleted(Answer):
    deleted: str


class Top(Answer):
    class_: str = Field(alias="class")
    probability: float


class Result(Answer):
    """One image (one page of a stack): its class, or, for an image that could not be classified (unreadable,
    corrupt, unsupported, over the per-image limits), ``error`` instead."""

    image: str = Field(description="the uploaded file's own name")
    slice: int = _maybe("page of a stack (1, 2, ...)")
    error: str = _maybe("only for an image that could not be classified, which then has no class: 'NAME: reason'")
    class_: str = _maybe(alias="class")
    confidence: float = _maybe("calibrated: the run's temperature applied (docs/calibration.md)")
    unsure: bool = _maybe("the confidence is below the unsure threshold: check this result by eye")
    runner_up: Top | None = _maybe("the second most probable class")
    probabilities: dict[str, float] = _maybe()
    top: list[Top] = _maybe(max_length=5)


class ObjectResult(Result):
    """One object of a label image (or an image whose files could not be read: image and error only)."""

    object: int = _maybe("its label value", ge=1)
    x: float = _maybe("centroid, pixels")
    y: float = _maybe()
    bbox_x: int = _maybe("bounding box, pixels")
    bbox_y: int = _maybe()
    bbox_width: int = _maybe()
    bbox_height: int = _maybe()
    area: int = _maybe("pixels")
    border: bool = _maybe("it touches the border of the image")


class ObjectSummary(Answer):
    image: str
    labels: str = _maybe("the label image's name")
    slice: int = _maybe()
    objects: int = _maybe()
    classified: int = _maybe()
    border: int = _maybe()
    below_min_area: int = _maybe()
    absent_values: int = _maybe("label values between 1 and the largest that no pixel has")
    absent_first: list[int] = _maybe()
    binary_mask: bool = _maybe()


class Predictions(Answer):
    model: ModelName
    version: int
    results: list[Result | ObjectResult] = Field(description="one per image (page); with label images, one per "
                                                             "object")
    objects: list[ObjectSummary] = _maybe("with label images: each field's objects, counted")


class Skipped(Answer):
    path: str
    reason: str


class ModelScores(Answer):
    framework: str
    model: str
    version: int
    measures: dict[str, float | None]


class Evaluation(Answer):
    dataset: str
    classes: list[str]
    images: int
    skipped: list[Skipped]
    measures: list[Measure]
    results: list[ModelScores]


class Job(Answer):
    id: JobId
    job_id: str = _maybe("only in the answer to POST /jobs")
    state: Literal[JOB_STATES]
    spec: JobSpec | PredictJobSpec  # a training job's options, or a predict job's (kind: predict)
    created: str
    started: str | None
    finished: str | None
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    cancel_requested: bool
    resumable: bool
    queue: Literal[QUEUES]


class Jobs(Answer):
    jobs: list[Job]


class LogLines(Answer):
    lines: list[str]




class Suggestion(Answer):
    rank: int = Field(ge=1, description="1 = label first")
    image: str = Field(description="the image's path relative to the dataset folder ('unlabelled/a.png')")
    reason: str = Field(description="why it is suggested, in words")
    guess: str | None = Field(description="the model's class for it (null without a model)")
    confidence: float | None = Field(description="the model's confidence in its guess (null without a model)")


class Suggestions(Answer):
    dataset: str = Field(description="the dataset folder, resolved")
    model: str | None = Field(description="'name@version', 'job:<id>', or null (a cold start)")
    strategy: Literal["cold-start", "uncertain"]
    notes: list[str] = Field(description="what the caller should know: classes added since the model was trained, "
                                         "images left out, fewer images than asked")
    suggestions: list[Suggestion] = Field(description="best first")
