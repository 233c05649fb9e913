"""What a person looks at: notebook widgets, step cards, figures, napari, the training monitor.

Importing any module of this package registers the step cards' pictures (U diagram, batch slices, learning-rate and
loss curves; :mod:`.report_figures`) with :mod:`nnunet_explorer.explore.html`, which knows nothing of plotting: a
walkthrough card displayed in a notebook after, say, ``from nnunet_explorer.views.widgets_common import ...``
carries them. matplotlib is imported when the first picture is drawn, not here.
"""
from __future__ import annotations

from ..explore.html import register_figure_provider


def _card_figures(result):  # -> list[str]
    from .report_figures import figures_for

    return figures_for(result)


register_figure_provider(_card_figures)
