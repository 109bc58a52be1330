"""Make a GX Data Docs site render fully offline, and owner/group-only.

GX 1.24 writes pages that load Bootstrap 4, jQuery, popper, bootstrap-table,
bootstrap-datepicker, Font Awesome and Vega from public CDNs, and its logo
from a public web server. On the machines IG staff use (no internet, or
internet we do not want the pages to call) they render unstyled, the index
page renders empty (its tables are filled by bootstrap-table from data held
in a script), and each opening would tell the CDNs who reads our reports.

`make_offline(folder)` rewrites every page of a built site:

- every `<script>` is removed (the external libraries, and the inline scripts
  that need them); the index page's script-built tables are rendered as plain
  HTML tables from the same data, with each row's link;
- every external `<link>`, `@import`, CSS `url(...)`, and any other attribute
  that points off the machine is removed; the logo points at GX's own copy in
  `static/images/`; GX's marketing footers go;
- a small stylesheet of ours (`templates/datadocs_offline.css`: the Bootstrap
  classes GX uses, icons as characters) and a small script
  (`templates/datadocs_offline.js`: the "Show all" / "Failed only" filter of a
  validation page, no library) are inlined in each page;
- the columns stratify derives from the delivered text for the suites
  (`end_date__calendar`, `event_date__yyyymmdd`, ...; `derived`, from
  `stratify.validate.suites.derived_columns`) are labelled wherever a page
  names them, and a page that names any explains them at its top, so no one
  reads them as delivered columns.

Why rewrite rather than vendor the libraries: the pages use ten assets at
exact versions (Bootstrap 4.3.1, bootstrap-table 1.19.1, Vega 5, ...); no one
package set ships them (XStatic has jQuery 3.7.1 but only Bootstrap 5 and no
bootstrap-table or Vega), and vendoring them from npm would put a JavaScript
build into a Python project and several megabytes of third-party code into
every run folder. Removing whatever is external is independent of which
versions a GX release links, and `external_references` finds anything left.

Files and folders are set to 0o640/0o750 (`stratify.files.permissions`).

`PageView` and `IndexPageView` are GX's own page views (configured in the
site as its documented `view` classes), with one difference: every view of
the process shares one cache of compiled templates. GX gives each section of
a site its own Jinja environment, so each compiled the same templates again
(51 compilations for a night's site, 40% of building it); the pages they
render are unchanged.
"""

from __future__ import annotations

import ast
import html
import logging
import os
import re
from pathlib import Path
from typing import Any

import jinja2
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

from stratify.files.permissions import restrict_tree, write_private_text
from stratify.resources import TEMPLATES_DIR

log = logging.getLogger(__name__)

TEMPLATES = TEMPLATES_DIR
MARKER = '<meta name="generator" content="stratify.validate.data_docs.make_offline">'
LOGO = Path("static") / "images" / "logo-long.png"

_EXT = r"(?:https?:)?//"  # absolute or protocol-relative URL
SCRIPT_RE = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.S | re.I)
LINK_RE = re.compile(r"<link\b[^>]*>", re.I)
IMG_RE = re.compile(r"<img\b[^>]*>", re.I)
FOOTER_RE = re.compile(r"<footer\b.*?</footer\s*>", re.S | re.I)
HEAD_END_RE = re.compile(r"</head\s*>", re.I)
URL_ATTR_RE = re.compile(
    r"""\s(?:src|href|srcset|poster|data|action|background|xlink:href)\s*=\s*(?:"\s*%s[^"]*"|'\s*%s[^']*'|%s[^\s>]*)""" % (_EXT, _EXT, _EXT),
    re.I,
)
CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)\s*%s[^)]*\)""" % _EXT, re.I)
CSS_IMPORT_RE = re.compile(r"""@import\b[^;]*;""", re.I)
DARK_RE = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)\s*\{", re.I)
BOOTSTRAP_TABLE_RE = re.compile(
    r"\$\(\s*['\"]#(?P<id>[\w-]+)['\"]\s*\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"
    r"columns:\s*(?P<columns>\[.*?\])\s*,\s*data:\s*(?P<data>\[.*?\])\s*,\s*toolbar:[^}]*\}\s*,\s*"
    r"(?P<options>\{.*?\})\s*\)\s*\)",
    re.S,
)
LINK_FIELDS = ("run_name", "expectation_suite_name")

# What must not remain: a script, stylesheet, font or image loaded from elsewhere.
EXTERNAL_REF_RE = re.compile(
    r"""(?:<(?:script|link|img|iframe|source|object|embed|audio|video)\b[^>]*\s(?:src|href|data|srcset)\s*=\s*["']?\s*%s)"""
    r"""|(?:url\(\s*['"]?\s*%s)|(?:@import\b)""" % (_EXT, _EXT),
    re.I,
)


class SharedTemplateCode(jinja2.BytecodeCache):
    """Compiled templates kept in memory and shared by every Jinja environment that uses this cache.

    Jinja keys a template by its name and file and checks the source's
    checksum before reusing its code, so a changed template is compiled anew.
    """

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, Any]] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        checksum, code = self._code.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = (bucket.checksum, bucket.code)


TEMPLATE_CODE = SharedTemplateCode()


class PageView(DefaultJinjaPageView):
    """GX's page view (suite and validation pages), compiling each template once per process."""

    def __init__(self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory=custom_styles_directory, custom_views_directory=custom_views_directory)
        self.env.bytecode_cache = TEMPLATE_CODE


class IndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view, compiling each template once per process."""

    def __init__(self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory=custom_styles_directory, custom_views_directory=custom_views_directory)
        self.env.bytecode_cache = TEMPLATE_CODE


def site_views() -> dict[str, Any]:
    """The Data Docs site configuration that makes GX's site builder use these views (all else GX's defaults)."""
    page = {"module_name": __name__, "class_name": PageView.__name__}
    return {
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "view": {"module_name": __name__, "class_name": IndexPageView.__name__}},
        "site_section_builders": {section: {"view": dict(page)} for section in ("expectations", "validations", "profiling")},
    }


class DataDocsOfflineError(RuntimeError):
    """A rewritten Data Docs page still refers to something off the machine."""


def external_references(text: str) -> list[str]:
    """Every script, stylesheet, font, image or import in `text` that would be fetched from another host."""
    return [m.group(0)[:160] for m in EXTERNAL_REF_RE.finditer(text)]


def make_offline(folder: Path, derived: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """Rewrite every Data Docs page under `folder` to render offline; restrict modes; return a small summary.

    `derived`: column name -> {"from": delivered column, "words": what it holds}, labelled on every page.
    Idempotent: a page already rewritten is left as it is. Raises
    `DataDocsOfflineError` naming the page if anything external remains.
    """
    folder = Path(folder)
    derived = derived or {}
    style = (TEMPLATES / "datadocs_offline.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "datadocs_offline.js").read_text(encoding="utf-8")
    pages = sorted(folder.rglob("*.html"))
    rewritten = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if MARKER in text:
            continue
        new = label_derived(rewrite_page(text, page, folder, style, script), derived)
        left = external_references(new)
        if left:
            raise DataDocsOfflineError(f"{page}: still refers to another host after rewriting: {left[0]}")
        write_private_text(page, new)
        rewritten += 1
    for css in folder.rglob("*.css"):  # GX copies its (unlinked) stylesheet templates into static/
        text = css.read_text(encoding="utf-8")
        cleaned = CSS_IMPORT_RE.sub("", CSS_URL_RE.sub("none", text))
        if cleaned != text:
            write_private_text(css, cleaned)
    restrict_tree(folder)
    return {"pages": len(pages), "rewritten": rewritten}


def rewrite_page(text: str, page: Path, root: Path, style: str, script: str) -> str:
    """One page, offline: tables rendered, external tags and attributes gone, our style and script inlined."""
    tables = dict(_bootstrap_tables(text, page, root))
    text = SCRIPT_RE.sub("", text)
    text = LINK_RE.sub(lambda m: "" if URL_ATTR_RE.search(m.group(0)) else m.group(0), text)
    text = IMG_RE.sub(lambda m: _local_image(m.group(0), page, root), text)
    text = FOOTER_RE.sub("", text)
    text = _drop_dark_mode(text)
    text = CSS_IMPORT_RE.sub("", CSS_URL_RE.sub("none", text))
    for table_id, body in tables.items():
        text = re.sub(r"(<table\b[^>]*\bid=\"%s\"[^>]*>)\s*(</table\s*>)" % re.escape(table_id),
                      lambda m: m.group(1) + body + m.group(2), text, count=1)  # noqa: B023 - called at once, in this iteration
    text = URL_ATTR_RE.sub("", text)
    head = (f"{MARKER}\n<style>\n{style}\n</style>\n<script>\n{script}\n</script>\n")
    note = ('<div class="stratify-offline-note">Rendered for offline reading by stratify: no scripts, styles or fonts '
            "are loaded from other hosts; tables are static.</div>")
    text, n = HEAD_END_RE.subn(lambda m: head + m.group(0), text, count=1)
    if not n:
        text = head + text
    return re.sub(r"(<body\b[^>]*>)", lambda m: m.group(1) + "\n" + note, text, count=1, flags=re.I)


TAG_RE = re.compile(r"(<[^>]*>)")
HEADING_TAG_RE = re.compile(r"<(?:h[1-6]|a\b[^>]*\bnav-link)\b", re.I)


def label_derived(text: str, derived: dict[str, dict[str, str]]) -> str:
    """Label every derived column a page names: `(derived)` in lists and sentences, the full words in headings.

    Only text between tags is touched (never an attribute or a tag); a page
    that names a derived column gets a note at the top of its body saying
    what each one it names is.
    """
    if not derived:
        return text
    name_re = re.compile(r"(?<![\w])(%s)(?![\w])" % "|".join(re.escape(n) for n in sorted(derived, key=len, reverse=True)))
    named: set[str] = set()
    parts = TAG_RE.split(text)
    previous_tag = ""
    for i, part in enumerate(parts):
        if i % 2:  # a tag
            previous_tag = part
            continue
        if not name_re.search(part):
            continue
        heading = bool(HEADING_TAG_RE.match(previous_tag))

        def label(m: re.Match, heading: bool = heading) -> str:
            d = derived[m.group(1)]
            named.add(m.group(1))
            title = html.escape(f"derived by stratify from the delivered {d['from']}: {d['words']}", quote=True)
            if heading:
                return (f'{m.group(1)} <span class="stratify-derived" title="{title}">(derived by stratify from '
                        f'{html.escape(d["from"])}, not delivered: {html.escape(d["words"])})</span>')
            return f'{m.group(1)} <span class="stratify-derived" title="{title}">(derived)</span>'

        parts[i] = name_re.sub(label, part)
    if not named:
        return text
    items = "".join(f"<li><code>{html.escape(n)}</code>: {html.escape(derived[n]['words'])} (from the delivered "
                    f"<code>{html.escape(derived[n]['from'])}</code>)</li>" for n in sorted(named))
    note = ('<div class="stratify-derived-note">Columns marked <em>derived</em> were not delivered: stratify computes '
            "them from the delivered text so the contract's rules on dates and numbers can be checked. "
            f"<ul>{items}</ul></div>")
    out = "".join(parts)
    return re.sub(r'(<div class="stratify-offline-note">.*?</div>)', lambda m: m.group(1) + "\n" + note, out,
                  count=1, flags=re.S)


def _local_image(tag: str, page: Path, root: Path) -> str:
    """An external image becomes GX's local logo (its only external image), or its alt text."""
    if not URL_ATTR_RE.search(tag):
        return tag
    logo = root / LOGO
    alt = re.search(r"""\balt\s*=\s*["']([^"']*)["']""", tag, re.I)
    if logo.exists():
        rel = os.path.relpath(logo, page.parent).replace(os.sep, "/")
        return f'<img src="{html.escape(rel)}" alt="{html.escape(alt.group(1) if alt else "")}" style="height: 40px; width: auto">'
    return html.escape(alt.group(1)) if alt else ""


def _drop_dark_mode(text: str) -> str:
    """Remove GX's dark-mode overrides (written for the CDN's bootstrap-dark; half-applied they make tables unreadable)."""
    out, pos = [], 0
    for m in DARK_RE.finditer(text):
        if m.start() < pos:
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[pos:m.start()])
        pos = i
    out.append(text[pos:])
    return "".join(out)


def _bootstrap_tables(text: str, page: Path, root: Path):
    """(table id, rendered <thead><tbody>) for each table GX fills from script data (the index page's)."""
    done = set()
    for m in BOOTSTRAP_TABLE_RE.finditer(text):
        done.add(m.group("id"))
        try:
            columns = ast.literal_eval(m.group("columns"))
            rows = ast.literal_eval(m.group("data"))
            options = ast.literal_eval(m.group("options"))
            yield m.group("id"), _render_table(columns, rows, options)
        except (ValueError, SyntaxError, TypeError, KeyError, AttributeError, MemoryError, RecursionError) as exc:
            log.warning("Data Docs %s: table %s not readable (%s); listing the site's pages instead",
                        page.name, m.group("id"), type(exc).__name__)
            yield m.group("id"), _page_list(page, root)
    # an empty script-filled table whose script GX changed beyond recognition still lists the site's pages
    for tid in re.findall(r'<table\b[^>]*\bid="([\w-]+)"[^>]*\bdata-toggle="table"[^>]*>\s*</table', text):
        if tid not in done:
            yield tid, _page_list(page, root)


def _render_table(columns: list[dict], rows: list[dict], options: dict) -> str:
    """A static table with the columns, rows, sort order and row links bootstrap-table would show.

    Cell values are GX's own rendered HTML (icons, tooltips), inserted as GX's
    script would insert them.
    """
    fields = [c["field"] for c in columns]
    sort = options.get("sortName")
    if sort:
        def key(r: dict) -> tuple:
            v = r.get(f"_{sort}_sort", r.get(sort))
            return (v is None, str(type(v)), v if isinstance(v, (int, float)) else str(v))
        rows = sorted(rows, key=key, reverse=str(options.get("sortOrder", "asc")).lower() == "desc")
    link_field = next((f for f in LINK_FIELDS if f in fields), fields[0] if fields else None)
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for f in fields:
            value = str(r.get(f, ""))
            link = r.get("_table_row_link_path")
            if f == link_field and link:
                value = f'<a href="{html.escape(str(link))}">{value}</a>'
            cells.append(f"<td>{value}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"


def _page_list(page: Path, root: Path) -> str:
    """Fallback: one row per page of the site, linked."""
    rows = []
    for p in sorted(root.rglob("*.html")):
        if p == page:
            continue
        rel = os.path.relpath(p, page.parent).replace(os.sep, "/")
        rows.append(f'<tr><td><a href="{html.escape(rel)}">{html.escape(rel)}</a></td></tr>')
    return f"<thead><tr><th>Page</th></tr></thead><tbody>{''.join(rows)}</tbody>"
