"""The model card of a pushed run (README.md on the Hub), generated from what the run recorded: the eval table
beside the paper's rows (evaluation/report.py), the preset, the recipe, the config hashes, the data sources, the
base model and its license, and the training curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

if TYPE_CHECKING:
    from evaluation.results import Results

KNOWN_LICENSES = {
    "Qwen/Qwen2.5-VL-7B-Instruct": "apache-2.0",
    "Qwen/Qwen2.5-VL-3B-Instruct": "other",  # Qwen RESEARCH LICENSE AGREEMENT
    "Qwen/Qwen2.5-VL-72B-Instruct": "other",  # Qwen LICENSE AGREEMENT
}
"""Licenses on the base models' own cards (read from the card when the model is local or cached)."""
PAPER = "https://arxiv.org/abs/2505.22334"


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's composed recipe (`config.yaml`, written after each run), else what the manifest's stage
    slices hold (older runs)."""
    path = run_dir / "config.yaml"
    if path.exists():
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)  # type: ignore[return-value]
    merged: dict[str, Any] = {}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for entry in manifest.get("stages", {}).values():
        for key, value in (entry.get("config", {}).get("config") or {}).items():
            node = merged
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
    merged.setdefault("run_name", manifest.get("run_name", run_dir.name))
    return merged


def base_license(model: str) -> str:
    """The base model's license id: its card's `license:` when the model is a local dir or cached, else the
    known value, else `unknown`."""
    readme = Path(model).expanduser() / "README.md"
    if not readme.exists() and "/" in model and not Path(model).exists():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "README.md")
            readme = Path(cached) if isinstance(cached, str) else readme
        except ValueError:
            pass
    if readme.exists():
        from huggingface_hub import ModelCard

        lic = ModelCard.load(readme).data.to_dict().get("license")
        if lic:
            return str(lic)
    return KNOWN_LICENSES.get(model, "unknown")


def _get(cfg: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def render(run_dir: Path, repo_id: str, results: Results | None, curves: list[str]) -> str:
    """README.md (YAML metadata, then Markdown) for `repo_id` from the run in `run_dir`."""
    from huggingface_hub import ModelCard, ModelCardData

    cfg = run_config(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    base = str(_get(cfg, "model.path", "unknown"))
    lic = base_license(base)
    sources = [s for s in (_get(cfg, "data.sft_source"), _get(cfg, "data.rl_source"), _get(cfg, "data.val_source"))
               if s]
    data = ModelCardData(
        license=lic if lic != "unknown" else "other", base_model=base if "/" in base and not Path(base).exists()
        else None, datasets=[s for s in sources if "/" in s and not Path(s).exists()] or None,
        tags=["qwen2.5-vl", "grpo", "multimodal-reasoning", "rl-cold-start"], pipeline_tag="image-text-to-text",
        library_name="transformers")
    hashes = {n: e.get("config_hash") for n, e in manifest.get("stages", {}).items() if e.get("config_hash")}
    stages = ", ".join(f"{n} ({e.get('status')}, {e.get('seconds', 0):.0f} s)"
                       for n, e in manifest.get("stages", {}).items())
    lines = [f"# {repo_id.split('/')[-1]}", "",
             f"Qwen2.5-VL trained with the cold-start recipe of [Advancing Multimodal Reasoning via Reinforcement "
             f"Learning with Cold Start]({PAPER}): supervised fine-tuning on chain-of-thought data, then GRPO. "
             f"Run `{cfg.get('run_name', run_dir.name)}`, made by rl-cold-start.", "",
             "## Training", "",
             f"- base model: `{base}` (license: {lic}{'; see its card' if lic in ('other', 'unknown') else ''})",
             f"- recipe: ablation `{cfg.get('ablation', 'full')}`, stages {stages}",
             f"- data: {', '.join(f'`{s}`' for s in sources) or '-'}",
             f"- SFT: {_get(cfg, 'sft.num_train_epochs', '-')} epochs at lr {_get(cfg, 'sft.learning_rate', '-')}; "
             f"GRPO: {_get(cfg, 'grpo.rollout_n', '-')} rollouts per prompt, lr {_get(cfg, 'grpo.learning_rate', '-')}"
             f", {_get(cfg, 'grpo.max_steps') or _get(cfg, 'grpo.total_epochs', '-')} "
             f"{'steps' if _get(cfg, 'grpo.max_steps') else 'epochs'}",
             "- config hashes: " + ", ".join(f"{k} `{v}`" for k, v in hashes.items()), ""]
    if results:
        from evaluation.report import render_markdown

        table = render_markdown(results, repo_id.split("/")[-1]).split("\n", 1)[1]  # without its title
        lines += [f"## Evaluation (preset `{results.get('preset', '-')}`)", "", table.strip(), ""]
    else:
        lines += ["## Evaluation", "", "This run has no evaluation (no `eval` stage).", ""]
    if curves:
        lines += ["## Training curves", ""] + [f"![{Path(c).stem}]({c})" for c in curves] + [""]
    lines += ["## Files", "", "The model and its processor (load with `AutoModelForImageTextToText` and "
              "`AutoProcessor`), `config.yaml` (the composed recipe), `results/` (results.json, results.md), "
              "`curves/`.", ""]
    return str(ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines)))
