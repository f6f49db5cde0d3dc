"""vsstylize's evaluation: the papers' measurements, benchmark runs, reports and plots.

Not part of the runtime (``vsstylize`` never imports it; ``pip install 'vsstylize[bench]'`` adds what the plots
need). Ground-truth sequences come from :mod:`vsstylize.train.sequences`; the photos they are drawn from from
:mod:`.sources`.

* :mod:`.metrics` — temporal, warping and long-term error, border contrast, E_gradient, relative losses;
* :mod:`.monitor` — peak memory and wall time of a run;
* :mod:`.runner` — stylization settings run over sequences and clips, the papers' baselines;
* :mod:`.config`, :mod:`.measure`, :mod:`.markdown`, :mod:`.plots`, :mod:`.machine`, :mod:`.report` — the
  ``vsstylize bench`` report;
* :mod:`.seams`, :mod:`.spherical_video` — the spherical evaluation (E_gradient regions, a yawing 360 camera).
"""
