"""Media: the first stage of the pipeline, between VapourSynth clips and the tensors of the later stages.

* :mod:`.frames` — VapourSynth frames <-> tensors, and user clips <-> the float formats the filters work in;
* :mod:`.cache` — the on-disk cache of frames and flows (:class:`~vsstylize.media.cache.DiskCache`);
* :mod:`.compact` — compact PNG encodings of frames and flows for the caches;
* :mod:`.shots` — the :func:`~vsstylize.media.shots.scenes` filter (scene cuts, where chains restart);
* :mod:`.encode` — rendering a clip to a video file or a contact sheet; :mod:`.audio` — muxing the source's audio;
* :mod:`.interrupt` — stopping a render cleanly on a signal.

Imports only :mod:`vsstylize.errors`, :mod:`vsstylize.option_errors` and :mod:`vsstylize.resources` from the rest of
the package (``tests/test_layout.py`` holds the stage order).
"""
