"""Training LeNet-5 on real handwritten digits: ``digits`` (scikit-learn's digits as 28x28 images),
``loop`` (the training loop on a backend's one training step, and a time-to-accuracy round for the
harness) and ``cli`` (``cnnbench train``)."""
