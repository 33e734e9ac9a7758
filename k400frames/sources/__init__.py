"""Where clips come from: the ``<source>/<class>/<clip>`` tree (:mod:`.tree`),
Kinetics annotation CSVs (:mod:`.kinetics`) and segments CSVs (:mod:`.segments`)."""
