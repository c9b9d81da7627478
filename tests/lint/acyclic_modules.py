"""An import-linter contract: no cycle of imports between the modules of the packages it
names, at any depth, lazy (function-level) imports included. A cycle hidden behind an
import inside a function is a cycle all the same."""

from __future__ import annotations

import sys

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def cycles(graph: grimp.ImportGraph, packages: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    inside = sorted(m for m in graph.modules if m.split(".")[0] in packages)
    imports = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i.split(".")[0] in packages}
        for m in inside
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(module: str) -> None:
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for other in imports[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in inside:
        if module not in index:
            visit(module)
    return found


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        found = cycles(graph, set(self.packages))  # type: ignore[arg-type]
        return ContractCheck(kept=not found, metadata={"cycles": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for component in check.metadata["cycles"]:
            output.print_error(f"An import cycle between {len(component)} modules:")
            for module in component:
                output.indent_cursor()
                output.print_error(module)
            output.new_line()
