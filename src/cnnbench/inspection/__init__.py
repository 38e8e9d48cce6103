"""Looking inside a model: ``profile`` (parameters, MACs/FLOPs by three counters, memory), ``summary``
(the Keras-style layer table per framework), ``diagram`` (the structure diagram, Graphviz) and
``layer_times`` (per-layer times, each framework in its own worker)."""
