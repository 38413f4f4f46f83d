"""The pipeline's typed config schema (one dataclass per Hydra group), registered with Hydra.

Defaults are the paper's 7B recipe; `recipes/conf/*.yaml` override only what differs. Each field is
documented once, here or on the stage's own dataclass (SFT/config.py, GRPO/config.py,
evaluation/config.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING, DictConfig

from evaluation.config import EvalConfig
from GRPO.config import VERL_ROLLOUTS, GRPOConfig, MergeConfig
from GRPO.paper import paper as grpo_paper
from recipes.ablation import ABLATIONS
from recipes.checks import Problem, check, free, problem_from
from recipes.data.rows import ON_BAD_ROW
from recipes.ray_launch import LAUNCHERS, in_ray_job
from recipes.stage import STAGES
from recipes.tracking import LOGGERS
from SFT.config import SFTConfig
from SFT.distill.config import DistillConfig
from SFT.flags import SFTConfigError, gradient_accumulation
from SFT.paper import SYSTEM_PROMPT
from SFT.paper import paper as sft_paper

MAX_PIXELS: int = grpo_paper("data.max_pixels")
"""The paper's per-image pixel ceiling (SFT MAX_PIXELS and GRPO data.max_pixels)."""
MIN_PIXELS: int = grpo_paper("data.min_pixels")
"""The paper's per-image pixel floor for GRPO (data.min_pixels)."""

TORCH_DTYPES = ("bfloat16", "float16", "float32")
DEVICES = ("cuda", "cpu")
PATCH_PIXELS = 28 * 28
"""The smallest image Qwen2.5-VL's processor makes: one 28 x 28 merged patch."""

DEFAULT_STAGES = STAGES[1:]
"""The paper's pipeline: every stage but `distill` (the paper trains on the released cold-start set)."""


@dataclass
class ModelConfig:
    """The base model that stage 1 starts from."""

    path: str = free(sft_paper("model.path"), "a hub id, a local directory or tiny:<name>; fetched before stage 1")
    """Hub id, local directory, or `tiny:model` / `tiny:qwen3_vl` for the offline tiny Qwen2.5-VL / Qwen3-VL.
    Its family (recipes/families.py) decides the template, image tokens and pixel factor the stages use."""
    template: str = free(sft_paper("model.template"), "an ms-swift template name, checked by ms-swift's parser and against the family")
    """ms-swift template; must be the model family's (recipes/families.py), checked before SFT and GRPO."""
    torch_dtype: str = check(sft_paper("model.torch_dtype"), choices=TORCH_DTYPES)
    """Training dtype (`float32` on CPU)."""


@dataclass
class DataConfig:
    """Where the training data comes from and how it is shaped. Sources are hub ids, local paths,
    or `tiny:<name>` for the synthetic offline sets."""

    sft_source: str = free("WaltonFuture/Multimodal-Cold-Start", "a hub id, a local path or tiny:<name>")
    """Cold-start chain-of-thought set (problem, answer, images)."""
    sft_split: str = free("train", "a split name of the source")
    """Split of `sft_source` to convert."""
    rl_source: str = free("WaltonFuture/Multimodal-RL-Data", "a hub id, a local path or tiny:<name>")
    """RL set (problem, answer, images)."""
    rl_split: str = free("train", "a split name of the source")
    """Split of `rl_source` to convert."""
    val_source: str = free("hiyouga/geometry3k", "a hub id, a local path or tiny:<name>")
    """Validation set during GRPO (reference: geometry3k test)."""
    val_split: str = free("test", "a split name of the source")
    """Split of `val_source` to convert."""
    system_prompt: str = free(SYSTEM_PROMPT, "any text")
    """SFT's system message (reference `SFT/sys_prompt.txt`)."""
    rl_system_prompt: bool = check(False)
    """Also write `system_prompt` as the system message of every RL and validation prompt. Off (the
    reference): the raw problem as one user turn; Qwen's chat template then adds its default system."""
    max_pixels: int = check(MAX_PIXELS, ge=PATCH_PIXELS)
    """Per-image pixel ceiling after Qwen's resize (larger images are rejected at conversion); SFT's MAX_PIXELS,
    and written into every RL image for verl."""
    min_pixels: int = check(MIN_PIXELS, ge=PATCH_PIXELS)
    """Per-image pixel floor of the RL images (written into each; SFT uses the model family's own floor)."""
    max_prompt_length: int = check(grpo_paper("data.max_prompt_length"), ge=1)
    """Prompt token limit (rows longer are rejected at conversion, not mid-training)."""
    on_bad_row: str = check("error", choices=ON_BAD_ROW)
    """`error` stops at the first bad row; `skip` writes it to a rejects file and goes on."""
    num_workers: int = check(2, ge=1)
    """Processes used by the converters."""
    max_rows: int | None = check(None, ge=1)
    """Convert only the first N rows (smoke tests); null converts everything."""

    @staticmethod
    def relations(data: DictConfig) -> list[Problem]:
        if data.min_pixels > data.max_pixels:
            return [Problem("data.min_pixels", data.min_pixels, f"must be <= data.max_pixels ({data.max_pixels})")]
        return []


@dataclass
class ClusterConfig:
    """Where the jobs run: torchrun geometry for ms-swift, Ray for verl."""

    nnodes: int = check(1, ge=1)
    nproc_per_node: int = check(8, ge=1)
    """GPUs (processes) per node."""
    node_rank: int = check(0, ge=0)
    master_addr: str = free("127.0.0.1", "a host name or IP address")
    master_port: int = check(29500, ge=1, le=65535)
    address: str | None = free(None, "a Ray address (ray://host:10001, auto, host:port)")
    """Ray cluster address (`ray://host:10001` or `auto`); null starts a local head."""
    launcher: str = check("auto", choices=LAUNCHERS)
    """How SFT gets its nodes: `ray` (a placement group, one bundle per node; recipes/ray_launch.py), `local`
    (torchrun on this node; other nodes run their printed command), or `auto`: ray when `address` is set or
    inside a Ray job, else local."""
    placement_timeout_s: float = check(600, gt=0)
    """How long a stage waits for Ray to place its bundles before it fails, naming the cluster's free resources."""
    device: str = check("cuda", choices=DEVICES)
    """`cuda` on GPU nodes, `cpu` for the tiny world."""

    @staticmethod
    def relations(cluster: DictConfig) -> list[Problem]:
        out = []
        if cluster.node_rank >= cluster.nnodes:
            out.append(Problem("cluster.node_rank", cluster.node_rank, f"must be < cluster.nnodes ({cluster.nnodes})"))
        if cluster.launcher == "ray" and not cluster.address and not in_ray_job():
            out.append(Problem("cluster.launcher", "ray", "ray needs a Ray cluster: set cluster.address (auto, "
                               "ray://HOST:10001) or use cluster=ray, or submit with `rlcs submit`"))
        return out


@dataclass
class HubConfig:
    """How hub ids are fetched before any GPU stage starts."""

    cache_dir: str | None = free(None, "a directory")
    """One Hugging Face cache every node can read (e.g. shared NFS); null uses HF_HOME's default."""
    offline: bool = check(False)
    """Never contact the hub: every id must already be in the cache (HF_HUB_OFFLINE=1 also forces this)."""
    push_to: str | None = check(None, pattern=r"[\w.-]+/[\w.-]+")
    """`ORG/NAME`: after the run, upload the merged model, its card (from results.json) and the curves there
    (recipes/pipeline/push.py; `rlcs push RUN` does the same later). Needs HF_TOKEN and hub.offline=false."""
    private: bool = check(True)
    """Create the pushed repo private (a collaborator is invited on the Hub)."""


@dataclass
class TrackerConfig:
    """Where both stages' metrics go when `logger` is set (recipes/tracking.py)."""

    project: str | None = free(None, "any tracker project name")
    """Tracker project (wandb project, mlflow experiment, swanlab project); null: `grpo.project_name`."""
    group: str | None = free(None, "any group name")
    """The run's group (SFT and GRPO side by side); null: the run name."""


@dataclass
class PipelineConfig:
    """A recipe: which stages to run on which model and data, with which settings."""

    run_name: str = check(MISSING, pattern=r"[\w.+-]+")
    """Outputs go to `<runs_dir>/<run_name>/`."""
    runs_dir: str = free("runs", "a directory")
    stages: list[str] = check(factory=lambda: list(DEFAULT_STAGES), choices=STAGES)
    """The stages to run, a subset of distill, sft_data, sft, rl_data, grpo, merge, eval (kept in pipeline
    order); `distill` (build the cold-start set from a teacher) is off unless named."""
    ablation: str = check("full", choices=tuple(ABLATIONS))
    """`full` (SFT then GRPO), `rl_only` (GRPO from the base model), `sft_only` (no GRPO) or `base` (evaluate
    the base model): keeps only that ablation's stages, in run `<run_name>_<ablation>` (recipes/ablation.py)."""
    dry_run: bool = check(False)
    """Print every stage's exact command and outputs; run nothing."""
    rerun: list[str] = check(factory=list, choices=STAGES)
    """Stages to run again even if finished (their old output is moved aside, never deleted)."""
    logger: list[str] | None = check(None, choices=(*LOGGERS, "console", "none"))
    """Trackers for both stages: tensorboard, wandb, mlflow, swanlab (ms-swift `--report_to`, verl
    `trainer.logger`); null leaves `sft.report_to` and `grpo.loggers` as they are. Offline without credentials."""
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    hub: HubConfig = field(default_factory=HubConfig)

    @staticmethod
    def relations(cfg: DictConfig) -> list[Problem]:
        """Rules between groups, for the stages this run selects."""
        out: list[Problem] = []
        cluster, grpo = cfg.cluster, cfg.grpo
        if "sft" in cfg.stages:
            try:
                gradient_accumulation(cfg.sft, cluster)
            except SFTConfigError as err:
                out.append(problem_from("sft.global_batch_size", cfg.sft.global_batch_size, str(err)))
        if "grpo" in cfg.stages and grpo.backend == "verl":
            if cluster.device != "cuda":
                out.append(Problem("grpo.backend", "verl", f"needs cluster.device=cuda, not {cluster.device!r}: verl "
                                   "cannot take a GRPO step on a CPU; use grpo.backend=swift (the tiny recipe does)"))
            if grpo.rollout_engine not in VERL_ROLLOUTS:
                out.append(Problem("grpo.rollout_engine", grpo.rollout_engine,
                                   f"one of {', '.join(VERL_ROLLOUTS)} with grpo.backend=verl"))
        if "grpo" in cfg.stages and cluster.device == "cuda" and cluster.nproc_per_node % grpo.tensor_parallel_size:
            out.append(Problem("grpo.tensor_parallel_size", grpo.tensor_parallel_size,
                               f"must divide the GPUs of a node (cluster.nproc_per_node={cluster.nproc_per_node})"))
        return out


def register() -> None:
    """Register the schema with Hydra's ConfigStore (recipes start from `pipeline_schema`)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="pipeline_schema", node=PipelineConfig)
