"""The models' framework-neutral face, over both framework packages: ``dispatch`` (which package builds a
framework's models and which backend module serves a runtime: the one place that chooses by name) and
``transfer`` (weights between a PyTorch model and its Keras twin, by layer name). ``cnnbench.registry``
looks models up on top of them."""
