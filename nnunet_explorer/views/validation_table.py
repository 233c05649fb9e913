"""A sortable per-case validation table for notebooks; each row's button opens that case alone in napari.

    from nnunet_explorer.views.validation_table import ValidationTable
    ValidationTable(".../fold_0/validation_raw")          # displays itself in a notebook cell

Columns: case, mean Dice, per class the Dice, reference / predicted voxel counts and volumes (ml), and flags
(empty reference: with an empty prediction the Dice is undefined and v1's mean skips it, with any false
positive it is 0 and counts; empty prediction: a missed structure). Click a
column header to sort by it (again to reverse); sorting by Dice ascending puts the worst cases first.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from ..language import tr
from ..validation_cases import CaseResult, validation_table


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _sort_key(value: Any) -> tuple:
    # None (undefined Dice) sorts last in either direction's natural reading: put it at the end ascending
    return (value is None, value if value is not None else 0)


class ValidationTable:
    """The table of :func:`nnunet_explorer.validation_cases.validation_table` as ipywidgets.

    Args:
        validation_folder: ``fold_X/validation_raw`` (with ``summary.json``) or a prediction folder.
        gt_folder: where the references are, if not where ``summary.json`` says.
        images_folder: the raw images (default: the raw task's ``imagesTr``).
        opener: ``opener(validation_folder, case_id)`` called by a row's button (default: napari's
            :func:`~nnunet_explorer.views.napari.show.show_case` into one viewer kept by the table).
    """

    def __init__(self, validation_folder: str | os.PathLike, *, gt_folder: str | os.PathLike | None = None,
                 images_folder: str | os.PathLike | None = None,
                 opener: Callable[[str, str], Any] | None = None) -> None:
        import ipywidgets as w

        self.validation_folder = str(validation_folder)
        self.gt_folder, self.images_folder = gt_folder, images_folder
        self.cases: list[CaseResult] = validation_table(validation_folder, gt_folder=gt_folder)
        self.rows = [c.row() for c in self.cases]
        self.columns = list(self.rows[0]) if self.rows else ["case"]
        self.sort_column, self.descending = "case", False
        self.viewer = None
        self.opener = opener or self._open_in_napari
        self.opened: list[str] = []
        self._w = w
        self.grid = w.GridBox(layout=w.Layout(grid_template_columns=f"90px repeat({len(self.columns)}, auto)",
                                              grid_gap="1px 8px"))
        count, folder = len(self.rows), self.validation_folder
        self.widget = w.VBox([w.HTML(tr(f"<b>{count} validation cases</b> of <code>{folder}</code> (click a header "
                                        "to sort)",
                                        f"<code>{folder}</code> 中的 <b>{count} 个验证病例</b>（点击表头排序）")),
                              self.grid])
        self._render()

    # -- sorting and rendering
    def sort(self, column: str, descending: bool | None = None) -> None:
        """Sort by ``column`` (a header click: again on the same column reverses)."""
        if column not in self.columns:
            raise ValueError(f"no column {column!r}; columns: {self.columns}")
        if descending is None:
            descending = (not self.descending) if column == self.sort_column else False
        self.sort_column, self.descending = column, descending
        present = [r for r in self.rows if r.get(column) is not None]
        missing = [r for r in self.rows if r.get(column) is None]
        present.sort(key=lambda r: _sort_key(r[column]), reverse=descending)
        self.rows = present + missing
        self._render()

    def _render(self) -> None:
        w = self._w
        cells: list = [w.HTML("")]
        for column in self.columns:
            arrow = (" ▼" if self.descending else " ▲") if column == self.sort_column else ""
            button = w.Button(description=column + arrow, layout=w.Layout(width="auto"),
                              tooltip=tr(f"sort by {column}", f"按 {column} 排序"))
            button.on_click(lambda _b, c=column: self.sort(c))
            cells.append(button)
        self.open_buttons = []
        for row in self.rows:
            case = row["case"]
            button = w.Button(description="napari", icon="eye",
                              tooltip=tr(f"open {case} alone in napari", f"在 napari 中单独打开 {case}"),
                              layout=w.Layout(width="85px"))
            button.on_click(lambda _b, case=row["case"]: self.open(case))
            self.open_buttons.append(button)
            cells.append(button)
            style = "color:#b00" if row.get("flags") else ""
            cells += [w.HTML(f"<span style='{style}'>{_fmt(row.get(c))}</span>") for c in self.columns]
        self.grid.children = cells

    # -- opening a case
    def open(self, case_id: str) -> Any:
        self.opened.append(case_id)
        return self.opener(self.validation_folder, case_id)

    def _open_in_napari(self, folder: str, case_id: str) -> Any:
        from .napari.show import show_case

        self.viewer = show_case(folder, case_id, self.viewer, gt_folder=self.gt_folder,
                                images_folder=self.images_folder)
        return self.viewer

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
