"""The owner's and the arbiter's science: the interpretable watermark (DESIGN.md §7).

Read bottom-up: ``segments`` (how a trigger is cut into n segments, which masked copies are queried), ``keys``
(the owner's secret: bits, triggers, canonical bytes), ``explain`` (ridge attributions and extraction),
``embedding`` (fine-tuning the bits in), ``stats`` (the ownership test) and ``report`` (evidence reports);
``errors`` holds ``WatermarkError``. Beside them, the helpers the tools need to have something to watermark:
``models``, ``data``, ``training``. Import the module you need (``from verifier.watermark import keys``);
this package re-exports nothing. Everything here imports torch; the buyer's integrity checks
(``verifier.integrity``) never do.
"""
