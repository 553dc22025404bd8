"""`python -m structlm prepare`: build (or reuse) a dataset and report what it holds."""
from __future__ import annotations

import json
import os
import time

import numpy as np
from etils import epath

from structlm import storage

INDEX_FILE, SUMMARY_FILE = "index.npz", "summary.json"
REBUILD = ("python -m structlm prepare --corpus {corpus} --language {language}{strip} --vocab-size {vocab}"
           "{capacity} --name-window {window} --data-dir {data_dir}")


def dataset_dir(data_dir: str, name: str, version: str) -> str:
  return str(epath.Path(data_dir) / "code_corpus" / name / version)


def prepare(corpus: str = "stdlib", language: str = "python", strip_comments: bool = False, vocab_size: int = 8192,
            leaf_capacity: str = "merges", data_dir: str = "data", max_bytes: int = 1 << 20, workers: int = 0, beam_runner=None,
            beam_options=None, name_window: int | None = None, build: bool = True,
            wait_s: float = 7200.0) -> dict:
  """Build the dataset (or reuse it). With `beam_runner` (e.g. "DirectRunner", or a runner object) and
  `beam_options` (apache_beam PipelineOptions), the records are encoded by an Apache Beam pipeline.
  A remote `data_dir` (gs://...): the dataset is built in this host's local mirror and uploaded, or, when it is
  there already, downloaded into the mirror; `dataset_dir` is then the local copy. `build=False` (multi-host: every
  process but one) waits up to `wait_s` for another host's upload instead of building."""
  import tensorflow_datasets as tfds

  from structlm.data.code_corpus import CodeCorpus, CodeCorpusConfig
  from structlm.data.code_corpus.code_corpus import VERSION, config_name, vocab_name
  from structlm.data.vocab import DEFAULT_NAME_WINDOW
  t0 = time.time()
  name_window = DEFAULT_NAME_WINDOW if name_window is None else int(name_window)
  if name_window < 1:
    raise ValueError(f"name_window {name_window}: give the bytes a scoped REF may reach back (>= 1; the whole "
                     "file is the scoped_file variant, stored beside it)")
  name = config_name(corpus, language, strip_comments, vocab_size, leaf_capacity, name_window)
  if storage.is_remote(data_dir) and beam_runner is not None:
    raise ValueError(f"--beam-runner with --data-dir {data_dir}: a Beam build writes its ArrayRecord files from the "
                     "workers, and ArrayRecord writes only to file systems the workers mount. Give --data-dir a "
                     "shared mount (NFS, a gcsfuse mount of the bucket), or build without Beam: --data-dir gs://... "
                     "builds on this host and uploads")
  if storage.is_remote(data_dir):
    return _prepare_remote(data_dir, name, vocab_name(corpus, language, strip_comments, vocab_size, leaf_capacity),
                           build, wait_s, dict(corpus=corpus, language=language, strip_comments=strip_comments,
                                               vocab_size=vocab_size, leaf_capacity=leaf_capacity,
                                               max_bytes=max_bytes, workers=workers, beam_runner=beam_runner,
                                               beam_options=beam_options, name_window=name_window))
  ddir = dataset_dir(data_dir, name, VERSION)
  summary_path = epath.Path(ddir) / SUMMARY_FILE
  if summary_path.exists():
    res = json.loads(summary_path.read_text())
    res.update(reused=True, seconds=round(time.time() - t0, 2))
    return res
  cfg = CodeCorpusConfig(name=name, corpus=corpus, language=language, strip_comments=strip_comments,
                         vocab_size=vocab_size, leaf_capacity=leaf_capacity, name_window=name_window, max_bytes=max_bytes, workers=workers, beam=beam_runner is not None)
  builder = CodeCorpus(config=cfg, data_dir=data_dir, file_format="array_record")
  if beam_runner is not None and isinstance(beam_runner, str):
    import apache_beam as beam
    beam_runner = beam.runners.create_runner(beam_runner)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      verify_ssl=False, beam_runner=beam_runner, beam_options=beam_options))
  stats = builder.stats
  index = write_index(ddir)
  n_bytes = sum(int(v["bytes"].sum()) for v in index.values())
  res = dict(
      files=sum(len(v["bytes"]) for v in index.values()) + sum(stats.skipped.values()),
      bytes=n_bytes, skipped=dict(stats.skipped), duplicates=stats.duplicates,
      splits={k: int(len(v["bytes"])) for k, v in index.items()},
      tokens_per_byte=sum(int(v["tokens"].sum()) for v in index.values()) / max(n_bytes, 1),
      actions_per_byte=sum(int(v["actions"].sum()) for v in index.values()) / max(n_bytes, 1),
      scoped_actions_per_byte=sum(int(v["scoped_actions"].sum()) for v in index.values()) / max(n_bytes, 1),
      scoped_file_actions_per_byte=sum(int(v["file_scoped_actions"].sum()) for v in index.values()) / max(n_bytes, 1),
      name_window=name_window,
      dataset_dir=ddir, config=name, **dict(builder.info.metadata),
      rebuild=REBUILD.format(corpus=corpus, language=language, strip=" --strip-comments" if strip_comments else "",
                             vocab=vocab_size, data_dir=data_dir, window=name_window,
                             capacity="" if leaf_capacity == "merges" else f" --leaf-capacity {leaf_capacity}"),
  )
  res["build_seconds"] = round(time.time() - t0, 2)
  summary_path.write_text(json.dumps(res, indent=1))  # written last: marks the dataset complete
  res.update(reused=False, seconds=res["build_seconds"])
  return res


def _prepare_remote(data_dir: str, name: str, vocab: str, build: bool, wait_s: float, kw: dict) -> dict:
  """The dataset `name` (and its vocabulary `vocab`) under a remote `data_dir`, read through a local mirror."""
  from structlm.data.code_corpus.code_corpus import VERSION
  local = storage.mirror(data_dir)
  parts = [os.path.join("code_corpus", name, VERSION), os.path.join("code_corpus", vocab, "vocab")]
  marker = f"{data_dir.rstrip('/')}/{parts[0]}/{SUMMARY_FILE}"
  t0 = time.time()
  uploaded = False
  if not storage.exists(marker):
    if not build:
      storage.wait_for(marker, wait_s, "the host that builds the dataset (process 0) failed or is still "
                       "building: see its log")
    else:
      prepare(data_dir=local, **kw)  # built (or found) in the mirror, then uploaded: the summary last
      storage.push(os.path.join(local, parts[1]), f"{data_dir.rstrip('/')}/{parts[1]}")
      storage.push(os.path.join(local, parts[0]), f"{data_dir.rstrip('/')}/{parts[0]}", last=(SUMMARY_FILE,))
      uploaded = True
  for part in parts:
    storage.pull(f"{data_dir.rstrip('/')}/{part}", os.path.join(local, part))
  res = json.loads(storage.read_text(marker))
  res.update(dataset_dir=os.path.join(local, parts[0]), remote_dataset_dir=f"{data_dir.rstrip('/')}/{parts[0]}",
             local_data_dir=local, reused=not uploaded, seconds=round(time.time() - t0, 2))
  return res


def write_index(ddir: str) -> dict:
  """Per split, in record order: source bytes and each variant's sequence length (the packer plans from these)."""
  import tensorflow_datasets as tfds

  from structlm import variants
  src = tfds.builder_from_directory(ddir).as_data_source()
  index = {}
  lengths = [v.features[0] for v in variants.VARIANTS.values()]
  for split, ds in src.items():
    n = len(ds)
    arr = {k: np.zeros(n, np.int64) for k in ["bytes"] + lengths}
    for i in range(n):
      ex = ds[i]
      arr["bytes"][i] = ex["bytes"]
      for k in lengths:
        arr[k][i] = len(ex[k])
    index[split] = arr
  with (epath.Path(ddir) / INDEX_FILE).open("wb") as f:
    np.savez(f, **{f"{s}/{k}": v for s, a in index.items() for k, v in a.items()})
  return index
