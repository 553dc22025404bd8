import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from structlm.syntax import sources  # noqa: E402
from structlm.syntax.build import build_grammar  # noqa: E402
from structlm.syntax.codec import Codec  # noqa: E402
from structlm.syntax.grammar import GrammarConfig  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")

# CI (CI=true) is reproducible: hypothesis draws the same cases every run
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# skips that CI must not accept: the 8 simulated devices (the Makefile sets them) and ../shared (CI has it)
REQUIRED_IN_CI = ("xla_force_host_platform_device_count", "chinchilla_epoch.csv")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  report = outcome.get_result()
  if os.environ.get("CI") and report.skipped and any(k in str(report.longrepr) for k in REQUIRED_IN_CI):
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where it must run: {report.longrepr}"


def stdlib_subset(n: int = 48, max_bytes: int = 60_000):
  """A bounded, deterministic spread of stdlib files (every k-th file under a size bound)."""
  files = [f for f in sources.stdlib_files() if os.path.getsize(f) <= max_bytes]
  step = max(1, len(files) // n)
  return [(f, sources.read(f)) for f in files[::step][:n]]


@pytest.fixture(scope="session")
def py_files():
  return stdlib_subset()


@pytest.fixture(scope="session")
def py_grammar(py_files):
  return build_grammar("python", py_files, GrammarConfig(vocab_size=4096))


@pytest.fixture(scope="session")
def py_codec(py_grammar):
  return Codec(py_grammar)


@pytest.fixture(scope="session")
def js_files():
  return [(os.path.join(DATA, f), sources.read(os.path.join(DATA, f)))
          for f in sorted(os.listdir(DATA)) if f.endswith(".js")]


@pytest.fixture(scope="session")
def js_grammar(js_files):
  return build_grammar("javascript", js_files, GrammarConfig(vocab_size=2048, min_count=1))
