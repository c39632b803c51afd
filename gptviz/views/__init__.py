"""Qt-free views: each is a request type (the parameters it depends on), a compute function over a trace
and a frozen numpy result; views.scheduler decides what is computed when."""
from .attention import Attention, AttentionWindow, HeadStats, Overview
from .base import Context, Prompt, Result, View
from .compare import Compare
from .geometry import Geometry
from .prompt_views import Architecture, ModelPass, NextToken, Norms, Tokens
from .stream import Lens, Residual

__all__ = ["Architecture", "Attention", "AttentionWindow", "Compare", "Context", "Geometry", "HeadStats", "Lens", "ModelPass", "NextToken",
           "Norms", "Overview", "Prompt", "Residual", "Result", "Tokens", "View"]
