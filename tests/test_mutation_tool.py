"""tools/mutation.py: the order is seeded and random (a prefix is a uniform sample); the score leaves out listed
equivalents, counts timeouts as killed and "no tests" as not killed; the interval is Wilson's."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("mutation", os.path.join(ROOT, "tools", "mutation.py"))
mutation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutation)


def test_the_order_is_seeded_and_holds_every_mutant_once():
  meta = {f"m.x_f__mutmut_{i}": None for i in range(1000)}
  one = mutation.order(meta, seed=0)
  assert one == mutation.order(meta, 0) != mutation.order(meta, 1) and sorted(one) == sorted(meta)
  assert one[:100] != sorted(meta)[:100]  # a prefix is a sample, not the first functions


def test_score_counts_and_leaves_out_equivalents(tmp_path):
  meta = {"a": 1, "b": 36, "c": 0, "d": 33, "e": 0, "f": None}
  listed = tmp_path / "eq.txt"
  listed.write_text("# comment\ne  why it cannot be told apart\n")
  out = mutation.score(meta, sorted(meta), mutation.equivalents(str(listed)))
  assert out["killed"] == 2 and out["scored"] == 4 and out["score"] == 0.5  # a, b killed; c, d not; e left out
  assert out["not_killed"] == ["c", "d"] and out["not_checked"] == ["f"] and out["counts"]["equivalent"] == 1
  lo, hi = mutation.wilson(45, 50)
  assert abs(lo - 0.7864) < 1e-3 and abs(hi - 0.9565) < 1e-3


def test_listed_equivalents_parse():
  listed = mutation.equivalents(os.path.join(ROOT, "docs", "mutation-equivalents.txt"))
  assert listed and all(name.count(".") >= 2 and "__mutmut_" in name and why for name, why in listed.items())
