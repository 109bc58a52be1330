"""Data Docs views (stratify.validate.data_docs.PageView, IndexPageView): GX's pages, each template compiled once per process."""

from __future__ import annotations

import jinja2
import pytest
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

from stratify.validate import data_docs as datadocs


def _compilations(monkeypatch) -> list[str]:
    seen: list[str] = []
    original = jinja2.Environment.compile

    def compile(self, source, name=None, filename=None, *args, **kwargs):
        seen.append(name)
        return original(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    return seen


def test_a_template_is_compiled_once_for_every_environment_sharing_the_cache(monkeypatch):
    cache = datadocs.SharedTemplateCode()
    sources = {"t.j2": "{{ x }}!"}
    envs = [jinja2.Environment(loader=jinja2.DictLoader(sources), bytecode_cache=cache) for _ in range(3)]
    seen = _compilations(monkeypatch)
    assert [e.get_template("t.j2").render(x=i) for i, e in enumerate(envs)] == ["0!", "1!", "2!"]
    assert seen == ["t.j2"]
    sources["t.j2"] = "{{ x }}?"  # a changed template is compiled anew, never served stale
    fresh = jinja2.Environment(loader=jinja2.DictLoader(sources), bytecode_cache=cache)
    assert fresh.get_template("t.j2").render(x=3) == "3?" and seen == ["t.j2", "t.j2"]


@pytest.mark.parametrize("ours, gx", [(datadocs.PageView, DefaultJinjaPageView),
                                       (datadocs.IndexPageView, DefaultJinjaIndexPageView)])
def test_the_views_are_gx_views_sharing_compiled_templates(ours, gx):
    assert issubclass(ours, gx) and ours._template == gx._template
    a, b = ours(), ours()
    assert a.env.bytecode_cache is b.env.bytecode_cache is datadocs.TEMPLATE_CODE
    assert gx().env.bytecode_cache is None  # GX's own views are left as they are


def test_the_site_uses_these_views_for_every_section_and_the_index():
    views = datadocs.site_views()
    assert views["site_index_builder"]["view"] == {"module_name": "stratify.validate.data_docs", "class_name": "IndexPageView"}
    assert {s: v["view"]["class_name"] for s, v in views["site_section_builders"].items()} == {
        "expectations": "PageView", "validations": "PageView", "profiling": "PageView"}


def test_a_page_renders_as_gx_renders_it():
    import re

    import great_expectations as gx
    from great_expectations.render.renderer import ExpectationSuitePageRenderer

    suite = gx.ExpectationSuite(name="s", expectations=[
        gx.expectations.ExpectColumnValuesToNotBeNull(column="person_id"),
        gx.expectations.ExpectColumnValuesToMatchRegex(column="person_id", regex="^[0-9a-f]{64}$"),
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=1)])

    def page(view) -> str:  # GX stamps pages with the time and random element ids
        text = view.render(ExpectationSuitePageRenderer().render(suite))  # rendering consumes the document
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{8}T\d{6}\.\d+Z", "", text)

    theirs = page(DefaultJinjaPageView())
    assert "person_id" in theirs
    assert page(datadocs.PageView()) == theirs and page(datadocs.PageView()) == theirs  # compiled, then from the cache
