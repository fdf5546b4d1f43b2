"""Every request and response body of the HTTP API, described once as a pydantic model.

These models are the one source of the server's input checks and of its OpenAPI document: ``openapi.py`` hands
them to spectree, which checks each request against them and writes the document from them. The training
options come from ``config.OPTIONS``: :data:`JobSpec` is built from it, types and bounds included, so a new
option needs no change here.

A few things a model states and the code below the server enforces, with its own messages and status codes:
names from the plug-in catalogues (backbones, measures, frameworks; marked :data:`CATALOGUE`, listed when the
document is served, since listing the backbones imports torch), the process (taken in the paper's spellings too),
the number of uploaded files (marked :data:`CONFIG_MAX_ITEMS`: the server's ``MAX_FILES``), and the path
parameters (the registry and the job manager check them with the same regular expressions).
"""
from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    StrictBool,
    StrictFloat,
    Tag,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from werkzeug.datastructures import FileStorage

from ..config import OPTIONS, PROCESSES, SUGGEST_N, SUGGEST_N_MAX, Option
from ..data.objects import MASK_OUTSIDE, MAX_PADDING
from ..data.roots import MAX_PATH_CHARS
from ..errors import ConfigError
from ..jobs.manager import JOB_ID_RE, LOG_TAIL_MAX
from ..registry.layout import NAME_RE
from ..report.measures import DEFAULT_MEASURES

CATALOGUE = "x-omniclas-enum"  # {"x-omniclas-enum": "backbones"}: "enum": the names GET /backbones lists
CONFIG_MAX_ITEMS = "x-omniclas-max-items"  # {"x-omniclas-max-items": "MAX_FILES"}: "maxItems" from the app config
JOB_STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
QUEUES = ("embedded", "redis")


def _catalogue(name: str, description: str) -> Any:
    return Field(description=description, json_schema_extra={CATALOGUE: name})


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def _maybe(description: str | None = None, **field) -> Any:
    """A field an answer leaves out where it does not apply (it is never null)."""
    return Field(None, description=description, json_schema_extra=_no_default, **field)


# ------------------------------------------------------------------------------------------------ values
REF_PATTERN = NAME_RE.pattern[:-1] + "(@[vV]?0*[1-9][0-9]{0,8})?$"  # MAX_VERSION_DIGITS
ModelName = Annotated[str, Field(pattern=NAME_RE.pattern, description="a model name: 1-100 letters, digits, '_', "
                                 "'-' or '.', starting with a letter or digit")]
ModelRef = Annotated[str, Field(pattern=REF_PATTERN, description="a model name, optionally with a version: 'cells' "
                                "or 'cells@2'")]
WholeModel = Annotated[str, Field(pattern=NAME_RE.pattern, description="a model name (all its versions)")]
JobId = Annotated[str, Field(pattern=JOB_ID_RE.pattern, description="a job id (12 hex digits)")]
ServerPath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$",
                                  description="a path under one of the server's dataset roots (absolute, or "
                                              "relative to a root), not blank")]
Measure = Annotated[str, _catalogue("measures", "a name from GET /measures")]
Framework = Annotated[str, _catalogue("frameworks", "a name from GET /frameworks")]
Process = Annotated[str, Field(description="a process id (GET /processes)",
                               json_schema_extra={"enum": list(PROCESSES)})]


def _upload(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage):
        raise ValueError("not an uploaded file")  # noqa: TRY004 - pydantic reports a ValueError as a refusal
    return value


Upload = Annotated[Any, BeforeValidator(_upload), WithJsonSchema({
    "type": "string", "format": "binary", "description": "a PNG, JPEG, TIFF or BMP file (read by its content); a file "
    "that cannot be read as one gets an error entry in the answer (200), the other files are still answered"})]


def _digits(value: Any) -> Any:
    """A query's integer as it is written: ASCII digits only (no sign, space or '_')."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("not a whole number")
    return value


def _form_bool(value: Any) -> Any:
    """A form's boolean as JSON and HTML forms write it: true or false."""
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise ValueError("not true or false")
        return value.strip().lower() == "true"
    return value


FormBool = Annotated[StrictBool, BeforeValidator(_form_bool)]


def _form_null(value: Any) -> Any:
    """A form field cannot carry JSON's null: its text "null", or an empty field, means the field was left out."""
    return None if isinstance(value, str) and value.strip().lower() in ("", "null") else value


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]  # spectree passes a single file as itself


# ------------------------------------------------------------------------------------------------ requests
UNSURE_THRESHOLD_HELP = ("a result is unsure below this calibrated confidence (0..1); default: the threshold the run "
                         "fitted for its target precision (docs/calibration.md)")


class Body(BaseModel):
    """A request body or query: a field the model does not name is refused."""

    model_config = ConfigDict(extra="forbid")
    FIELDS_ARE: ClassVar[str] = "field"  # what the message calls them: "unknown field(s): ..."


class Query(Body):
    model_config = ConfigDict(extra="ignore")  # other query parameters are ignored


class RenameBody(Body):
    new_name: ModelName


class RegisterBody(Body):
    name: ModelName


class EvaluateBody(Body):
    dataset: ServerPath
    models: list[ModelRef] = Field(min_length=1, description="the models to evaluate")
    measures: Annotated[list[Measure], Field(min_length=1)] | None = Field(
        None, description=f"default: {', '.join(DEFAULT_MEASURES)}")
    labels: ServerPath | None = Field(None, description="class list file, one class per line")


class SuggestBody(Body):
    """POST /suggest: which images of the dataset's unlabelled/ to label next."""

    dataset: ServerPath = Field(description="the dataset folder (<dataset>/<class>/..., <dataset>/unlabelled/...): a "
                                            "path under one of the server's dataset roots")
    model: ModelRef | None = Field(None, description="a registered model: the images it is least sure of; without "
                                                     "model and job, a cold start (typical, diverse images)")
    job: JobId | None = Field(None, description="instead of model: a finished training job, whose run is used")
    n: Annotated[int, Field(ge=1, le=SUGGEST_N_MAX), BeforeValidator(_whole)] = Field(
        SUGGEST_N, description="how many images to suggest")


class ObjectsForm(Body):
    """Objects: a label image per image, and how each object becomes a crop (docs/objects.md)."""

    FIELDS_ARE: ClassVar[str] = "form field"
    labels: Annotated[list[Upload], BeforeValidator(_as_list)] = Field(
        default_factory=list, description="a label image per image (PNG or TIFF, one channel of integers: 0 = background, n = object "
                          "n), matched by name (the image's stem, or with _masks, _cp_masks, _labels), else by order; a part "
                          "that is not a readable label image gives its image an error entry (200), not a refusal",
        json_schema_extra={CONFIG_MAX_ITEMS: "MAX_FILES"})
    padding: float = Field(0.0, ge=0, le=MAX_PADDING, description="context around each object, as a fraction of its "
                           "box (default 0: the bounding box)")
    mask_outside: Literal[MASK_OUTSIDE] = Field("none", description="pixels of a crop outside its object")
    min_area: int = Field(0, ge=0, description="objects with fewer pixels get a result with an error, no class")
    exclude_border: FormBool = Field(False, description="objects touching the border get an error, no class")

    @property
    def wants_objects(self) -> bool:
        """Label images, or an object option, sent."""
        return bool(self.labels) or bool(self.model_fields_set - {"model", "images", "labels", "unsure_threshold"})


class PredictForm(ObjectsForm):
    model: ModelRef
    images: Annotated[list[Upload], BeforeValidator(_as_list)] = Field(
        min_length=1, description="one or more images (a stack gives one result per page; with labels, one result "
                                  "per object)", json_schema_extra={CONFIG_MAX_ITEMS: "MAX_FILES"})
    unsure_threshold: Annotated[Annotated[float, Field(ge=0, le=1)] | None, BeforeValidator(_form_null)] = Field(
        None, description=UNSURE_THRESHOLD_HELP)


class CropsForm(ObjectsForm):
    images: Annotated[list[Upload], BeforeValidator(_as_list)] = Field(
        min_length=1, description="one or more images", json_schema_extra={CONFIG_MAX_ITEMS: "MAX_FILES"})


class ModelsQuery(Query):
    framework: Framework | None = None


class ExportQuery(Query):
    format: Literal["onnx", "bioimageio"] = Field("onnx", description="ONNX file, or BioImage Model Zoo package")


class LogQuery(Query):
    tail: Annotated[int, BeforeValidator(_digits)] = Field(100, ge=0, le=LOG_TAIL_MAX, description="how many lines")


class JobSpecBody(Body):
    FIELDS_ARE: ClassVar[str] = "job option"  # Fiji's wizard reads "unknown job option" (an older server)


def _whole(value: Any) -> Any:
    """JSON Schema's integer: 7, or 7.0 (taken as 7); not true, not "7"."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if type(value) is not int:
        raise ValueError("not an integer")
    return value


_KINDS = {"number": StrictFloat, "boolean": StrictBool}
_NARROWER = {  # what TrainConfig.resolved() takes where it is narrower than the option's bounds
    "image_size": lambda o: Annotated[Literal[0] | Annotated[int, Field(ge=32, le=o.maximum)], BeforeValidator(_whole)],
}


def _option_type(o: Option) -> Any:
    if o.name in _NARROWER:
        return _NARROWER[o.name](o)
    if o.type == "choice":
        return Literal[tuple(o.choices)]
    if o.type == "multichoice" and o.choices:
        return list[Literal[tuple(o.choices)]]
    if o.type == "multichoice":  # chosen from a catalogue named after the option: at least one, none twice
        item = Annotated[str, _catalogue(o.name, f"a name from GET /{o.name}")]
        return Annotated[list[item], Field(min_length=1, json_schema_extra={"uniqueItems": True})]
    bounds = Field(ge=o.minimum, le=o.maximum)
    if o.type == "integer":
        return Annotated[int, bounds, BeforeValidator(_whole)]
    return Annotated[_KINDS[o.type], bounds]


Fraction = Annotated[StrictFloat, Field(gt=0, lt=1)]
# null, or a field left out: the process's own default
JobSpec = create_model(
    "JobSpec", __base__=JobSpecBody, dataset=(ServerPath, Field(description="the dataset folder: a path under one of "
                                                                          "the server's dataset roots, not blank")),
    process=(Process | None, None),
    **{o.name: (_option_type(o) | None, Field(None, description=o.help)) for o in OPTIONS},
    test_fraction=(Fraction | None, None), valid_fraction=(Fraction | None, None), bf16=(StrictBool | None, None),
    kind=(Literal["train"] | None, Field(None, description="train (the default): a training job")))


class PredictJobSpec(Body):
    """A predict job: a folder's images classified into a results CSV (docs/results-csv.md)."""

    kind: Literal["predict"] = Field(description="predict: classify a folder")
    model: ModelRef
    folder: ServerPath = Field(description="the folder of images (searched recursively): a path under one of the "
                                           "server's dataset roots")
    shard_size: Annotated[int, Field(ge=1, le=10_000_000), BeforeValidator(_whole)] | None = Field(
        None, description="images per shard (RQ mode: one RQ job per shard; default 2000)")
    batch_size: Annotated[int, Field(ge=1, le=1024), BeforeValidator(_whole)] | None = Field(
        None, description="images classified at a time (default 64)")
    unsure_threshold: Annotated[float, Field(ge=0, le=1)] | None = Field(None, description=UNSURE_THRESHOLD_HELP)


def _kind(body: Any) -> str | None:
    return body.get("kind") or "train" if isinstance(body, dict) else None


class JobRequest(RootModel):
    """POST /jobs: a training job (``kind`` left out or ``train``) or a predict job (``kind``: ``predict``)."""

    root: Annotated[Annotated[JobSpec, Tag("train")] | Annotated[PredictJobSpec, Tag("predict")], Discriminator(_kind)]
    FIELDS_ARE: ClassVar[str] = "field"

    @staticmethod
    def variant(body: Any) -> type[BaseModel]:
        """The model a refused body is checked against again, for a message naming its field."""
        kind = _kind(body)
        if kind not in (None, "train", "predict"):
            raise ConfigError(f"kind must be train or predict, got {kind!r}", field="kind")
        return PredictJobSpec if kind == "predict" else JobSpec


def given(body: BaseModel) -> dict:
    """The fields a request set, null ones left out (null: the default)."""
    return body.model_dump(exclude_unset=True, exclude_none=True)


# ------------------------------------------------------------------------------------------------ refusals
@cache
def _properties(model: type[BaseModel]) -> dict:
    return model.model_json_schema()["properties"]


def _number(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def describe(schema: dict) -> str:
    """What a JSON schema allows, in words: "an integer from 0 to 50", "one of onnx, bioimageio"."""
    if "anyOf" in schema:
        return " or ".join(describe(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "const" in schema:
        return str(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type")
    if kind == "array":
        least = schema.get("minItems")
        return f"a list, each {describe(schema.get('items', {}))}" + \
            (f" (at least {least}{', none twice' if schema.get('uniqueItems') else ''})" if least else "")
    if kind in ("number", "integer"):
        what = "a number" if kind == "number" else "an integer"
        if "exclusiveMinimum" in schema and "exclusiveMaximum" in schema:
            return f"{what} strictly between {_number(schema['exclusiveMinimum'])} and " \
                   f"{_number(schema['exclusiveMaximum'])}"
        if "minimum" in schema and "maximum" in schema:
            return f"{what} from {_number(schema['minimum'])} to {_number(schema['maximum'])}"
        return what
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return schema.get("description") or "a string"
    return schema.get("description") or "a value of the documented type"


UNKNOWN_SHOWN = 10  # unknown fields named in a refusal; the rest are counted


def refusal(err: ValidationError, model: type[BaseModel]) -> ConfigError:
    """The first problem pydantic found with a request, as the API's error (400): its message names the field and
    says what the field takes."""
    errors = sorted(err.errors(include_url=False), key=lambda e: e["type"] != "missing")
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        shown = ", ".join(name if len(name) <= 60 else name[:57] + "..." for name in unknown[:UNKNOWN_SHOWN])
        more = f" and {len(unknown) - UNKNOWN_SHOWN} more" if len(unknown) > UNKNOWN_SHOWN else ""
        return ConfigError(f"unknown {model.FIELDS_ARE}(s): {shown}{more}; this route takes "
                           f"{', '.join(model.model_fields)}", field=unknown[0][:60])
    first = errors[0]
    if not first["loc"]:
        return ConfigError("the request body must be a JSON object (Content-Type: application/json)", field="body")
    field = str(first["loc"][0])
    schema = _properties(model).get(field, {})
    if first["type"] == "missing":
        return ConfigError(f"{field} is required: {describe(schema)}", field=field)
    value = first["input"]
    if first["type"] == "string_too_long":
        return ConfigError(f"{field} is too long ({len(value)} characters; at most {first['ctx']['max_length']})",
                           field=field)
    shown = repr(value) if not isinstance(value, FileStorage) else "a file"
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ConfigError(f"{field} must be {describe(schema)}, got {shown}", field=field)
