"""What each stage records as its outputs in `runs/<run>/manifest.json`: one TypedDict per stage.

A stage's `run` returns its type; a later stage reads it with `ctx.outputs("<stage>")`, which is typed by the
stage name (recipes/stage.py), so a key that a stage does not record is a type error, not a silent miss.
The shapes live here, on the ground floor, rather than beside each stage: readers in other packages (the GRPO
backends read `rl_data` and `grpo`, `sft_data` reads `distill`) then import no stage module, and no cycle
forms. The manifest holds these dicts as JSON, unchanged: values are strings, numbers and lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

HF_MODEL = "hf"
"""The `format` output of a stage whose `checkpoint` is a Hugging Face model directory, the default when a
stage records no `format` (SFT). Another format (verl's FSDP shards) is not a model until the merge stage ran."""


class DistillOutputs(TypedDict):
    """`distill`: the teacher's accepted responses (SFT/distill/stage.py)."""

    data: str
    """The cold-start set, `train.parquet`, that `sft_data` converts."""
    report: str
    rows: int
    problems: int
    problems_with_kept: int
    acceptance_rate: float


class SftDataOutputs(TypedDict):
    """`sft_data`: ms-swift JSON lines and their images (SFT/data_stage.py)."""

    train: str
    images: str
    rows: int
    rejected: int
    rejects: NotRequired[str]
    """The rejects file, when `data.on_bad_row=skip` rejected rows."""


class SftOutputs(TypedDict):
    """`sft`: the checkpoint handed to GRPO (`sft.checkpoint`: last or best) (SFT/train_stage.py)."""

    checkpoint: str
    last_checkpoint: str
    best_checkpoint: str
    """Empty when no eval loss was recorded."""
    global_step: int
    train_rows: int
    output_dir: str
    log: str


class RlDataOutputs(TypedDict):
    """`rl_data`: verl parquet for training and validation (GRPO/data_stage.py)."""

    train: str
    val: str
    rows_train: int
    rows_val: int
    rejected: int
    rejects: NotRequired[list[str]]
    """The rejects files, when `data.on_bad_row=skip` rejected rows."""


class GrpoOutputs(TypedDict):
    """`grpo`: the newest checkpoint of either backend (GRPO/train_stage.py, GRPO/{verl,swift}_backend.py)."""

    checkpoint: str
    format: str
    """`hf` (`HF_MODEL`: a Hugging Face model, ms-swift) or `verl_fsdp` (shards: merge first)."""
    step: int
    steps_planned: NotRequired[int]
    """verl: the step count the converted rows give."""
    reward_mean: NotRequired[list[float]]
    """ms-swift: the mean reward of each logged step."""
    reward_mean_last: NotRequired[float | None]
    log: NotRequired[str]


class MergeOutputs(TypedDict):
    """`merge`: grpo's checkpoint as one Hugging Face model (GRPO/merge_stage.py)."""

    model: str
    checkpoint: str
    """What the model was made from."""
    step: NotRequired[int]
    num_parameters: NotRequired[int]
    dtype: NotRequired[str]
    world_size: NotRequired[int]
    resumed: NotRequired[bool]
    """verl: the merged model was already written by an earlier attempt."""


class EvalOutputs(TypedDict):
    """`eval`: the report files and the headline (evaluation/stage.py).

    Beside these keys the stage records `<benchmark>_accuracy` (a number) for every benchmark evaluated; a
    TypedDict cannot name keys made from data, so those are read from results.json (evaluation/results.py).
    """

    predictions: str
    verdicts: str
    results: str
    report: str
    plot: str
    model: str
    average: float | None
    items_per_s: NotRequired[float]


STAGE_OUTPUTS: dict[str, type] = {
    "distill": DistillOutputs, "sft_data": SftDataOutputs, "sft": SftOutputs, "rl_data": RlDataOutputs,
    "grpo": GrpoOutputs, "merge": MergeOutputs, "eval": EvalOutputs,
}
"""Stage name -> the type of its outputs (every stage of recipes.stage.STAGES)."""


def grpo_model(grpo: GrpoOutputs) -> str | None:
    """grpo's checkpoint when it is a Hugging Face model (ms-swift's), else None (verl's shards: merge first)."""
    return grpo.get("checkpoint") if grpo.get("format") == HF_MODEL else None


class RunOutputs(TypedDict, total=False):
    """The outputs of a run's finished stages, by stage name (`done_outputs`)."""

    distill: DistillOutputs
    sft_data: SftDataOutputs
    sft: SftOutputs
    rl_data: RlDataOutputs
    grpo: GrpoOutputs
    merge: MergeOutputs
    eval: EvalOutputs


DONE = "done"
"""A finished stage's status in the manifest (recipes/pipeline/manifest.py writes it)."""


def done_outputs(manifest: Mapping[str, Any]) -> RunOutputs:
    """The outputs of the finished stages of a manifest's data, typed per stage."""
    return cast(RunOutputs, {n: e.get("outputs", {}) for n, e in manifest.get("stages", {}).items()
                             if e.get("status") == DONE})
