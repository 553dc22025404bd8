"""The tfds builder package (tfds needs builders to live in a package)."""
from structlm.data.code_corpus.code_corpus import CodeCorpus, CodeCorpusConfig  # noqa: F401
