"""The row engine both data converters share, by job: `reader` (parquet in batches), `images` (checked RGB
images), `qwen_vl` (Qwen2.5-VL resize, prompt tokens, chat parts), `rows` (settings and the row checks),
`engine` (the resumable worker pool) and `errors`. The command lines over it are recipes/pipeline/convert_cli.py."""
