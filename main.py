"""Launch gptviz: `python main.py [CHECKPOINT] [--prompt TEXT] [--screenshot PNG]` (same as `gptviz`)."""
from gptviz.cli import entry

if __name__ == "__main__":
    entry()
