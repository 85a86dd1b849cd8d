"""The analysis layer: pure functions from windowed sums (pandas) to costs, idle, savings."""
