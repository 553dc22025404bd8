"""Builds structlm._native, the C structured encoder and decoder (metadata lives in pyproject.toml)."""
from setuptools import Extension, setup

TS = "structlm/native/tree_sitter"

setup(ext_modules=[Extension(
    "structlm._native",
    sources=["structlm/native/encoder.c", "structlm/native/decoder.c", f"{TS}/src/lib.c"],
    include_dirs=["structlm/native", f"{TS}/include", f"{TS}/src"],
    depends=["structlm/native/bpe.h", "structlm/native/encoder.h", "structlm/native/hashmap.h",
             "structlm/native/native.h", "structlm/native/walk.h"],
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-D_DEFAULT_SOURCE", "-Wno-unused-parameter",
                        "-Wno-cast-function-type"],
)])
