"""Model families as one table: what every stage needs to know about a base model's family.

A row (`Family`) holds the hub ids of the dense Instruct sizes, ms-swift's template, the transformers class and
processor, the image-token names and ids, the patch and merge size behind the pixel arithmetic, the chat template's
default system message, how the merger's checkpoint names are written, the vLLM settings, and the tiny model that
stands for the family on a CPU. Stages ask `family_of(model.path)` (a hub id, a local model dir or `tiny:<name>`)
instead of assuming Qwen2.5-VL; `check_template` refuses a recipe whose ms-swift template is not its family's.

A new family is a new row here plus its tiny model (recipes/tiny_world/model.py) and a recipe; recipes/README.md says how.
Torch-free and import-light: the pipeline's planning and the converters read it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path


class FamilyError(ValueError):
    """A model that no supported family row describes (or a variant the table refuses), said in one line."""


class UnknownFamily(FamilyError):
    """A model the table does not recognise (e.g. a fine-tune's hub id): callers may go on without the table."""


@dataclass(frozen=True)
class Size:
    """One dense Instruct size of a family."""

    hub_id: str
    params: float | None
    """Parameters, vision tower included (the checkpoint's hub page); None: not recorded."""
    tied_embeddings: bool | None
    """`tie_word_embeddings` in its config (the merger then writes no `lm_head.weight`); None: not recorded."""


@dataclass(frozen=True)
class Family:
    """Everything the stages read about one model family."""

    name: str
    """Row key, also the recipes' prefix (`qwen3_vl` -> recipes qwen3_vl_8b, qwen3_vl_4b)."""
    label: str
    model_type: str
    """`model_type` in config.json (how a local dir is recognised)."""
    architecture: str
    """transformers class (config.json `architectures[0]`); the merger builds it on the meta device."""
    processor: str
    """transformers processor class; the image processor is Qwen2VLImageProcessor for every row."""
    video_processor: str
    template: str
    """ms-swift 4.6 template (`swift sft/rlhf --template`)."""
    swift_model_type: str | None
    """`--model_type` for ms-swift 4.6 when it cannot infer it from config.json's architecture (None: it can)."""
    patch_size: int
    """ViT patch side in pixels."""
    merge_size: int
    """Patches merged per side into one image token (spatial_merge_size)."""
    image_token: str
    image_token_id: int
    video_token_id: int
    vision_start_id: int
    vision_end_id: int
    vocab_size: int
    default_system: str | None
    """System message the chat template writes when a conversation has none (None: it writes none)."""
    saved_layout: str
    """The merger's rule for checkpoint names: how transformers writes the in-memory names to disk."""
    vllm: dict[str, object]
    """vLLM 0.24 engine settings the stages use for this family (architecture, per-prompt limits, processor kwargs)."""
    chat_template: str
    """How the chat template differs from Qwen2.5-VL-Instruct's (what a converter or a counter must know)."""
    tiny: str
    """The tiny world's model for this family (`tiny:<name>`), built from the real config class."""
    sizes: dict[str, Size] = field(default_factory=dict)
    thinking: str = ""
    """What happens to the family's reasoning ("Thinking") variants."""
    missing: tuple[str, ...] = ()
    """Why the installed stack cannot run this row yet (empty: supported)."""

    @property
    def factor(self) -> int:
        """Pixels per image token per side (patch x merge): 28 for Qwen2.5-VL, 32 for Qwen3-VL."""
        return self.patch_size * self.merge_size

    @property
    def supported(self) -> bool:
        return not self.missing

    def pixels(self, tokens: int) -> int:
        """The pixel count that is `tokens` image tokens in this family."""
        return int(tokens) * self.factor ** 2

    def same_budget(self, pixels: int, source: Family) -> int:
        """`pixels` of `source` as the same number of image tokens here (rounded down)."""
        return int(pixels) * self.factor ** 2 // source.factor ** 2


QWEN2_5_VL = Family(
    name="qwen2_5_vl", label="Qwen2.5-VL", model_type="qwen2_5_vl",
    architecture="Qwen2_5_VLForConditionalGeneration", processor="Qwen2_5_VLProcessor",
    video_processor="Qwen2VLVideoProcessor", template="qwen2_5_vl", swift_model_type=None,
    patch_size=14, merge_size=2, image_token="<|image_pad|>", image_token_id=151655, video_token_id=151656,
    vision_start_id=151652, vision_end_id=151653, vocab_size=151936,
    default_system="You are a helpful assistant.",
    saved_layout="renamed on save: in-memory `model.language_model.*` -> `model.*`, `model.visual.*` -> `visual.*`, "
    "`lm_head.*` kept (transformers' revert_weight_conversion)",
    vllm={"architecture": "Qwen2_5_VLForConditionalGeneration", "limit_mm_per_prompt": {"image": 1},
          "mm_processor_kwargs": ("min_pixels", "max_pixels")},
    chat_template="the reference: writes `You are a helpful assistant.` as the system message when none is given",
    tiny="tiny:model",
    sizes={
        "3b": Size("Qwen/Qwen2.5-VL-3B-Instruct", 3.75e9, True),
        "7b": Size("Qwen/Qwen2.5-VL-7B-Instruct", 8.29e9, False),
    },
    thinking="no reasoning variant (the paper's base)",
)

QWEN3_VL = Family(
    name="qwen3_vl", label="Qwen3-VL", model_type="qwen3_vl",
    architecture="Qwen3VLForConditionalGeneration", processor="Qwen3VLProcessor",
    video_processor="Qwen3VLVideoProcessor", template="qwen3_vl",
    # ms-swift 4.6 registers three model types on Qwen3VLForConditionalGeneration (qwen3_vl, qwen3_vl_emb,
    # qwen3_vl_reranker): a local dir needs the type named.
    swift_model_type="qwen3_vl",
    patch_size=16, merge_size=2, image_token="<|image_pad|>", image_token_id=151655, video_token_id=151656,
    vision_start_id=151652, vision_end_id=151653, vocab_size=151936,
    default_system=None,
    saved_layout="saved as in memory: `model.language_model.*`, `model.visual.*` (incl. the deepstack mergers "
    "`model.visual.deepstack_merger_list.*`), `lm_head.*` untied on 8B, tied on 2B/4B",
    vllm={"architecture": "Qwen3VLForConditionalGeneration", "limit_mm_per_prompt": {"image": 1},
          "mm_processor_kwargs": ("min_pixels", "max_pixels")},
    chat_template="no default system message (a conversation without one is rendered without one); the same "
    "`<|vision_start|><|image_pad|><|vision_end|>` image placeholder; `<think>`/`</think>` are ids 151667/151668",
    tiny="tiny:qwen3_vl",
    sizes={
        "2b": Size("Qwen/Qwen3-VL-2B-Instruct", 2.13e9, True),
        "4b": Size("Qwen/Qwen3-VL-4B-Instruct", 4.44e9, True),
        "8b": Size("Qwen/Qwen3-VL-8B-Instruct", 8.77e9, False),
        "32b": Size("Qwen/Qwen3-VL-32B-Instruct", 33.4e9, False),
    },
    thinking="refused: the `-Thinking` checkpoints answer after a `<think>` block that ms-swift's template opens "
    "(`thinking_prefix`) and the paper's reward and length limits were not set for; use the Instruct size",
)

QWEN3_5 = Family(
    name="qwen3_5", label="Qwen3.5", model_type="qwen3_5",
    architecture="Qwen3_5ForConditionalGeneration", processor="Qwen3VLProcessor",
    video_processor="Qwen3VLVideoProcessor", template="qwen3_5", swift_model_type="qwen3_5",
    patch_size=16, merge_size=2, image_token="<|image_pad|>", image_token_id=248056, video_token_id=248057,
    vision_start_id=248053, vision_end_id=248054, vocab_size=248320,
    default_system=None,
    saved_layout="as Qwen3-VL; the text model mixes gated-delta-net (linear attention) and full-attention layers",
    vllm={"architecture": "Qwen3_5ForConditionalGeneration"},
    chat_template="thinking by default (ms-swift `qwen3_5`: is_thinking, `<think>` prefix); non-thinking needs "
    "`enable_thinking=false` in every stage's chat template call",
    tiny="",
    sizes={
        "4b": Size("Qwen/Qwen3.5-4B", None, None),
        "9b": Size("Qwen/Qwen3.5-9B", None, None),
    },
    thinking="one checkpoint per size, thinking on by default: no Instruct row to pick",
    missing=(
        "every Qwen3.5 checkpoint is a hybrid thinking model (ms-swift 4.6 registers `qwen3_5` with is_thinking=True, "
        "its template opens `<think>`): a recipe of the paper's kind needs `enable_thinking=false` passed to ms-swift "
        "(`--enable_thinking`), verl (`data.apply_chat_template_kwargs`), our evaluation and prompt counter; "
        "not wired here (ours, not upstream's)",
        "a new vocabulary (248,320 rows; `<|image_pad|>` 248056): the tiny world's tokenizer builds Qwen2's layout "
        "(151,936 rows) only, so there is no tiny Qwen3.5 to run the pipeline on a CPU (ours)",
        "flash-linear-attention (`fla`) is not in the stack: ms-swift 4.6 refuses Qwen3.5 packing / padding-free "
        "with several sequences without it (swift/model/models/qwen.py `_get_linear_attention_kernels`); "
        "transformers 5.9 and verl 0.9.1 fall back to torch loops for the gated-delta-net layers (slow)",
        "vLLM 0.24 is not installed on the CPU machine, so its Qwen3.5 support is unchecked here (verl 0.9.1 "
        "imports `vllm.model_executor.models.qwen3_5` inside a try, i.e. only where it exists)",
    ),
)

RECIPE_DIFFERENCES: dict[str, str] = {
    "model.path": "the Qwen3-VL Instruct checkpoint of about the paper's size (8B for 7B, 4B for 3B)",
    "model.template": "ms-swift's `qwen3_vl` template (Qwen2.5-VL's would tokenise the images at 14-pixel patches and "
    "add a default system message Qwen3-VL's chat template does not write)",
    "data.max_pixels": "1,572,864 = 1,536 tokens x 32 x 32: the paper's 1,204,224 = 1,536 x 28 x 28, kept as the same "
    "image-token budget (same sequence length and memory per image), not the same pixels",
    "data.min_pixels": "342,392 = 262,144 x (32/28)^2 rounded down: the paper's floor as tokens (334 tokens), "
    "not 262,144 pixels (256 Qwen3-VL tokens)",
    "eval.preset": "`paper_qwen3_vl`: the paper's protocol with its pixel limits as tokens (below)",
    "eval.max_pixels": "1,310,720 = 1280 x 32 x 32: the protocol's 1280 x 28 x 28 as tokens",
    "eval.min_pixels": "65,536 = 256 x 256: the protocol's 224 x 224 as tokens (64 tokens)",
}
"""Every setting in which the qwen3_vl_8b / qwen3_vl_4b recipes differ from the paper's qwen2_5_vl_7b recipe, and
why (tests/test_families.py fails on a difference not named here). All other values are the paper's."""


FAMILIES: dict[str, Family] = {f.name: f for f in (QWEN2_5_VL, QWEN3_VL, QWEN3_5)}
"""Every row, by name."""

TINY_MODELS: dict[str, str] = {"model": "qwen2_5_vl", "model_gpu": "qwen2_5_vl", "qwen3_vl": "qwen3_vl"}
"""The tiny world's models (`tiny:<name>`) -> their family."""

_THINKING = re.compile(r"-thinking\b", re.IGNORECASE)
_MOE = re.compile(r"-A\d+(\.\d+)?B\b", re.IGNORECASE)


def get_family(name: str) -> Family:
    """The row called `name`, else FamilyError naming the known rows."""
    if name not in FAMILIES:
        raise FamilyError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _supported(family: Family, ref: str) -> Family:
    if family.missing:
        raise FamilyError(f"{ref}: {family.label} is not supported yet: "
                          f"{family.missing[0]} (recipes/families.py lists the rest)")
    return family


def family_of(ref: str) -> Family:
    """The family of a model reference: `tiny:<name>`, a hub id, or a local model dir (by its config.json).

    Thinking variants and rows the stack cannot run raise FamilyError with the reason.
    """
    ref = str(ref)
    if ref.startswith("tiny:"):
        name = ref[len("tiny:"):]
        if name not in TINY_MODELS:
            raise UnknownFamily(f"{ref!r}: the tiny world has no such model; it has "
                              f"{', '.join('tiny:' + n for n in TINY_MODELS)}")
        return get_family(TINY_MODELS[name])
    path = Path(ref).expanduser()
    if (path / "config.json").is_file():
        return _family_of_dir(path)
    if _THINKING.search(ref):
        for fam in FAMILIES.values():
            if ref.lower().startswith(f"qwen/{fam.label.lower()}-"):
                raise FamilyError(f"{ref}: {fam.label} Thinking variants are {fam.thinking}")
        raise FamilyError(f"{ref}: reasoning (Thinking) checkpoints are refused; use an Instruct model")
    if _MOE.search(ref):
        raise FamilyError(f"{ref}: mixture-of-experts checkpoints are not in the table (dense Instruct sizes only)")
    for fam in FAMILIES.values():
        if any(s.hub_id == ref for s in fam.sizes.values()):
            return _supported(fam, ref)
    for fam in FAMILIES.values():
        if ref.lower().startswith(f"qwen/{fam.label.lower()}-"):
            return _supported(fam, ref)
    if path.exists():
        raise UnknownFamily(f"{ref}: no config.json, so its model family is unknown")
    raise UnknownFamily(f"{ref}: not a model of a known family ({', '.join(f.label for f in FAMILIES.values())}); "
                      "a local dir is recognised by config.json's model_type")


def _family_of_dir(path: Path) -> Family:
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise FamilyError(f"{config_file}: unreadable ({err})") from None
    model_type = config.get("model_type")
    for fam in FAMILIES.values():
        if fam.model_type == model_type:
            return _supported(fam, str(path))
    raise UnknownFamily(f"{config_file}: model_type {model_type!r} is not a known family "
                      f"({', '.join(f.model_type for f in FAMILIES.values())})")


def family_or_none(ref: str | None) -> Family | None:
    """`family_of(ref)`, or None when `ref` is empty or names no known family (callers then keep Qwen2.5-VL's)."""
    if not ref:
        return None
    try:
        return family_of(ref)
    except FamilyError:
        return None


def params_of(ref: str) -> float | None:
    """Parameter count of a known hub id (the preflight's disk and memory lines), else None."""
    for fam in FAMILIES.values():
        for size in fam.sizes.values():
            if size.hub_id == ref:
                return size.params
    return None


def check_template(model_ref: str, template: str, *fallbacks: str) -> Family | None:
    """Refuse a recipe whose ms-swift template is not its model family's (one line naming both), or whose model
    the table refuses (a Thinking or MoE checkpoint, an unsupported row). The family is read from `model_ref`,
    else from the first of `fallbacks` (e.g. the resolved local dir) the table knows; None when none is known."""
    fam = None
    for ref in (model_ref, *fallbacks):
        try:
            fam = family_of(ref)
            break
        except UnknownFamily:
            continue
    if fam is None:
        return None
    if str(template) != fam.template:
        raise FamilyError(f"model.template={template!r} but {model_ref} is {fam.label}, whose ms-swift template is "
                          f"{fam.template!r} (recipes/families.py): set model.template={fam.template}")
    return fam


def swift_model_type_flags(model_ref: str, template: str, *fallbacks: str) -> list[str]:
    """`check_template`, then `--model_type X` when the family needs it named for ms-swift (else nothing)."""
    fam = check_template(model_ref, template, *fallbacks)
    return ["--model_type", fam.swift_model_type] if fam and fam.swift_model_type else []


def markdown() -> str:
    """The table as README markdown (one column per family)."""
    rows = [
        ("dense Instruct sizes", lambda f: ", ".join(f"`{s.hub_id}`" for s in f.sizes.values())),
        ("ms-swift template (`--model_type`)", lambda f: f"`{f.template}`"
         + (f" (`{f.swift_model_type}`)" if f.swift_model_type else " (inferred)")),
        ("transformers class / processor", lambda f: f"`{f.architecture}` / `{f.processor}`"),
        ("image token (id)", lambda f: f"`{f.image_token}` ({f.image_token_id})"),
        ("patch x merge = pixels per token side", lambda f: f"{f.patch_size} x {f.merge_size} = {f.factor}"),
        ("default system message", lambda f: f"`{f.default_system}`" if f.default_system else "none"),
        ("merger: saved names", lambda f: f.saved_layout),
        ("chat template", lambda f: f.chat_template),
        ("thinking variants", lambda f: f.thinking),
        ("tiny model", lambda f: f"`{f.tiny}`" if f.tiny else "—"),
        ("status", lambda f: "supported" if f.supported else "not yet: " + "; ".join(f.missing)),
    ]
    fams = list(FAMILIES.values())
    lines = ["| | " + " | ".join(f.label for f in fams) + " |", "|---" * (len(fams) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(get(f) for f in fams) + " |" for name, get in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
    sys.exit(0)
