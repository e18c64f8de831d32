"""MkDocs hooks: the pages the site makes at build time from the repository's own files.

* ``index.md`` is the README (the tour), ``changelog.md`` the CHANGELOG and
  ``benchmarks/index.md`` the benchmarks' README, with their links rewritten for the site.
* ``reference/<module>.md``: one API page per public module of ``src/hosepipe`` (every module
  or package whose dotted path has no part starting with ``_``), found on disk, so a new public
  module gets its page and its place in the nav with no edit here or in ``mkdocs.yml``.
* ``benchmarks/<name>.md``: one page per workload in ``benchmarks/results/*.json``, with the
  saved tables and plots drawn from the JSON (matplotlib), never committed.
* ``extras.md``: its table of extras is checked against ``pyproject.toml``'s
  ``[project.optional-dependencies]`` and given each extra's requirements from there, so
  the page cannot drift from the packaging.

The nav in ``mkdocs.yml`` names ``reference/index.md`` and ``benchmarks/index.md``; the
hook adds the generated pages after them.
"""

from __future__ import annotations

import io
import posixpath
import re
import statistics
import tomllib
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "hosepipe"
RESULTS = ROOT / "benchmarks" / "results"

# Repository files the site shows as pages: repository path -> site page.
COPIED = {
    "README.md": "index.md",
    "CHANGELOG.md": "changelog.md",
    "benchmarks/README.md": "benchmarks/index.md",
}
# Repository paths linked to from those files that are shown by another page.
LINK_TARGETS = {**COPIED, "benchmarks/results": "benchmarks/index.md"}

_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def public_modules() -> list[str]:
    """The dotted names of hosepipe's public modules, ``hosepipe`` first, then sorted."""
    names = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__" or any(p.startswith("_") for p in parts):
            continue
        names.append(".".join(parts))
    return sorted(names, key=lambda name: (name != "hosepipe", name))


def site_link(target: str, source: str, page: str) -> str | None:
    """The link from site *page* for *target*, a link in repository file *source*; None when
    the site has no page for it.

    >>> site_link("docs/guide/async.md#tasks", "README.md", "index.md")
    'guide/async.md#tasks'
    >>> site_link("../CHANGELOG.md", "benchmarks/README.md", "benchmarks/index.md")
    '../changelog.md'
    >>> site_link("tests/typing/", "README.md", "index.md") is None
    True
    """
    if "://" in target or target.startswith(("#", "mailto:")):
        return target
    path, _, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    if repo_path.startswith("docs/"):
        site_path = repo_path.removeprefix("docs/")
    elif repo_path in LINK_TARGETS:
        site_path = LINK_TARGETS[repo_path]
    else:
        return None
    link = posixpath.relpath(site_path, posixpath.dirname(page) or ".")
    return f"{link}#{anchor}" if anchor else link


def rewrite_links(text: str, source: str, page: str) -> str:
    """*text* of repository file *source* with its links fixed for site *page*; a link to a
    file the site does not show becomes plain text naming the repository path.

    >>> text = "[the guide](docs/guide/push.md), [x](src/a.py), [y/](y/)"
    >>> rewrite_links(text, "README.md", "index.md")
    '[the guide](guide/push.md), x (`src/a.py`), `y/` (in the repository)'
    """

    def fix(match: re.Match[str]) -> str:
        label, target = match.groups()
        link = site_link(target, source, page)
        if link is None:  # not on the site
            return f"`{target}` (in the repository)" if label == target else f"{label} (`{target}`)"
        return f"[{label}]({link})"

    return _LINK.sub(fix, text)


def reference_page(module: str) -> str:
    """The markdown of the API page of *module*: its docstring, then every name it exports."""
    return f"# `{module}`\n\n::: {module}\n"


def extras() -> dict[str, list[str]]:
    """``[project.optional-dependencies]`` of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["optional-dependencies"])


_EXTRA_ROW = re.compile(r"^\| `(?P<name>[a-z0-9-]+)` \|(?P<rest>.*)$", re.MULTILINE)


def fill_extras_table(markdown: str) -> str:
    """Check the extras table (rows ``| `name` | what it brings |``) against pyproject.toml
    and add each extra's requirements as a last column."""
    declared = extras()
    listed = [m["name"] for m in _EXTRA_ROW.finditer(markdown)]
    missing = [name for name in declared if name not in listed]
    unknown = [name for name in listed if name not in declared]
    if missing or unknown:
        raise PluginError(
            "docs/extras.md and pyproject.toml [project.optional-dependencies] differ: "
            f"no row for {missing}, rows for extras pyproject.toml lacks: {unknown} "
            "(a row is: | `name` | what it brings |)"
        )

    def row(m: re.Match[str]) -> str:
        needs = ", ".join(f"`{req}`" for req in declared[m["name"]])
        return f"{m[0]} {needs} |"

    markdown = markdown.replace(
        "| extra | what it brings |", "| extra | what it brings | installs |"
    )
    markdown = markdown.replace("|:--|:--|\n", "|:--|:--|:--|\n", 1)
    return _EXTRA_ROW.sub(row, markdown)


# --- benchmark pages -------------------------------------------------------------------


def _is_variants(value: object) -> bool:
    return (
        isinstance(value, dict)
        and len(value) >= 2
        and all(isinstance(v, dict) and "median_s" in v and "label" in v for v in value.values())
    )


def _is_samples(value: object) -> bool:
    return (
        isinstance(value, dict)
        and len(value) >= 2
        and all(
            isinstance(v, list) and v and all(isinstance(x, int | float) for x in v)
            for v in value.values()
        )
    )


_DERIVED = re.compile(r"ratio|speedup")


def find_charts(report: dict[str, Any], path: str = "") -> list[tuple[str, str, Any]]:
    """The plottable parts of a benchmark report, as (kind, JSON path, value): variant
    timings (``{key: {label, median_s, min_s, times_s}}``), per-operator overheads
    (``operators``) and repeated measurements (``{key: [numbers]}``)."""
    found: list[tuple[str, str, Any]] = []
    for key, value in report.items():
        where = f"{path}.{key}" if path else key
        if key == "environment" or _DERIVED.search(key):
            continue  # ratios and speedups are in the tables, from the same times
        if key == "operators" and isinstance(value, dict):
            found.append(("operators", where, value))
        elif _is_variants(value):
            if len(value) <= 20:  # ops' per-operator variants are plotted as `operators`
                found.append(("variants", where, value))
        elif _is_samples(value):
            found.append(("samples", where, value))
        elif isinstance(value, dict):
            found.extend(find_charts(value, where))
    return found


def _unit(where: str) -> tuple[str, float]:
    if where.endswith("_kib"):
        return "MiB", 1 / 1024
    if where.endswith("_us"):
        return "ms", 1 / 1000
    if where.endswith("_ms"):
        return "ms", 1.0
    return "s", 1.0


def plot(kind: str, where: str, value: Any, title: str) -> bytes:
    """A PNG chart of one plottable part of a report (see ``find_charts``)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if kind == "operators":
        names = list(value)
        # {operator: {"reference": ..., "ns_per_item": {variant: ns}}}
        per_item = {n: next(d for d in v.values() if isinstance(d, dict)) for n, v in value.items()}
        series = sorted({k for d in per_item.values() for k in d})
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(names) * len(series) / 2 + 1.2))
        height = 0.8 / len(series)
        for i, s in enumerate(series):
            ys = [n + i * height for n in range(len(names))]
            xs = [per_item[name].get(s, 0.0) for name in names]
            ax.barh(ys, xs, height=height, label=s)
        ax.set_yticks([n + 0.4 - height / 2 for n in range(len(names))], names)
        ax.set_xlabel("ns per item")
        ax.legend()
    else:
        if kind == "variants":
            labels = [v["label"] for v in value.values()]
            med = [v["median_s"] for v in value.values()]
            lo = [v["median_s"] - min(v["times_s"]) for v in value.values()]
            hi = [max(v["times_s"]) - v["median_s"] for v in value.values()]
            hosepipe = ["hosepipe" in (v.get("group", "") + v["label"]) for v in value.values()]
            unit, scale = "s", 1.0
        else:
            unit, scale = _unit(where)
            labels = list(value)
            med = [statistics.median(v) * scale for v in value.values()]
            lo = [(statistics.median(v) - min(v)) * scale for v in value.values()]
            hi = [(max(v) - statistics.median(v)) * scale for v in value.values()]
            hosepipe = ["hosepipe" in label for label in labels]
        fig, ax = plt.subplots(figsize=(8, 0.36 * len(labels) + 1.2))
        colors = ["#e65100" if h else "#78909c" for h in hosepipe]
        ax.barh(range(len(labels)), med, xerr=[lo, hi], color=colors, capsize=2)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(f"median ({unit}), whiskers: lowest to highest of the runs")
    ax.invert_yaxis()
    ax.set_title(f"{title}: {where}", fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)
    return out.getvalue()


def benchmark_pages() -> dict[str, str | bytes]:
    """Site path -> content: a page per benchmark in benchmarks/results, and its plots."""
    reports: dict[str, list[Path]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        name, _, _mode = path.stem.rpartition("-")
        reports.setdefault(name, []).append(path)
    out: dict[str, str | bytes] = {}
    for name, paths in sorted(reports.items(), key=lambda kv: (not kv[0].startswith("w"), kv[0])):
        import json

        paths.sort(key=lambda p: not p.stem.endswith("-full"))  # full first, then quick
        reports_ = [json.loads(p.read_text()) for p in paths]
        lines = [f"# {reports_[0]['title']}", ""]
        for path, report in zip(paths, reports_, strict=True):
            lines += [f"## {report['mode'].capitalize()} run", ""]
            for i, (kind, where, value) in enumerate(find_charts(report), 1):
                image = f"{path.stem}-{i}.png"
                out[f"benchmarks/{image}"] = plot(kind, where, value, report["title"])
                lines += [f"![{report['title']}: {where}]({image})", ""]
            table = path.with_suffix(".md")
            if table.exists():
                body = table.read_text().split("\n", 1)[1]  # its own title is the section's
                lines += [re.sub(r"^(#+) ", r"\1## ", body, flags=re.MULTILINE), ""]
        out[f"benchmarks/{name}.md"] = "\n".join(lines)
    return out


# --- the hooks -------------------------------------------------------------------------

_generated: dict[str, str | bytes] = {}


def _expand(nav: list[Any], page: str, children: list[str]) -> bool:
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if value == page:
                nav[i] = {title: [page, *children]}
                return True
            if isinstance(value, list) and _expand(value, page, children):
                return True
    return False


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    _generated.clear()
    for source, page in COPIED.items():
        text = (ROOT / source).read_text()
        _generated[page] = rewrite_links(text, source, page)
    for module in public_modules():
        _generated[f"reference/{module}.md"] = reference_page(module)
    _generated.update(benchmark_pages())
    pages = [p for p in _generated if p.endswith(".md")]
    for index in ("reference/index.md", "benchmarks/index.md"):
        section = posixpath.dirname(index) + "/"
        children = [p for p in pages if p.startswith(section) and p != index]
        if not _expand(config.nav or [], index, children):
            raise PluginError(f"mkdocs.yml: the nav has no entry for {index}")
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, content in _generated.items():
        if files.get_file_from_path(path) is not None:
            raise PluginError(f"docs/{path} is generated by docs/_hooks/pages.py: remove it")
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == "extras.md":
        return fill_extras_table(markdown)
    return markdown
