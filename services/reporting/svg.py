"""Matplotlib figures as SVG a page can inline under the API's Content-Security-Policy.

Matplotlib draws (its SVG backend, no Agg, no pyplot: a `Figure` of its own each time);
it is imported on the first chart, not with this module, so a process that never draws
never loads it. Text stays text (`svg.fonttype: none`): it prints sharply and can be
searched. The API's policy allows no inline style (`style-src 'self'`), so each
`style="..."` matplotlib writes becomes the SVG presentation attributes it names, and its
`<style>` element goes. Every id is prefixed with the chart's key (several charts share
one page), `xlink:href` becomes `href`, the root scales to its container (a viewBox, no
fixed size) and reads as one image to a screen reader (`role="img"`, a `<title>` and a
`<desc>`). Matplotlib is not thread-safe: one figure is drawn at a time.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, tostring  # writing only: defusedxml reads

from defusedxml.ElementTree import fromstring

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
PRESENTATION = frozenset(
    {
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linejoin",
        "stroke-linecap", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit",
        "stroke-opacity", "opacity", "clip-rule", "color", "font-family", "font-size",
        "font-style", "font-weight", "font-stretch", "font-variant", "text-anchor",
        "dominant-baseline", "visibility", "display", "letter-spacing", "word-spacing",
    }
)  # fmt: skip
RC: dict[str, Any] = {
    "svg.fonttype": "none",  # text as <text>, not paths
    "svg.hashsalt": "qrt-report",  # the same ids for the same figure (reproducible output)
    "text.parse_math": False,  # a "$" in an agency or team name is a dollar sign
    "font.family": "sans-serif",
    "font.size": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 10.5,
    "hatch.linewidth": 1.2,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_LOCK = threading.Lock()


@cache
def _matplotlib() -> type[Figure]:
    import matplotlib

    settings: Any = matplotlib.rcParams  # typed by key; RC's keys are checked at run time
    settings.update(RC)
    from matplotlib.figure import Figure

    return Figure


def render(
    key: str,
    title: str,
    description: str,
    size: tuple[float, float],
    draw: Callable[[Figure], None],
) -> str:
    """`draw` on a new figure of `size` inches; the figure as inline SVG markup."""
    with _LOCK:
        figure_class = _matplotlib()
        figure = figure_class(figsize=size, layout="constrained")
        draw(figure)
        out = io.StringIO()
        figure.savefig(
            out, format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )  # fmt: skip
    return inline_svg(out.getvalue(), key, title, description)


def _styles_to_attributes(element: Element) -> None:
    style = element.attrib.pop("style", None)
    if not style:
        return
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if name in PRESENTATION and value and name not in element.attrib:
            element.set(name, value)


def _prefix_ids(element: Element, prefix: str) -> None:
    for name, value in list(element.attrib.items()):
        if name == "id":
            element.set(name, prefix + value)
        elif name in (XLINK_HREF, "href"):
            del element.attrib[name]
            element.set("href", "#" + prefix + value[1:] if value.startswith("#") else value)
        elif "url(#" in value:
            element.set(name, value.replace("url(#", f"url(#{prefix}"))


def inline_svg(svg: str, key: str, title: str, description: str) -> str:
    """Matplotlib's SVG document as markup for an HTML page (see the module's note)."""
    root = fromstring(svg[svg.index("<svg") :])
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == f"{{{SVG_NS}}}style":
                parent.remove(child)
    prefix = f"{key}-"
    for element in root.iter():
        _styles_to_attributes(element)
        _prefix_ids(element, prefix)
    for name in ("width", "height"):
        root.attrib.pop(name, None)
    root.set("stroke-linejoin", "round")  # what matplotlib's <style> said for every element
    root.set("stroke-linecap", "butt")
    root.set("id", f"{key}-chart")
    root.set("class", "chart")
    root.set("role", "img")
    root.set("aria-labelledby", f"{key}-title {key}-desc")
    root.set("preserveAspectRatio", "xMidYMid meet")
    said_title = Element(f"{{{SVG_NS}}}title", {"id": f"{key}-title"})
    said_title.text = title
    said_description = Element(f"{{{SVG_NS}}}desc", {"id": f"{key}-desc"})
    said_description.text = description
    root.insert(0, said_description)
    root.insert(0, said_title)
    for element in root.iter():  # every element is SVG's: written without a prefix
        element.tag = element.tag.rpartition("}")[2]
    root.set("xmlns", SVG_NS)
    return tostring(root, encoding="unicode")


def empty_figure_note(figure: Figure, title: str, note: str) -> None:
    """A chart with nothing to draw: its title and why there is nothing."""
    figure.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    axes = figure.subplots()
    axes.set_axis_off()
    axes.text(0.5, 0.5, note, ha="center", va="center", transform=axes.transAxes)
