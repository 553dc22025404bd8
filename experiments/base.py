"""Defaults for one training run: `python -m structlm train --config experiments/base.py:preset=3m,variant=structured`."""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.variant = "token"  # token | structured | scoped (structlm/variants.py)
  c.preset = "50k"  # structlm/presets.py
  c.corpus = "stdlib"
  c.language = "python"
  c.strip_comments = False
  c.vocab_size = 8192  # the token BPE's size; the grammar's leaf pieces get as many merges (leaf_capacity)
  c.leaf_capacity = "merges"  # merges (fair: structural actions on top) | total (equal total vocabulary, ablation)
  c.data_dir = "data"
  c.seq_len = 256  # positions per row...
  c.context_bytes = 0  # ...or > 0: as many positions as hold about this many source bytes (each variant's own)
  c.name_window = 0  # scoped: bytes a REF reaches back (0: context_bytes, else 768; structlm/syntax/names.py)
  c.global_batch = 8  # sequences per step; 0: by the batch rule (structlm/run.py batch_by_rule)
  c.batch_target_steps = 800  # the batch rule's run length: between this and twice as many steps
  c.steps = 200  # used when none of the budgets below is set
  c.train_bytes = 0.0  # > 0: train on about this many source bytes (the variant's tokens per byte sets the steps)
  c.train_flops = 0.0  # > 0: train for about this many FLOPs (the model's FLOPs per token sets the steps)
  c.epochs = 0  # > 0: this many passes over the unique training bytes (with unique_fraction: data-constrained)
  c.warmup = 20  # linear warm-up steps...
  c.warmup_fraction = 0.0  # ...or > 0: this fraction of the run's steps
  c.learning_rate = 0.0  # 0: by rule (structlm/presets.py learning_rate), times lr_scale
  c.lr_scale = 1.0  # the learning-rate sweep's multiplier of the rule
  c.lr_batch_exponent = 0.5  # the ladder rule's rate grows as batch ** this (presets.learning_rate)
  c.beta2 = 0.95  # AdamW's second-moment decay (small batches: higher; the study uses 0.99)
  c.weight_decay = 0.1
  c.clip = 1.0
  c.accumulate = 1
  c.mesh = (-1, 1, 1)  # (data, fsdp, tensor)
  c.expect_backend = ""  # "tpu" / "gpu": stop at once if JAX finds another backend (the launch scripts set it)
  c.dtype = "float32"  # bfloat16 on accelerators
  c.tree_features = True
  c.grammar_mask = True
  c.name_features = True  # scoped: the name-table index input (ablation: off)
  c.ref_mask = True  # scoped: REFs only to names already in the file's table (ablation: off)
  c.remat = False
  c.seed = 0
  c.unique_fraction = 0.0  # > 0: the data-constrained study's fraction of unique training bytes
  c.log_every = 10
  c.eval_every = 0  # 0: only at the end
  c.eval_bytes = 0  # 0: the whole split; else a fixed subset of its documents of about this size
  c.eval_split = "validation"  # the split scored at the end (the study: test; validation stays for choices)
  c.peak_flops = 0.0  # the accelerator's peak FLOP/s, for MFU in the metrics (0: unknown)
  c.checkpoint_every = 100
  c.stop_after = 0  # > 0: stop as if preempted right after this step's checkpoint (tests)
  c.checkpoint_root = ""  # "": WORKDIR/checkpoints; else ROOT/<WORKDIR's name> (gs://bucket/ckpt on a TPU pod)
  c.keep_checkpoints = 2
  return c
