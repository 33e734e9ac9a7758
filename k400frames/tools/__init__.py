"""What users do with a split besides extracting it: :mod:`.verify`,
:mod:`.lists`, :mod:`.preview`, :mod:`.annotate`, and the :mod:`.demo`
(with the synthetic clips of :mod:`.synth`)."""
