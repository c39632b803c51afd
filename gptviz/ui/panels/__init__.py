"""Every panel declares itself (class attributes and three methods); the main window builds its docks,
View and Export menus, help tooltips, visibility wiring and requests from PANELS alone.

    attr                 the window's attribute for the panel (window.norms)
    title                dock title, help entry (help_texts.HELP[title]) and Export submenu
    dock, area, place    dock object name (window.d_<dock>, or dock_attr), "left"/"right"/"top", and where it
                         goes: ("split", other dock) below it, ("tab", other dock) in its tab group, None first
    wants(state)         the views.View it needs for a ui.state.ViewState (None: nothing to compute)
    show_result(r, st)   draw one frozen result (kept as panel.result)
    numbers()            (header, rows, comment lines) of what it shows, for CSV export
"""
from .architecture import ArchitecturePanel
from .attention import AttentionPanel
from .attribution import AttributionPanel
from .compare import ComparePanel
from .geometry import GeometryPanel
from .head_stats import HeadStatsPanel
from .heads import HeadsPanel
from .logit_lens import LogitLensPanel
from .next_token import NextTokenPanel
from .norms import NormsPanel
from .patching import PatchingPanel
from .residual import ResidualPanel
from .surprisal import SurprisalPanel
from .tokens import TokensPanel

CENTRAL = AttentionPanel
# dock order: each dock's place refers only to docks before it
PANELS = (TokensPanel, NormsPanel, LogitLensPanel, GeometryPanel, ResidualPanel, ArchitecturePanel, NextTokenPanel,
          HeadsPanel, HeadStatsPanel, ComparePanel,
          AttributionPanel, SurprisalPanel,   # tabbed with Next token last: a split of a tabbed dock misplaces it
          PatchingPanel)
