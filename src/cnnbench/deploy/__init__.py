"""Deployment runtimes: a zoo's model exported with its ecosystem's own exporter and run in ONNX Runtime,
OpenVINO or LiteRT (docs/deploy.md). ``export`` writes the files and reads their graphs; ``backend``
serves the export runtimes to the worker (the backend contract, ``cnnbench.core.backend.Backend``)."""
