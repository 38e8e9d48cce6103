"""The framework-free core: spec table, analytic graph, FLOP and memory arithmetic, statistics,
validation and errors. It imports nothing else of the project and no deep-learning framework."""
