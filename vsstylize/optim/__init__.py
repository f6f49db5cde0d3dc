"""Optimization: the loss network and the per-frame optimization of Gatys et al. / Ruder et al.

* :mod:`.vgg` — the VGG loss network (:class:`~vsstylize.optim.vgg.LossNetwork`) and its weights;
* :mod:`.losses` — content, style, temporal and total-variation losses (Ruder et al. eq. 1-8);
* :mod:`.optimizer` — one frame's image optimization (L-BFGS or Adam), its settings and initializations;
* :mod:`.lbfgs` — the device-resident L-BFGS;
* :mod:`.passes` — the multi-pass algorithm over a shot (Ruder et al. 2018 sec. 4.4,
  :func:`~vsstylize.optim.passes.multipass_shot`).

Imports media and motion (:mod:`vsstylize.opticalflow`) only, never networks or methods (``tests/test_layout.py``).
"""
