"""The command line, the last stage of the pipeline: ``vsstylize run|demo|script|download|train|bench``.

* :mod:`.main` — the ``vsstylize`` command, dispatching to its sub-commands (training and benchmark ones lazily);
* :mod:`.run` — ``vsstylize run`` and ``demo``: their parsers, the graph of a run, the render;
* :mod:`.checks` — the inputs of a run checked before anything is loaded;
* :mod:`.default_method` — the method and shipped network picked when ``--method`` is left out;
* :mod:`.estimate` — the first frames probed for the expected time per frame;
* :mod:`.distributed` — independent units of a run rendered on a Ray cluster (``--ray``);
* :mod:`.download` — ``vsstylize download``: the weights a run can use, fetched or converted and installed;
* :mod:`.helptext` — the help texts and the method table.

This package imports nothing at import time, so ``python -m vsstylize download`` runs without VapourSynth.
"""
