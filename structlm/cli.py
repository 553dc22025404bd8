"""`python -m structlm <command>`: roundtrip, grammar, encode, prepare, train, sweep, analyze, sample, evaluate."""
from __future__ import annotations

import argparse
import json
import sys

from structlm import storage
from structlm.syntax import languages


def _roundtrip(args) -> int:
  from structlm.syntax import sources
  from structlm.syntax.grammar import ActionGrammar, GrammarConfig
  from structlm.syntax.roundtrip import roundtrip
  if not args.paths and not args.stdlib:
    sys.exit("roundtrip: give PATH... or --stdlib")
  paths = sources.stdlib_files() if args.stdlib else []
  if args.paths:
    paths += sources.find_files(args.paths, args.language)
  grammar = ActionGrammar.load(args.grammar) if args.grammar else None
  config = GrammarConfig(vocab_size=args.vocab_size, leaf_capacity=args.leaf_capacity)
  res = roundtrip(paths, args.language, strip=args.strip_comments, grammar=grammar, config=config,
                  max_bytes=args.max_bytes, holdout=args.holdout, progress=not args.quiet, scoped=args.scoped,
                  name_window=args.name_window)
  if args.json:
    print(json.dumps(res))
  else:
    for k, v in res.items():
      print(f"{k:>22}: {v}")
  ok = res["exact"] == res["parsed"] and res["constraint_violations"] == 0
  if args.scoped:
    ok = (ok and res["scoped_exact"] == res["parsed"] and res["scoped_constraint_violations"] == 0
          and res["scoped_refs_beyond_window"] == 0 and res["scoped_names_unplaced"] == 0)
  return 0 if ok else 1


def _grammar(args) -> int:
  from structlm.syntax import sources
  from structlm.syntax.build import build_grammar
  from structlm.syntax.grammar import GrammarConfig
  paths = sources.stdlib_files() if args.stdlib else sources.find_files(args.paths, args.language)
  files = [(p, s) for p in paths if (s := sources.read(p)) is not None]
  g = build_grammar(args.language, files, GrammarConfig(vocab_size=args.vocab_size, leaf_capacity=args.leaf_capacity))
  g.save(args.out)
  print(json.dumps(dict(out=args.out, hash=g.hash, vocab_size=g.vocab_size, rules=len(g.rules),
                        segments=len(g.segs), pieces=g.pieces.size, files=len(files))))
  return 0


def _encode(args) -> int:
  from structlm.syntax import sources
  from structlm.syntax.build import build_grammar
  from structlm.syntax.codec import Codec
  from structlm.syntax.grammar import ActionGrammar, GrammarConfig
  from structlm.syntax.tree import Skip
  src = sources.read(args.file)
  if src is None:
    sys.exit(f"encode: cannot read {args.file}")
  if args.grammar:
    g = ActionGrammar.load(args.grammar)
  else:
    g = build_grammar(args.language, [(args.file, src)], GrammarConfig(
        vocab_size=args.vocab_size, leaf_capacity=args.leaf_capacity, min_count=1))
  codec = Codec(g)
  try:
    enc = codec.encode(src, strip=args.strip_comments)
  except Skip as e:
    sys.exit(f"encode: {args.file} cannot be encoded ({e})")
  if args.scoped:
    return _encode_scoped(codec, enc, args.name_window)
  print(f"{'#':>6} {'slot':>5} {'depth':>5}  action")
  for i, (a, s, d) in enumerate(zip(enc.actions, enc.slots, enc.depth)):
    key = codec.table.keys[s]
    where = f"{key[0]}:{key[1][0] if isinstance(key[1], tuple) else key[1] or ''}" + (
        f".{key[1][1]}" if isinstance(key[1], tuple) and key[1][1] else "")
    print(f"{i:>6} {s:>5} {d:>5}  {'  ' * min(d, 20)}{g.action_name(int(a))}    [{where}]")
  print(f"# {len(enc)} actions for {len(src)} bytes ({len(enc) / len(src):.3f} actions/byte)")
  return 0


def _encode_scoped(codec, enc, window: int) -> int:
  """The scoped listing: each action at its source offset; a REF with its name and the offset of the spelling it
  refers to; a spelling with its REF id, and why a name seen before was spelled again."""
  from structlm.syntax.names import NameScheme, ScopedMachine
  scheme = NameScheme(codec.g, codec.table, window=window)
  se = scheme.encode(enc)
  m = ScopedMachine(scheme)
  last_spelled: dict[bytes, int] = {}
  print(f"# REFs reach {f'{window} bytes' if window else 'the whole file'} back")
  print(f"{'#':>6} {'offset':>7} {'depth':>5}  action")
  for i, (a, d) in enumerate(zip(se.actions.tolist(), se.depth.tolist())):
    at, note = m.leaf_offset(), ""
    if a >= scheme.ref_base:
      rid = a - scheme.ref_base
      serial = m.count - 1 - (m.count - 1 - rid) % scheme.refs
      name = m.ring[rid]
      note = f"REF {rid} = {name.decode('utf-8', 'replace')!r}  (spelled at {m.anchors[serial]}, {at - m.anchors[serial]} bytes back)"
    else:
      note = codec.g.action_name(int(a))
    m.step(int(a))
    if a < scheme.ref_base and se.names[i]:  # the final piece of a spelling
      name = m.ring[se.names[i] - 1]
      prev = last_spelled.get(name)
      why = "first use" if prev is None else f"last spelled at {prev}, {m.anchors[-1] - prev} bytes back > window"
      note += f"    <- spells {name.decode('utf-8', 'replace')!r} as REF {se.names[i] - 1} ({why})"
      last_spelled[name] = m.anchors[-1]
    print(f"{i:>6} {at:>7} {d:>5}  {'  ' * min(d, 20)}{note}")
  refs = int((se.actions >= scheme.ref_base).sum())
  print(f"# {len(se)} scoped actions ({len(enc)} structured) for {len(m.output())} bytes, {refs} REFs")
  return 0


def _prepare(args) -> int:
  from absl import logging as absl_logging

  from structlm.data.prepare import prepare
  absl_logging.set_verbosity(absl_logging.ERROR)  # tfds warns about every custom config
  beam_options = None
  if args.beam_runner:
    from apache_beam.options.pipeline_options import PipelineOptions
    beam_options = PipelineOptions(args.beam_option)
  res = prepare(corpus=args.corpus, language=args.language, strip_comments=args.strip_comments,
                vocab_size=args.vocab_size, leaf_capacity=args.leaf_capacity, data_dir=args.data_dir,
                max_bytes=args.max_bytes, workers=args.workers, name_window=args.name_window,
                beam_runner=args.beam_runner, beam_options=beam_options)
  if args.json:
    print(json.dumps(res))
  else:
    for k, v in res.items():
      print(f"{k:>18}: {v}")
  return 0


def _analyze(args) -> int:
  import os

  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # analysis/ beside structlm/
  from analysis.fit import FitError
  from analysis.report import analyze, chinchilla_check
  try:
    if args.chinchilla_check:
      res = chinchilla_check(args.chinchilla_check, n_bootstrap=args.bootstrap, seed=args.seed)
      print(json.dumps(res) if args.json else json.dumps(res, indent=1))
      return 0 if res["within_tolerance"] else 1
    if not args.runs_dir:
      sys.exit("analyze: give RUNS_DIR (a sweep's directory) or --chinchilla-check CSV")
    if storage.is_remote(args.runs_dir):  # gs://...: the runs' result.json and metrics into a local mirror
      local = storage.mirror(args.runs_dir)
      n = storage.pull(args.runs_dir, local, names=("result.json", "metrics.jsonl", "config.json"))
      print(f"{args.runs_dir}: {n} files fetched into {local}")
      args.runs_dir = local
    res = analyze(args.runs_dir, args.out or os.path.join(args.runs_dir, "analysis"), n_bootstrap=args.bootstrap,
                  fit_bootstrap=args.fit_bootstrap, seed=args.seed,
                  n_key="N_nonembedding" if args.nonembedding else "N", allow_dirty=args.allow_dirty)
  except FitError as e:
    sys.exit(f"analyze: cannot fit: {e}")
  if args.json:
    print(json.dumps(dict(headline=res["headline"], measured_multiplier=res["measured_multiplier"],
                          laws=res["laws"], identified=res["identified"]), default=str))
  else:
    print(res["headline"])
    print(f"report: {os.path.join(args.out or os.path.join(args.runs_dir, 'analysis'), 'report.md')}")
  return 0


def _lr_choice(args) -> int:
  from analysis.lr import choose, render
  choice = choose(args.runs_dir)
  print(render(choice))
  print(json.dumps({v: c["scale"] for v, c in choice.items()}))
  return 0


def _train(args) -> int:
  from absl import logging as absl_logging

  from structlm.run import load_config, train
  from structlm.sharding import initialize_distributed
  absl_logging.set_verbosity(absl_logging.ERROR)
  initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.multihost)
  res = train(load_config(args.config), args.workdir, progress=not args.quiet)
  print(json.dumps({k: v for k, v in res.items() if k != "config"}))
  return 0


def _sweep(args) -> int:
  from absl import logging as absl_logging

  from structlm.runner import run_sweep
  from structlm.sharding import initialize_distributed
  absl_logging.set_verbosity(absl_logging.ERROR)
  if not args.dry_run:
    initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.multihost)
  res = run_sweep(args.sweep, args.workdir, dry_run=args.dry_run, only=args.only, analyze=not args.no_analysis,
                  progress=not args.quiet, skip_failed=args.skip_failed, extra=args.set or "")
  if args.json:
    print(json.dumps(res))
  return 1 if res.get("failed") else 0


def _sample(args) -> int:
  import os

  from absl import logging as absl_logging

  from structlm.evaluate import validity
  from structlm.generate import load_run, sample
  absl_logging.set_verbosity(absl_logging.ERROR)
  check_sampling(args)
  run = load_run(args.workdir)
  prompt = b""
  if args.prompt:
    with open(args.prompt, "rb") as f:
      prompt = f.read()
  samples = sample(run, args.n, prompt=prompt, temperature=args.temperature, top_p=args.top_p,
                   max_len=args.max_len, seed=args.seed)
  out = args.out or os.path.join(args.workdir, "samples")
  os.makedirs(out, exist_ok=True)
  ext = languages.LANGUAGES[run.cfg.language].extensions[0]
  for old in os.listdir(out):  # the previous call's samples: this folder holds one call's
    if old.startswith("sample_") and old.endswith(ext):
      os.remove(os.path.join(out, old))
  for i, s in enumerate(samples):
    with open(os.path.join(out, f"sample_{i:04d}{ext}"), "wb") as f:
      f.write(s.text)
  texts = [s.text for s in samples]
  print(json.dumps(dict(samples=len(samples), out=out, finished=sum(s.finished for s in samples),
                        mean_length_bytes=sum(map(len, texts)) / max(len(texts), 1),
                        **validity(texts, run.cfg.language))))
  return 0


def check_sampling(args) -> None:
  """Refuse what would sample nothing or nonsense: counts and lengths must be positive, temperature >= 0."""
  if getattr(args, "n", 1) is not None and args.n < 1:
    raise ValueError(f"--n {args.n}: give at least one sample")
  if args.max_len is not None and args.max_len < 1:
    raise ValueError(f"--max-len {args.max_len}: give a positive number of tokens/actions")
  if args.temperature < 0:
    raise ValueError(f"--temperature {args.temperature}: give 0 (greedy) or more")
  if getattr(args, "top_p", 1.0) is not None and not 0 < args.top_p <= 1:
    raise ValueError(f"--top-p {args.top_p}: give a value in (0, 1]")


def _slug(path: str) -> str:
  return "".join(ch if ch.isalnum() else "_" for ch in path).strip("_")[-60:] or "corpus"


def _evaluate(args) -> int:
  import os

  from absl import logging as absl_logging

  from structlm.evaluate import per_file_bpb, sample_metrics
  from structlm.generate import load_run
  absl_logging.set_verbosity(absl_logging.ERROR)
  if args.samples < 0:
    raise ValueError(f"--samples {args.samples}: give 0 (none) or more")
  if args.samples:
    check_sampling(argparse.Namespace(n=args.samples, max_len=args.max_len, temperature=args.temperature, top_p=1.0))
  run = load_run(args.workdir)
  skipped = None
  if args.corpus:
    from structlm.evaluate import encode_corpus
    records, skipped = encode_corpus(run, args.corpus)
    res = per_file_bpb(run, records=records)
  else:
    res = per_file_bpb(run, args.split)
  where = "corpus" if args.corpus else args.split
  out = dict(variant=run.cfg.variant, split=None if args.corpus else args.split, corpus=args.corpus,
             checkpoint_step=run.step, bpb=res["bpb"], files=res["files"], bytes=res["bytes"], skipped=skipped,
             names=res.get("names"))
  if args.samples:
    m, _ = sample_metrics(run, args.samples, max_len=args.max_len, temperature=args.temperature, seed=args.seed)
    out.update(m)
  else:
    out.update(samples=0, valid_fraction=None)
  cases = []
  if args.complete:
    from structlm.complete import complete
    comp = complete(run, args.split, n=args.complete, seed=args.seed)
    cases = comp.pop("cases")
    out["completion"] = comp
  path = os.path.join(args.workdir, f"eval_{where}.json" if not args.corpus else
                      f"eval_corpus_{_slug(args.corpus)}.json")
  with open(path, "w") as f:
    json.dump(dict(out, per_file=res["table"], completion_cases=cases), f, indent=1)
  out["per_file_table"] = path
  if args.json:
    print(json.dumps(out))
  else:
    for r in sorted(res["table"], key=lambda r: -r["bpb"])[:20]:
      print(f"{r['bpb']:7.3f} bits/byte  {r['bytes']:8d} bytes  {r['path']}")
    print({k: v for k, v in out.items()})
  return 0


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(prog="python -m structlm")
  sub = ap.add_subparsers(dest="command", required=True)

  def multihost_opts(p):
    p.add_argument("--coordinator", help="multi-host: HOST:PORT of process 0 (TPU pods and SLURM are detected)")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--process-id", type=int)
    p.add_argument("--multihost", action="store_true", help="start jax.distributed from the environment (TPU VM "
                   "workers, SLURM) even where it is not detected")

  def lang_opts(p):
    p.add_argument("--language", default="python", choices=sorted(languages.LANGUAGES))
    p.add_argument("--strip-comments", action="store_true", help="remove comments before encoding")
    p.add_argument("--vocab-size", type=int, default=8192,
                   help="the token BPE's size; a grammar's leaf pieces get as many merges (see --leaf-capacity)")
    p.add_argument("--leaf-capacity", default="merges", choices=("merges", "total"),
                   help="merges: leaf pieces get the token BPE's merges, structural actions on top (fair); "
                   "total: the grammar's whole vocabulary is --vocab-size (ablation)")

  p = sub.add_parser("roundtrip", help="encode and decode files; report exactness and figures")
  p.add_argument("paths", nargs="*")
  p.add_argument("--stdlib", action="store_true", help="the CPython standard library of this interpreter")
  p.add_argument("--grammar", help="a grammar JSON to use instead of building one from the files")
  p.add_argument("--holdout", type=float, default=0.0,
                 help="build the grammar from the other files and report on this fraction held out")
  p.add_argument("--max-bytes", type=int, default=1 << 20)
  p.add_argument("--scoped", action="store_true", help="also the scoped encoding (names by reference)")
  p.add_argument("--name-window", type=int, default=768, help="scoped: bytes a REF reaches back")
  p.add_argument("--json", action="store_true")
  p.add_argument("--quiet", action="store_true")
  lang_opts(p)
  p.set_defaults(fn=_roundtrip)

  p = sub.add_parser("grammar", help="build an action grammar from files and save it as JSON")
  p.add_argument("paths", nargs="*")
  p.add_argument("--stdlib", action="store_true")
  p.add_argument("--out", required=True)
  lang_opts(p)
  p.set_defaults(fn=_grammar)

  p = sub.add_parser("encode", help="print a readable listing of a file's actions")
  p.add_argument("file")
  p.add_argument("--grammar")
  p.add_argument("--scoped", action="store_true", help="the scoped encoding: REFs with their names and offsets")
  p.add_argument("--name-window", type=int, default=768, help="scoped: bytes a REF reaches back (0: whole file)")
  lang_opts(p)
  p.set_defaults(fn=_encode)

  p = sub.add_parser("prepare", help="build (or reuse) a tfds ArrayRecord dataset of a corpus, both variants")
  p.add_argument("--corpus", default="stdlib",
                 help="stdlib, a directory or glob of files, or .jsonl/.parquet files with a content column")
  p.add_argument("--data-dir", default="data")
  p.add_argument("--max-bytes", type=int, default=1 << 20)
  p.add_argument("--workers", type=int, default=0, help="encoding processes (0: one per core)")
  p.add_argument("--beam-runner", help="encode with Apache Beam on this runner (DirectRunner, DataflowRunner, "
                 "SparkRunner, FlinkRunner); needs `pip install .[beam]`")
  p.add_argument("--beam-option", action="append", default=[],
                 help="a Beam pipeline option, e.g. --beam-option=--project=P (repeatable)")
  p.add_argument("--name-window", type=int, default=768, help="bytes a scoped REF reaches back (the study: the "
                 "runs' context_bytes; the dataset's name carries it)")
  p.add_argument("--json", action="store_true")
  lang_opts(p)
  p.set_defaults(fn=_prepare)

  p = sub.add_parser("analyze", help="scaling-law fits, the compute multiplier, plots and report.md")
  p.add_argument("runs_dir", nargs="?")
  p.add_argument("--out", help="output directory (default RUNS_DIR/analysis)")
  p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the multiplier from the runs")
  p.add_argument("--fit-bootstrap", type=int, default=200, help="bootstrap refits of each variant's law")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--nonembedding", action="store_true", help="fit on non-embedding parameters")
  p.add_argument("--chinchilla-check", metavar="CSV", help="refit Epoch AI's Chinchilla points instead")
  p.add_argument("--allow-dirty", action="store_true", help="accept runs made from a checkout with uncommitted changes")
  p.add_argument("--json", action="store_true")
  p.set_defaults(fn=_analyze)

  p = sub.add_parser("lr-choice", help="each variant's learning-rate factor from a learning-rate sweep")
  p.add_argument("runs_dir")
  p.set_defaults(fn=_lr_choice)

  p = sub.add_parser("train", help="train one model from a config; writes WORKDIR/result.json")
  p.add_argument("--config", required=True, help="experiments/<file>.py[:key=value,...]")
  p.add_argument("--workdir", required=True)
  p.add_argument("--quiet", action="store_true")
  multihost_opts(p)
  p.set_defaults(fn=_train)

  p = sub.add_parser("sweep", help="run every member of a sweep (skipping finished ones), then the analysis")
  p.add_argument("sweep", help="experiments/<sweep>.py[:ARG]")
  p.add_argument("--workdir", required=True)
  p.add_argument("--dry-run", action="store_true", help="print each member's train command; run nothing")
  p.add_argument("--only", help="comma-separated globs of member names")
  p.add_argument("--no-analysis", action="store_true")
  p.add_argument("--skip-failed", action="store_true", help="do not retry members that failed before")
  p.add_argument("--set", help="key=value,... added to every member's config (e.g. dtype=bfloat16)")
  p.add_argument("--quiet", action="store_true", help="no per-run progress bars")
  p.add_argument("--json", action="store_true")
  multihost_opts(p)
  p.set_defaults(fn=_sweep)

  p = sub.add_parser("sample", help="sample programs from a trained run (KV-cache decoding)")
  p.add_argument("--workdir", required=True)
  p.add_argument("--n", type=int, default=8)
  p.add_argument("--prompt", help="a file whose text the samples continue")
  p.add_argument("--temperature", type=float, default=1.0)
  p.add_argument("--top-p", type=float, default=1.0)
  p.add_argument("--max-len", type=int, help="tokens/actions to generate (default: the model's context)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", help="directory for the sample files (default WORKDIR/samples)")
  p.set_defaults(fn=_sample)

  p = sub.add_parser("evaluate", help="bits per byte with a per-file table; sample validity and diversity")
  p.add_argument("--workdir", required=True)
  p.add_argument("--split", default="test", choices=("train", "validation", "test"))
  p.add_argument("--corpus", help="score these files instead of a split (a directory, glob, .jsonl or .parquet), "
                 "encoded with the run's own vocabularies")
  p.add_argument("--samples", type=int, default=0, help="also draw this many samples and measure them")
  p.add_argument("--max-len", type=int)
  p.add_argument("--temperature", type=float, default=1.0)
  p.add_argument("--complete", type=int, default=0, metavar="N",
                 help="also complete the next line at N fixed cursors (statement starts) of the split")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", action="store_true")
  p.set_defaults(fn=_evaluate)

  args = ap.parse_args(argv)
  try:
    code = args.fn(args)
  except (FileNotFoundError, ValueError, TimeoutError) as e:
    sys.exit(f"structlm {args.command}: error: {e}")
  sys.exit(code)
