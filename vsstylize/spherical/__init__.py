"""Spherical (360-degree) images and videos (Ruder et al. 2018 sec. 6 and 8, appendix A.8-A.9).

* :mod:`.projection` — equirectangular <-> cube map with an overlap margin on every face (torch);
* :mod:`.filters` — the VapourSynth filters :func:`equirect_to_cube` / :func:`cube_to_equirect`;
* :mod:`.borders` — border priors (prior image + mask) of cube faces, usable by any method;
* :mod:`.optim` — the faces of one frame stylized in order by the optimization method, border priors as
  temporal-loss terms;
* :mod:`.network` — the same with the prior-image network, the border prior as its prior input (fine-tuned on
  border samples: :mod:`vsstylize.train.border_data`).

``stylize(clip, style, projection="equirect")`` (:mod:`vsstylize.methods.spherical`) runs them on a clip.
"""
