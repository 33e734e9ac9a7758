"""A run over one split: checks and plan (:mod:`.preflight`), the lock
(:mod:`.lock`), where clips run (:mod:`.executors`, :mod:`.dask`), records
(:mod:`.records`), progress (:mod:`.progress`) and the run itself
(:mod:`.runner`); :mod:`.dryrun` plans without writing."""
