"""The README and docs/: every relative link resolves; the README stays short."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pages():
  yield os.path.join(ROOT, "README.md")
  for d, _, files in os.walk(os.path.join(ROOT, "docs")):
    for f in files:
      if f.endswith(".md"):
        yield os.path.join(d, f)


def test_every_relative_link_resolves():
  broken = []
  for page in _pages():
    text = open(page, encoding="utf-8").read()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
      if re.match(r"[a-z]+:", target) or target.startswith("#"):
        continue
      path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
      if not os.path.exists(path):
        broken.append(f"{os.path.relpath(page, ROOT)} -> {target}")
  assert not broken, broken


def test_readme_is_short():
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    assert len(f.read().splitlines()) <= 150


def test_readme_answer_is_the_published_study():
  """The README's answer block is what `analysis.publish --answer` writes from the committed study's fits.json
  (no number typed in), and it stays short."""
  import json

  from analysis import publish
  with open(os.path.join(ROOT, "docs", "study", "fits.json")) as f:
    fits = json.load(f)
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    text = f.read()
  begin, end = publish.markers("answer")
  block = begin + text.split(begin, 1)[1].split(end, 1)[0] + end
  assert block == publish.answer_block(fits, "docs/study/loss_vs_compute.png", "docs/study.md")
  assert len(block.splitlines()) <= 20
