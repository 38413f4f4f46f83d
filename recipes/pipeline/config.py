"""The pipeline's typed config schema (one dataclass per Hydra group), registered with Hydra.

Defaults are the paper's 7B recipe; `recipes/conf/*.yaml` override only what differs. Each field is
documented once, here or on the stage's own dataclass (SFT/config.py, GRPO/config.py,
evaluation/config.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from evaluation.config import EvalConfig
from GRPO.config import GRPOConfig, MergeConfig
from GRPO.parity import paper as grpo_paper
from recipes.stage import STAGES
from SFT.config import SFTConfig
from SFT.distill.config import DistillConfig
from SFT.parity import paper as sft_paper

SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
"""The paper's system prompt (reference `SFT/sys_prompt.txt`), used by SFT, GRPO and evaluation."""
MAX_PIXELS: int = grpo_paper("data.max_pixels")
"""The paper's per-image pixel ceiling (SFT MAX_PIXELS and GRPO data.max_pixels)."""
MIN_PIXELS: int = grpo_paper("data.min_pixels")
"""The paper's per-image pixel floor for GRPO (data.min_pixels)."""

DEFAULT_STAGES = STAGES[1:]
"""The paper's pipeline: every stage but `distill` (the paper trains on the released cold-start set)."""


@dataclass
class ModelConfig:
    """The base model that stage 1 starts from."""

    path: str = sft_paper("model.path")
    """Hub id, local directory, or `tiny:model` / `tiny:qwen3_vl` for the offline tiny Qwen2.5-VL / Qwen3-VL.
    Its family (recipes/families.py) decides the template, image tokens and pixel factor the stages use."""
    template: str = sft_paper("model.template")
    """ms-swift template; must be the model family's (recipes/families.py), checked before SFT and GRPO."""
    torch_dtype: str = sft_paper("model.torch_dtype")
    """Training dtype (`float32` on CPU)."""


@dataclass
class DataConfig:
    """Where the training data comes from and how it is shaped. Sources are hub ids, local paths,
    or `tiny:<name>` for the synthetic offline sets."""

    sft_source: str = "WaltonFuture/Multimodal-Cold-Start"
    """Cold-start chain-of-thought set (problem, answer, images)."""
    sft_split: str = "train"
    rl_source: str = "WaltonFuture/Multimodal-RL-Data"
    """RL set (problem, answer, images)."""
    rl_split: str = "train"
    val_source: str = "hiyouga/geometry3k"
    """Validation set during GRPO (reference: geometry3k test)."""
    val_split: str = "test"
    system_prompt: str = SYSTEM_PROMPT
    """SFT's system message (reference `SFT/sys_prompt.txt`)."""
    rl_system_prompt: bool = False
    """Also write `system_prompt` as the system message of every RL and validation prompt. Off (the
    reference): the raw problem as one user turn; Qwen's chat template then adds its default system."""
    max_pixels: int = MAX_PIXELS
    min_pixels: int = MIN_PIXELS
    max_prompt_length: int = grpo_paper("data.max_prompt_length")
    """Prompt token limit (rows longer are rejected at conversion, not mid-training)."""
    on_bad_row: str = "error"
    """`error` stops at the first bad row; `skip` writes it to a rejects file and goes on."""
    num_workers: int = 2
    """Processes used by the converters."""
    max_rows: int | None = None
    """Convert only the first N rows (smoke tests); null converts everything."""


@dataclass
class ClusterConfig:
    """Where the jobs run: torchrun geometry for ms-swift, Ray for verl."""

    nnodes: int = 1
    nproc_per_node: int = 8
    """GPUs (processes) per node."""
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    address: str | None = None
    """Ray cluster address (`ray://host:10001` or `auto`); null starts a local head."""
    launcher: str = "auto"
    """How SFT gets its nodes: `ray` (a placement group, one bundle per node; recipes/ray_launch.py), `local`
    (torchrun on this node; other nodes run their printed command), or `auto`: ray when `address` is set or
    inside a Ray job, else local."""
    placement_timeout_s: float = 600
    """How long a stage waits for Ray to place its bundles before it fails, naming the cluster's free resources."""
    device: str = "cuda"
    """`cuda` on GPU nodes, `cpu` for the tiny world."""


@dataclass
class HubConfig:
    """How hub ids are fetched before any GPU stage starts."""

    cache_dir: str | None = None
    """One Hugging Face cache every node can read (e.g. shared NFS); null uses HF_HOME's default."""
    offline: bool = False
    """Never contact the hub: every id must already be in the cache (HF_HUB_OFFLINE=1 also forces this)."""


@dataclass
class PipelineConfig:
    """A recipe: which stages to run on which model and data, with which settings."""

    run_name: str = MISSING
    """Outputs go to `<runs_dir>/<run_name>/`."""
    runs_dir: str = "runs"
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    """The stages to run, a subset of distill, sft_data, sft, rl_data, grpo, merge, eval (kept in pipeline
    order); `distill` (build the cold-start set from a teacher) is off unless named."""
    ablation: str = "full"
    """`full` (SFT then GRPO), `rl_only` (GRPO from the base model), `sft_only` (no GRPO) or `base` (evaluate
    the base model): keeps only that ablation's stages, in run `<run_name>_<ablation>` (recipes/ablation.py)."""
    dry_run: bool = False
    """Print every stage's exact command and outputs; run nothing."""
    rerun: list[str] = field(default_factory=list)
    """Stages to run again even if finished (their old output is moved aside, never deleted)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    hub: HubConfig = field(default_factory=HubConfig)


def register() -> None:
    """Register the schema with Hydra's ConfigStore (recipes start from `pipeline_schema`)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="pipeline_schema", node=PipelineConfig)
