"""`gptviz train`: the training loop, its data, curricula and auxiliary objectives."""
